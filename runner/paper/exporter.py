"""The Prometheus ``/metrics`` endpoint of a paper session (``paper.metrics_port``; prometheus_client):
equity, exposure, drift, bars processed, the lag of the last bar behind the clock, and errors."""

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class Exporter:
    """Gauges and counters labelled by session, served on ``host:port``."""

    def __init__(self, session: str, port: int, host: str = "127.0.0.1"):
        self.registry = CollectorRegistry()
        labels = ["session"]
        self.equity = Gauge(
            "perplab_paper_equity", "Equity at the last bar's close (USDT)", labels, registry=self.registry
        )
        self.exposure = Gauge(
            "perplab_paper_exposure", "Gross notional over equity at the last close", labels, registry=self.registry
        )
        self.drift = Gauge(
            "perplab_paper_drift", "Drift from the backtest", [*labels, "measure"], registry=self.registry
        )
        self.bars = Counter("perplab_paper_bars", "Bars processed", labels, registry=self.registry)
        self.errors = Counter("perplab_paper_errors", "Errors and failed alerts", labels, registry=self.registry)
        self.last_close = Gauge(
            "perplab_paper_last_bar_close_seconds",
            "Close time of the last bar (Unix s)",
            labels,
            registry=self.registry,
        )
        self.lag = Gauge(
            "perplab_paper_last_bar_lag_seconds",
            "Seconds since the last processed bar closed (at scrape time)",
            labels,
            registry=self.registry,
        )
        self.lag.labels(session).set_function(lambda: max(0.0, time.time() - self._close))
        self.errors.labels(session)  # 0 until the first error: a series from the start
        self.bars.labels(session)
        self._close = time.time()
        self.session = session
        self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)

    def bar(self, equity: float, exposure: float, close_ms: int) -> None:
        s = self.session
        self.equity.labels(s).set(equity)
        self.exposure.labels(s).set(exposure)
        self.bars.labels(s).inc()
        self._close = close_ms / 1000.0
        self.last_close.labels(s).set(self._close)

    def set_drift(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.drift.labels(self.session, name).set(value)

    def error(self) -> None:
        self.errors.labels(self.session).inc()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
