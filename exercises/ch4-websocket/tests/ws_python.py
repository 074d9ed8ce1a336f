#!/usr/bin/env python3
"""ws_python.py -- ws_conn checked by Python's websockets library, a client
written by other people from the same RFC.

usage: ws_python.py PORT LIMITED_PORT
  PORT          a ws_conn with the default limits
  LIMITED_PORT  a ws_conn started with -m 1M (for the 1009 check)

Prints one line per check and "N passed, N failed"; exits 1 if any failed.
"""
import asyncio
import os
import sys

import websockets
from websockets.exceptions import ConnectionClosed

PORT = int(sys.argv[1])
LIMITED_PORT = int(sys.argv[2])
URL = "ws://127.0.0.1:%d/" % PORT
# A sixteenth of a mebibyte over the chunk ws_conn sends md, and 1 MiB.
SIZES = [0, 1, 125, 126, 65535, 65536, 65537, 300000, 1 << 20]


def connect(url=URL, **kw):
    # No compression: ws_conn negotiates no extension anyway, and this
    # keeps the frames as sent. max_size None: the test decides.
    return websockets.connect(url, compression=None, max_size=None, **kw)


async def check_text_and_binary():
    async with connect() as ws:
        for n in SIZES:
            text = ("κόσμε-" * (n // 11 + 1))[:n]
            await ws.send(text)
            got = await ws.recv()
            assert got == text, "text of %d characters came back wrong" % n
            data = os.urandom(n)
            await ws.send(data)
            got = await ws.recv()
            assert got == data, "%d binary bytes came back wrong" % n


async def check_fragmented():
    async with connect() as ws:
        # websockets sends an iterable as one fragmented message.
        await ws.send(["frag", "men", "ted ", "κόσμε"])
        assert await ws.recv() == "fragmented κόσμε"
        await ws.send([b"\x00\x01", b"", b"\xff" * 70000])
        assert await ws.recv() == b"\x00\x01" + b"\xff" * 70000


async def check_ping():
    async with connect() as ws:
        for payload in (b"", b"are you there", b"x" * 125):
            waiter = await ws.ping(payload)
            await asyncio.wait_for(waiter, 5)
        await ws.send("after the pings")
        assert await ws.recv() == "after the pings"


async def check_close_codes():
    for code, reason in ((1000, ""), (1001, "going"), (4321, "app code")):
        ws = await connect()
        await ws.send("bye")
        assert await ws.recv() == "bye"
        await ws.close(code, reason)
        assert ws.close_code == code, "closed %d, server said %s" % (
            code, ws.close_code)


async def check_too_big():
    ws = await connect("ws://127.0.0.1:%d/" % LIMITED_PORT)
    await ws.send(b"y" * 1000)
    assert await ws.recv() == b"y" * 1000
    await ws.send(b"y" * (2 << 20))
    try:
        await asyncio.wait_for(ws.recv(), 10)
        raise AssertionError("a 2 MiB message passed a 1 MiB limit")
    except ConnectionClosed:
        pass
    assert ws.close_code == 1009, "close code %s, not 1009" % ws.close_code


async def one_client(i, msgs):
    async with connect() as ws:
        for j in range(msgs):
            m = "client %d message %d %s" % (i, j, "z" * (j * 37 % 3000))
            await ws.send(m)
            got = await ws.recv()
            assert got == m, "client %d: echo %d wrong" % (i, j)


async def check_100_clients():
    await asyncio.gather(*(one_client(i, 20) for i in range(100)))


CHECKS = [
    ("text and binary, 0 bytes to 1 MiB", check_text_and_binary),
    ("fragmented sends", check_fragmented),
    ("ping answered with pong", check_ping),
    ("close codes echoed", check_close_codes),
    ("1009 above -m", check_too_big),
    ("100 concurrent clients", check_100_clients),
]


async def main():
    passed = failed = 0
    for name, check in CHECKS:
        try:
            await asyncio.wait_for(check(), 60)
            print("ok      %s" % name)
            passed += 1
        except Exception as e:  # report every check, not just the first
            print("FAILED  %s: %s: %s" % (name, type(e).__name__, e))
            failed += 1
    print("python websockets %s: %d passed, %d failed" % (
        websockets.__version__, passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
