"""Headless Chromium driven over the Chrome DevTools Protocol, for checking pages as a reader sees them.

`open_page(path)` starts Debian's `chromium` (run as root here, hence `--no-sandbox`), loads one local file
and records what the page did: exceptions and error logs, and every request other than the file itself.
`Page.evaluate` runs JavaScript and returns its value, `Page.screenshot` returns a PNG of the whole page,
and `png_pixels` decodes one, so a test can look at what was drawn. Every step has a timeout and the browser
is always killed.

Run as a script to save a screenshot, e.g. of a preview page for the docs:
`python -m tests.chromium preview.html docs/preview.png --width 1400`; `--element '#event-1'` keeps only that
element, `--height N` only the top N pixels.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

STEP_TIMEOUT = 20.0
START_TIMEOUT = 30.0
BINARIES = ("chromium", "chromium-browser", "google-chrome")


class BrowserError(Exception):
    pass


def find_chromium() -> str | None:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """One tab, attached over its DevTools websocket."""

    socket: aiohttp.ClientWebSocketResponse
    url: str = ""
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _waiting: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _loaded: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        answer = self._waiting[call_id] = asyncio.get_running_loop().create_future()
        await self.socket.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        try:
            reply = await asyncio.wait_for(answer, STEP_TIMEOUT)
        finally:
            self._waiting.pop(call_id, None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def read(self) -> None:
        """Dispatch answers to their callers and record the events a test asks about."""
        async for frame in self.socket:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            if "id" in message:
                waiter = self._waiting.get(message["id"])
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)
                continue
            self._event(message.get("method", ""), message.get("params", {}))
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(BrowserError("the browser closed the connection"))

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(f"console.{params['type']}: {[arg.get('value') for arg in params.get('args', [])]}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".rstrip())
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if url != self.url:
                self.requests.append(url)
        elif method == "Page.loadEventFired":
            self._loaded.set()

    async def load(self, url: str, width: int) -> None:
        self.url = url
        for domain in ("Runtime", "Log", "Network", "Page"):
            await self.send(f"{domain}.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False
        )
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(self._loaded.wait(), STEP_TIMEOUT)

    async def evaluate(self, expression: str) -> Any:
        reply = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise BrowserError(f"the expression threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def screenshot(self, box: dict[str, float] | None = None) -> bytes:
        """A PNG of the box (page coordinates: x, y, width, height), or of the whole page, not only the window."""
        if box is None:
            size = (await self.send("Page.getLayoutMetrics"))["cssContentSize"]
            box = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
        clip = {**box, "scale": 1}
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
        return base64.b64decode(shot["data"])


@contextlib.asynccontextmanager
async def open_page(path: Path, width: int = 1400) -> AsyncIterator[Page]:
    """Chromium showing the file at `path`; killed, with its profile removed, however the block ends."""
    binary = find_chromium()
    if binary is None:
        raise BrowserError("no chromium on PATH: apt-get install chromium")
    profile = tempfile.mkdtemp(prefix="notifier-chromium-")
    process = subprocess.Popen(
        [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    reader: asyncio.Task[None] | None = None
    try:
        port = await _devtools_port(Path(profile), process)
        timeout = aiohttp.ClientTimeout(total=STEP_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            socket_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
            async with session.ws_connect(
                socket_url, max_msg_size=0, timeout=aiohttp.ClientWSTimeout(ws_close=5)
            ) as ws:
                page = Page(ws)
                reader = asyncio.create_task(page.read())
                await page.load(path.resolve().as_uri(), width)
                yield page
    finally:
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        _kill(process)
        shutil.rmtree(profile, ignore_errors=True)


async def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    """Chromium writes the port it chose to `DevToolsActivePort` in its profile once it listens."""
    marker = profile / "DevToolsActivePort"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while loop.time() < deadline:
        if process.poll() is not None:
            raise BrowserError(f"chromium exited with code {process.returncode} before it listened")
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        await asyncio.sleep(0.1)
    raise BrowserError(f"chromium did not open its DevTools port within {START_TIMEOUT:.0f}s")


def _kill(process: subprocess.Popen[bytes]) -> None:
    """The browser and every helper process it started (its own session)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait(timeout=5)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG's header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def png_pixels(png: bytes) -> tuple[int, list[bytes]]:
    """Bytes per pixel (3: RGB, 4: RGBA) and the rows of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    png_size(png)
    position, data, header = 8, b"", b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        chunk = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            data += chunk
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(data)
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
                best = (left, up, corner)[distances.index(min(distances))]
                line[x] = (line[x] + best) & 0xFF
        rows.append(bytes(line))
        previous = line
    return channels, rows


async def _save_screenshot(
    page_path: Path, out: Path, width: int, height: int | None, element: str | None = None
) -> None:
    async with open_page(page_path, width) as page:
        if page.errors or page.requests:
            raise BrowserError(f"the page is not clean: errors {page.errors}, requests {page.requests}")
        box = {"x": 0, "y": 0, "width": width, "height": height} if height else None
        if element is not None:
            box = await _element_box(page, element, height)
        out.write_bytes(await page.screenshot(box))


async def _element_box(page: Page, selector: str, height: int | None) -> dict[str, float]:
    """The page box of the first element `selector` finds (its top `height` pixels when given), so that a picture
    for the docs shows the part worth showing, and stays small."""
    rect = await page.evaluate(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
        " const r = e.getBoundingClientRect();"
        " return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; })()"
    )
    if rect is None:
        raise BrowserError(f"no element matches {selector!r}")
    box: dict[str, float] = rect
    if height:
        box["height"] = min(box["height"], height)
    return box


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="save a screenshot of a local HTML file")
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, help="only the top of the page (or element), this many pixels")
    parser.add_argument("--element", help="only the first element this CSS selector finds, e.g. '#event-1'")
    arguments = parser.parse_args()
    asyncio.run(_save_screenshot(arguments.page, arguments.out, arguments.width, arguments.height, arguments.element))
