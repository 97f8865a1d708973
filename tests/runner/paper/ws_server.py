"""A loopback imitation of Binance's USDT-M combined market stream (``/stream?streams=...``) for kline
messages, driven by the test: it sends the kline messages the test asks for (closed or not, in
Binance's own format), can drop every connection (a disconnect) and counts connections (``/ws``, the
raw base path, answers and closes: what a pre-flight check opens)."""

from __future__ import annotations

import asyncio
import json
import threading
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve


def kline_message(symbol: str, interval: str, open_ms: int, close_ms: int, ohlcv: tuple, closed: bool, now: int) -> str:
    """One ``<symbol>@kline_<interval>`` event as the combined stream wraps it."""
    o, h, low, c, v = (f"{x:.8f}".rstrip("0").rstrip(".") for x in ohlcv)
    k = {
        "t": open_ms,
        "T": close_ms - 1,
        "s": symbol,
        "i": interval,
        "f": 100,
        "L": 200,
        "o": o,
        "c": c,
        "h": h,
        "l": low,
        "v": v,
        "n": 101,
        "x": closed,
        "q": "0",
        "V": "0",
        "Q": "0",
        "B": "0",
    }
    data = {"e": "kline", "E": now, "s": symbol, "k": k}
    return json.dumps({"stream": f"{symbol.lower()}@kline_{interval}", "data": data})


class KlineStream:
    """``ws://127.0.0.1:<port>``; ``send`` reaches every connection subscribed to the message's stream."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.connections: list[tuple[ServerConnection, set[str]]] = []
        self.opened = 0  # subscribed connections (/stream?streams=...)
        self.probes = 0  # other connections, closed at once
        self.paths: list[str] = []
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        started.wait(10)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self._stopped = asyncio.Event()
            async with serve(self._handler, "127.0.0.1", 0) as server:
                self.port = server.sockets[0].getsockname()[1]
                started.set()
                await self._stopped.wait()

        self.loop.run_until_complete(main())

    async def _handler(self, ws: ServerConnection) -> None:
        parts = urlsplit(ws.request.path)
        if parts.path != "/stream":  # the raw base path (/ws): a client checking the server answers
            self.probes += 1
            return
        self.paths.append(ws.request.path)
        streams = set(parse_qs(parts.query).get("streams", [""])[0].split("/"))
        entry = (ws, streams)
        self.connections.append(entry)
        self.opened += 1
        try:
            await ws.wait_closed()
        finally:
            self.connections.remove(entry)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def send(self, message: str) -> int:
        """Send to the subscribed connections; how many got it."""
        stream = json.loads(message)["stream"]

        async def push() -> int:
            n = 0
            for ws, streams in list(self.connections):
                if stream in streams:
                    await ws.send(message)
                    n += 1
            return n

        return asyncio.run_coroutine_threadsafe(push(), self.loop).result(10)

    def drop(self) -> None:
        """Close every connection abnormally (the client sees a disconnect)."""

        async def close() -> None:
            for ws, _ in list(self.connections):
                ws.transport.abort()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(10)

    def __enter__(self) -> KlineStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
