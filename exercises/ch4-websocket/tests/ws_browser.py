#!/usr/bin/env python3
"""ws_browser.py -- load a page in headless Chromium and wait until its
#log element shows what is wanted, reading the DOM over the DevTools
protocol.

usage: ws_browser.py CHROMIUM URL WANT...

Prints the log's HTML (and the state line) once every WANT appears in it,
or after 30 seconds; exits 0 if all appeared, 1 otherwise. Chromium runs
with a profile of its own and is stopped, children included, before the
script exits.

(--dump-dom with --virtual-time-budget is not enough for this page:
virtual time does not wait for WebSocket traffic, so on a busy machine
the DOM can be dumped before the echoes arrive.)
"""
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

TIMEOUT = 30
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--remote-debugging-port=0"]
READ_LOG = ("(document.getElementById('state') || {}).outerHTML + '\\n' + "
            "(document.getElementById('log') || {}).outerHTML")


def devtools_page(profile, deadline):
    """The DevTools WebSocket URL of Chromium's first page."""
    port_file = os.path.join(profile, "DevToolsActivePort")
    while time.time() < deadline:
        try:
            with open(port_file) as f:
                port = int(f.read().split()[0])
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
                pages = [t for t in json.load(r) if t["type"] == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.1)
    raise TimeoutError("Chromium did not open its DevTools port")


async def watch(ws_url, url, want, deadline):
    async with websockets.connect(ws_url, max_size=None) as cdp:
        ids = iter(range(1, 1 << 30))

        async def call(method, **params):
            n = next(ids)
            await cdp.send(json.dumps({"id": n, "method": method,
                                       "params": params}))
            while True:
                reply = json.loads(await cdp.recv())
                if reply.get("id") == n:
                    return reply.get("result", {})

        await call("Page.navigate", url=url)
        html = ""
        while time.time() < deadline:
            r = await call("Runtime.evaluate", expression=READ_LOG,
                           returnByValue=True)
            html = r.get("result", {}).get("value", "") or ""
            if all(w in html for w in want):
                return html, True
            await asyncio.sleep(0.1)
        return html, False


def main():
    chromium, url, want = sys.argv[1], sys.argv[2], sys.argv[3:]
    deadline = time.time() + TIMEOUT
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.Popen(
            [chromium] + FLAGS + ["--user-data-dir=" + profile,
                                  "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            ws_url = devtools_page(profile, deadline)
            html, ok = asyncio.run(watch(ws_url, url, want, deadline))
        finally:
            browser.terminate()
            try:
                browser.wait(10)
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait()
    print(html)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
