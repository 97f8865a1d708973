"""The paper trader: a promoted model's account advanced bar by bar by the backtest's own kernel
(``kernels.live.advance``), its state committed per bar, its events logged, its run tracked."""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kernels import enums as E
from kernels.book import empty_trades
from kernels.live import TRADES_PER_ASSET_BAR, advance, new_live_state
from runner.artifacts import trade_rows
from runner.backtest import trades_frame
from runner.data.panel import MarketPanel
from runner.paper.events import EventLog
from runner.paper.state import Account, StateStore
from runner.spec import RunSpec
from runner.strategy.compile import compile_strategy

FLUSH_S = 5.0  # per-bar metrics reach MLflow at most this often (and when the session ends)


def exposure(pos: np.ndarray, close: np.ndarray, equity: float) -> float:
    """Gross notional at the close over equity."""
    notional = float(np.abs(pos[:, E.S_QTY] * close).sum())
    return notional / equity if equity > 0 else 0.0


@dataclass
class BarResult:
    equity: float
    exposure: float
    trades: list[tuple[int, dict]]
    events: list[tuple[str, dict]]


def bar_events(
    panel: MarketPanel, t: int, before: Account, pos: np.ndarray, acc: np.ndarray, trades: list[tuple[int, dict]]
) -> list[tuple[str, dict]]:
    """What bar ``t`` did, read from the kernel's state before and after it: funding paid, fills,
    closed trades (liquidations and breaker halts named), and the orders decided for the next bar."""
    symbols = panel.symbols
    events: list[tuple[str, dict]] = []
    paid = float(acc[E.A_FUNDING] - before.acc[E.A_FUNDING])
    rates = {s: float(panel.funding[t, a]) for a, s in enumerate(symbols) if panel.funding[t, a] != 0.0}
    if rates and any(before.pos[a, E.S_QTY] != 0.0 for a in range(len(symbols))):
        events.append(("funding", {"rates": rates, "paid": paid}))
    for _, tr in trades:
        kind = {"liquidation": "liquidation", "risk_halt": "breaker_exit"}.get(tr["exit_reason"], "exit")
        events.append((kind, {k: tr[k] for k in ("symbol", "side", "qty", "exit_price", "net_pnl", "exit_reason")}))
    for a, s in enumerate(symbols):
        if pos[a, E.S_QTY] != 0.0 and int(pos[a, E.S_ENTRY_BAR]) == t:
            events.append(("fill", {"symbol": s, "qty": float(pos[a, E.S_QTY]), "price": float(pos[a, E.S_ENTRY])}))
    if acc[E.A_HALTS] > before.acc[E.A_HALTS]:
        events.append(("breaker", {"halts": int(acc[E.A_HALTS]), "equity": float(acc[E.A_WALLET])}))
    return events


class Trader:
    """One session: ``model``'s single combination on ``spec``, state in ``store`` under ``session``."""

    def __init__(self, spec: RunSpec, session: str, store: StateStore, log: EventLog, tracked=None):
        self.spec, self.session, self.store, self.log, self.tracked = spec, session, store, log, tracked
        self.pending_metrics: list[tuple[int, int, float, float]] = []
        self.pending_drift: list[tuple[int, int, dict[str, float]]] = []
        self.last_flush = time.monotonic()
        self.notifier = None  # runner.paper.alerts.Notifier
        self.exporter = None  # runner.paper.exporter.Exporter
        self.expect = None  # runner.paper.drift.Expectation
        self.max_drift = float("inf")
        self.rets = [t["ret"] for t in store.trades(session) if t["ret"] is not None]
        self.drift: dict[str, float] = {}

    def start(self, first_bar: int, panel: MarketPanel) -> Account:
        """A fresh flat account trading from ``first_bar``."""
        day = int(panel.days[first_bar]) if first_bar < panel.n_bars else int(panel.days[-1])
        pos, acc, side, active, reason, rs = new_live_state(self.spec.initial_capital, panel.n_assets, day)
        before = int(panel.times[first_bar - 1]) if 0 < first_bar <= panel.n_bars else -1  # the bar before the first
        return Account(pos, acc, side, active, reason, rs, self.spec.initial_capital, first_bar, first_bar - 1, before)

    def step(self, panel: MarketPanel, mkt, prog, params: np.ndarray, account: Account) -> BarResult:
        """Advance ``account`` by bar ``account.last_bar + 1`` of ``panel`` (in place)."""
        t = account.last_bar + 1
        before = Account(*(a.copy() for a in account.arrays()), account.prev_equity, account.first_bar, t - 1)
        k0 = int(account.acc[E.A_N_TRADES])
        ring = empty_trades(TRADES_PER_ASSET_BAR * panel.n_assets)
        eq = np.zeros(1)
        equity = advance(0, mkt, prog, params, t, t + 1, *account.arrays(), account.prev_equity, ring, eq)
        k1 = int(account.acc[E.A_N_TRADES])
        if k1 - k0 > len(ring):
            raise RuntimeError(f"bar {t}: {k1 - k0} trades closed, more than the {len(ring)} recorded")
        closed = ring[[k % len(ring) for k in range(k0, k1)]]
        rows = trade_rows(trades_frame(panel, closed)) if k1 > k0 else []  # as the backtest's trades.json
        trades = list(zip(range(k0, k1), rows, strict=True))
        account.prev_equity = float(equity)
        account.last_bar, account.last_time = t, int(panel.times[t])
        events = bar_events(panel, t, before, account.pos, account.acc, trades)
        for a, s in enumerate(panel.symbols):
            if account.active[a]:
                events.append(("order", {"symbol": s, "target_side": int(account.side[a]), "at": "next_open"}))
        return BarResult(float(equity), exposure(account.pos, panel.close[t], float(equity)), trades, events)

    def run(self, panels, account: Account, progress=None, received: dict | None = None) -> Account:
        """Process every new bar of each grown panel; commit each bar. ``received``: when each bar's
        closed kline arrived (``time.perf_counter``), to log the latency to its decision."""
        for panel in panels:
            if panel.n_bars <= account.last_bar + 1:
                continue
            compiled = compile_strategy(self.spec, panel)
            mkt, prog = compiled.market(panel), compiled.program()
            while account.last_bar + 1 < panel.n_bars:
                result = self.step(panel, mkt, prog, compiled.params, account)
                if received and account.last_time in received:
                    ms = (time.perf_counter() - received[account.last_time]) * 1000.0
                    result.events.append(("decided", {"latency_ms": round(ms, 3)}))
                self.store.commit_bar(
                    self.session, account, result.equity, result.exposure, result.trades, result.events
                )
                self.publish()
                self.rets += [tr["ret"] for _, tr in result.trades if tr["ret"] is not None]
                self.pending_metrics.append((account.last_bar, account.last_time, result.equity, result.exposure))
                if self.exporter is not None:
                    self.exporter.bar(result.equity, result.exposure, account.last_time + _step_ms(panel))
                if progress is not None:
                    progress()
                self.flush(force=False)
            self.check_drift(panel, mkt, prog, compiled.params, account)
        self.flush(force=True)
        return account

    def publish(self) -> None:
        """New events to the JSON-lines log, then to the notifier and the exporter's error count."""
        events = self.log.sync(self.store)
        if self.exporter is not None:
            for e in events:
                if e["kind"] in ("error", "alert_failed"):
                    self.exporter.error()
        if self.notifier is not None and events:
            failed = self.notifier.deliver(events)
            for kind, payload in failed:
                last = events[-1]
                self.store.add_event(self.session, last["bar"], self.store.last_time(self.session), kind, payload)
            if failed:
                self.publish()

    def check_drift(self, panel: MarketPanel, mkt, prog, params: np.ndarray, account: Account) -> None:
        """Drift after a batch of bars (``runner.paper.drift``): logged, exported, and an event (alerted)
        when beyond ``max_drift``."""
        from runner.paper.drift import close_to_open_bps, measure

        if self.expect is None or account.last_bar < account.first_bar:
            return
        first, end = account.first_bar, account.last_bar + 1
        fresh = new_live_state(self.spec.initial_capital, panel.n_assets, int(panel.days[first]))
        ring = empty_trades(TRADES_PER_ASSET_BAR * panel.n_assets * (end - first))
        rerun = advance(
            0, mkt, prog, params, first, end, *fresh, self.spec.initial_capital, ring, np.zeros(end - first)
        )
        gap = close_to_open_bps(panel.close[first:end], panel.open[first:end], panel.tradable[first:end])
        self.drift = measure(self.expect, np.array(self.rets), end - first, account.prev_equity, float(rerun), gap)
        self.pending_drift.append((account.last_bar, account.last_time, self.drift))
        self.store.set_drift(self.session, self.drift["drift"])
        if self.exporter is not None:
            self.exporter.set_drift(self.drift)
        if self.drift["drift"] > self.max_drift:
            payload = {k: round(v, 6) for k, v in self.drift.items()} | {"max_drift": self.max_drift}
            self.store.add_event(self.session, account.last_bar, account.last_time, "drift", payload)
            self.publish()

    def flush(self, force: bool) -> None:
        """Per-bar metrics to MLflow (step: the bar's row, timestamp: its open time)."""
        if self.tracked is None or not (self.pending_metrics or self.pending_drift):
            return
        if not force and time.monotonic() - self.last_flush < FLUSH_S:
            return
        from mlflow.entities import Metric

        items = []
        for bar, ms, equity, expo in self.pending_metrics:
            items += [Metric("equity", equity, ms, bar), Metric("exposure", expo, ms, bar)]
        for bar, ms, values in self.pending_drift:
            items += [Metric(k, v, ms, bar) for k, v in values.items()]
        self.pending_drift.clear()
        for i in range(0, len(items), 1000):
            self.tracked.client.log_batch(self.tracked.run_id, metrics=items[i : i + 1000])
        if self.pending_metrics:
            self.store.set_logged(self.session, self.pending_metrics[-1][0])
        self.pending_metrics.clear()
        self.last_flush = time.monotonic()


def _step_ms(panel: MarketPanel) -> int:
    from runner.data.timeframes import timeframe_ms

    return timeframe_ms(panel.timeframe)


def state_path(configured: str | None, tracking_uri: str) -> Path | str:
    """``paper.state`` (a file, or a PostgreSQL URL kept as it is), else ``paper.db`` beside a SQLite
    tracking store, else ``mlruns/paper.db``."""
    from runner import PROJECT_ROOT
    from runner.paper.state import is_postgres

    if configured and is_postgres(configured):
        return str(configured)
    if configured:
        return Path(configured).expanduser()
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri[len("sqlite:///") :]).parent / "paper.db"
    return PROJECT_ROOT / "mlruns" / "paper.db"
