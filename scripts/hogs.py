#!/usr/bin/env python3
"""hogs.py -- what a server holds for clients that send and never read.

Opens CONNS connections to 127.0.0.1:PORT; each writes until the server
stops taking bytes (its socket stays unwritable for a second), and none
ever reads. Then prints the private resident memory (RssAnon in
/proc/PID/status: the heap, not shared memory) of each PID before and
after, and the growth per connection. Kernel socket buffers fill on both
sides too (megabytes a connection on loopback), but they are in no
process's RSS: the figure is the server's own user-space memory. Keep
CONNS in the hundreds: the kernel's socket memory (tcp_mem) runs out
first, and then the writes stop early.

usage: scripts/hogs.py PORT CONNS PID [PID...]
"""
import select
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise SystemExit(f"hogs.py: no RssAnon for pid {pid}")


def fill(socks, chunk):
    """Write on every socket until none took a byte for a second."""
    sent = 0
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 1.0:
        _, writable, _ = select.select([], socks, [], 0.1)
        for s in writable:
            try:
                n = s.send(chunk)
            except BlockingIOError:
                continue
            sent += n
            quiet_since = time.monotonic()
    return sent


def main(argv):
    if len(argv) < 4 or not argv[1].isdigit() or not argv[2].isdigit():
        sys.stderr.write(__doc__.split("\n\n")[-1].strip() + "\n")
        return 2
    port, conns, pids = int(argv[1]), int(argv[2]), argv[3:]
    before = {pid: rss_kib(pid) for pid in pids}
    socks = []
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    sent = fill(socks, bytes(range(256)) * 256)
    print(f"{conns} connections wrote {sent / 2**20:.1f} MiB, read nothing")
    total = 0
    for pid in pids:
        after = rss_kib(pid)
        total += after - before[pid]
        print(f"pid {pid}: RssAnon {before[pid]} KiB -> {after} KiB")
    print(f"growth {total} KiB, {total / conns:.0f} KiB per connection")
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
