"""Live feeds: bars fetched from Binance into a data root as they close (``rest_poll``), or on the
kline websocket's closed-kline messages (``binance_ws``).

Both keep the paper session's bars in a ``runner.data`` store and fetch with its ``update`` (the
HTTP client, retries, request-weight accounting, archive and derived files of the data pipeline):
whatever the trigger, a bar enters the panel only once the exchange's clock says it closed and its
klines, mark-price klines and funding are stored, so the panel is built exactly as a backtest
builds it. A websocket message only says when to fetch: unclosed klines are ignored, and after a
reconnect the fetch fills every bar the connection missed from the REST endpoints.
"""

import asyncio
import json
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
from omegaconf import OmegaConf
from rich.console import Console

from runner import PROJECT_ROOT
from runner.data.panel import DataSpec, MarketPanel, panel_for
from runner.data.settings import StoreSpec, store_spec
from runner.data.timeframes import timeframe_ms
from runner.errors import ConfigError
from runner.paper.feeds import FeedSpec


def store_for(data: DataSpec | None, spec: FeedSpec) -> StoreSpec:
    """The ``runner.data update`` settings of a live feed: its data root and URLs, the model's symbols
    (without ``data``: every stored symbol, for the pre-flight)."""
    cfg = OmegaConf.load(PROJECT_ROOT / "conf" / "datastore.yaml")
    cfg.pop("hydra", None)
    marks = ["1h"] if data is None or data.mark_price or "mark" in (data.liquidation_trigger, data.stop_trigger) else []
    cfg.merge_with(
        {
            "command": "update",
            "symbols": list(data.symbols) if data is not None else None,
            "intervals": [data.source_interval] if data is not None else ["1h"],
            "mark_intervals": marks,
            "funding": data.funding if data is not None else True,
            "data": {"root": spec.data_root},
            "source": {"rest_url": spec.rest_url, "archive_url": spec.archive_url},
        }
    )
    try:
        return store_spec(cfg)
    except ConfigError as exc:
        text = str(exc).replace("data.root=", "feed.data_root=").replace("source.rest_url=", "feed.rest_url=")
        raise ConfigError(text.replace("source.archive_url=", "feed.archive_url=")) from None


def probe_feed(spec: FeedSpec) -> None:
    """The pre-flight of a live feed: its REST endpoint answers ``/fapi/v1/time`` and its websocket
    opens, within seconds and without retries (one line naming the key otherwise)."""
    import httpx

    from runner.redact import redact

    try:
        httpx.get(f"{spec.rest_url.rstrip('/')}/fapi/v1/time", timeout=5.0).raise_for_status()
    except httpx.HTTPError as exc:
        raise ConfigError(f"feed.rest_url={redact(spec.rest_url)}: cannot reach it ({type(exc).__name__})") from None
    if spec.kind == "binance_ws":
        from websockets.sync.client import connect

        try:
            connect(spec.ws_url.rstrip("/") + "/ws", open_timeout=5.0).close()  # the raw stream base path
        except (OSError, TimeoutError, Exception) as exc:  # noqa: BLE001 - any failure to open is the same line
            raise ConfigError(f"feed.ws_url={redact(spec.ws_url)}: cannot open it ({type(exc).__name__})") from None


class StoreFeed(ABC):
    """The bars a ``runner.data`` store holds from the model's first bar, grown by ``update`` each time
    ``wait`` returns; a bar is released once the exchange's clock passed its close."""

    kind = "store"

    def __init__(self, data: DataSpec, spec: FeedSpec):
        from runner.data.derive import Merges
        from runner.data.source.client import HttpClient

        self.spec = spec
        self.store = store_for(data, spec)
        self.data = replace(data, root=self.store.root)
        self.step = timeframe_ms(data.timeframe)
        self.http = HttpClient(self.store.client, credentials=self.store.credentials)
        self.merges = Merges()  # each bar's update merges and renders only what it brought
        self.notes: list[tuple[str, dict]] = []  # events for the trader's log (reconnects, fetches)
        self.server_now = self.update()
        self.full = self.panel()

    @property
    def warnings(self) -> list[str]:
        return []

    def update(self) -> int:
        """Fetch every stored series up to the exchange's last closed bar; the exchange's clock (ms)."""
        from runner.data.download import fetch_store

        t0 = time.perf_counter()
        out = fetch_store(self.store, Console(quiet=True), http=self.http, merges=self.merges)
        rows = sum(r.rows for r in out.results.values())
        failed = [r.error for r in out.results.values() if r.error]
        if failed:
            self.notes.append(("error", {"error": failed[0][:300]}))
        if rows:
            self.notes.append(("fetch", {"rows": rows, "seconds": round(time.perf_counter() - t0, 3)}))
        return out.server_now

    def panel(self) -> MarketPanel:
        """Bars closed by the exchange's clock (and before ``feed.end``)."""
        end = (self.server_now // self.step) * self.step
        if self.spec.end_ms is not None:
            end = min(end, self.spec.end_ms)
        return panel_for(replace(self.data, end_ms=max(end, self.data.start_ms + self.step)))

    def first_bar(self) -> int:
        """``feed.start``'s row, else the next bar to close (a live session trades from now on)."""
        if self.spec.start_ms is None:
            return self.full.n_bars
        return int(np.searchsorted(self.full.times, self.spec.start_ms))

    def done(self, panel: MarketPanel) -> bool:
        return self.spec.end_ms is not None and int(panel.times[-1]) + self.step >= self.spec.end_ms

    @abstractmethod
    def wait(self) -> None:
        """Block until fetching may bring a new bar."""

    def panels(self, after: int) -> Iterator[MarketPanel]:
        yield self.full
        while not self.done(self.full):
            self.wait()
            self.server_now = self.update()
            grown = self.panel()
            if grown.n_bars > self.full.n_bars:
                self.full = grown
                yield grown

    def close(self) -> None:
        self.http.close()


class RestPollFeed(StoreFeed):
    """Polls the REST endpoints every ``feed.poll_s`` seconds."""

    kind = "rest_poll"

    def wait(self) -> None:
        time.sleep(self.spec.poll_s)


class BinanceWsFeed(StoreFeed):
    """Fetches when the kline stream reports a closed kline (``"x": true``) newer than the panel's
    last bar, or after a reconnect (which may have missed some); a thread keeps the connection,
    reconnecting with exponential back-off."""

    kind = "binance_ws"

    def __init__(self, data: DataSpec, spec: FeedSpec):
        super().__init__(data, spec)
        streams = "/".join(f"{s.lower()}@kline_{data.timeframe}" for s in data.symbols)
        self.url = f"{spec.ws_url.rstrip('/')}/stream?streams={streams}"
        self.messages: queue.Queue = queue.Queue()
        self.received: dict[int, float] = {}  # bar open (ms) -> when its first closed kline arrived
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._listen()), daemon=True)
        self._thread.start()

    async def _listen(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.client import backoff
        from websockets.exceptions import ConnectionClosed

        delays = {"initial_delay": self.spec.reconnect_s, "min_delay": self.spec.reconnect_s}
        delays["max_delay"], delays["factor"] = self.spec.max_reconnect_s, 2.0
        connected = 0
        async for ws in connect(self.url, open_timeout=10, reconnect_delays=lambda: backoff(**delays)):
            connected += 1
            if connected > 1:
                self.messages.put(("reconnect", connected - 1))
            try:
                while not self._stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                    except TimeoutError:
                        continue
                    self._on_message(raw)
            except ConnectionClosed:
                continue
            if self._stop.is_set():
                await ws.close()
                return

    def _on_message(self, raw) -> None:
        try:
            msg = json.loads(raw)
            k = msg.get("data", msg)["k"]
            closed, opened = bool(k["x"]), int(k["t"])
        except (ValueError, KeyError, TypeError):
            self.messages.put(("bad_message", str(raw)[:200]))
            return
        if closed:
            self.received.setdefault(opened, time.perf_counter())
            self.messages.put(("closed", opened))

    def wait(self) -> None:
        last = int(self.full.times[-1]) if self.full.n_bars else -1
        while True:
            kind, value = self.messages.get()
            if kind == "reconnect":
                self.notes.append(("reconnect", {"reconnects": value}))
                return
            if kind == "bad_message":
                self.notes.append(("error", {"error": f"unreadable stream message: {value}"}))
            elif kind == "closed" and value > last:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        super().close()
