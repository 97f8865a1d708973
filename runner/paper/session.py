"""A paper session end to end: settings (the pre-flight), the model and its checks, the state, the
MLflow run, the feed, the trader, the summary."""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from runner.data.source.binance import iso_ms
from runner.errors import ConfigError
from runner.report import make_console

console = make_console()
SESSION_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@")


def settings(cfg: DictConfig) -> dict:
    """Every check that needs no model: keys, feed, tracking store, PostgreSQL, state database."""
    _quiet()
    from runner.config import tracking_spec
    from runner.paper.feeds import feed_spec
    from runner.paper.state import check_state, is_postgres
    from runner.paper.trader import state_path
    from runner.promote.active_configs import postgres_url, probe
    from runner.tracking import check_store

    strategy = OmegaConf.select(cfg, "strategy.name")
    if not isinstance(strategy, str) or not strategy or not set(strategy) <= SESSION_CHARS:
        raise ConfigError(f"strategy.name={strategy!r}: must name a promoted strategy, e.g. rsi")
    p = OmegaConf.to_container(cfg.paper, resolve=True)
    alias = p.get("alias")
    if not isinstance(alias, str) or not alias or not set(alias) <= SESSION_CHARS:
        raise ConfigError(f"paper.alias={alias!r}: must be a registry alias such as champion or challenger")
    session = p.get("session") or f"{strategy}@{alias}"
    if not isinstance(session, str) or not set(session) <= SESSION_CHARS:
        raise ConfigError(f"paper.session={session!r}: letters, digits and _-.@ only")
    feed = feed_spec(OmegaConf.to_container(cfg.feed, resolve=True))
    if feed.kind != "replay":
        from runner.paper.live import probe_feed, store_for

        store_for(None, feed)  # a writable runner.data store and valid URLs
        probe_feed(feed)
    tracking = tracking_spec(cfg)
    check_store(tracking.uri)
    url = postgres_url(p.get("postgres_url"))
    probe(url, "paper.postgres_url")
    path = state_path(p.get("state"), tracking.uri)
    check_state(path)
    folder = (state_path(None, tracking.uri) if is_postgres(path) else path).parent  # type: ignore[union-attr]
    events = Path(p["events"]).expanduser() if p.get("events") else folder / "paper-events.jsonl"
    max_drift = p.get("max_drift")
    if isinstance(max_drift, bool) or not isinstance(max_drift, int | float) or max_drift <= 0:
        raise ConfigError(f"paper.max_drift={max_drift!r}: must be a number > 0")
    port = p.get("metrics_port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise ConfigError(f"paper.metrics_port={port!r}: must be a TCP port (1-65535) or null")
    from runner.paper.alerts import alert_spec

    alerts = alert_spec(OmegaConf.to_container(cfg.alerts, resolve=True))
    return {
        "strategy": strategy,
        "alias": alias,
        "session": session,
        "feed": feed,
        "tracking": tracking,
        "postgres_url": url,
        "state": path,
        "events": events,
        "alerts": alerts,
        "max_drift": float(max_drift),
        "metrics": (str(p.get("metrics_host") or "127.0.0.1"), port),
    }


def _model_spec(model):
    """The version's config as a run spec of exactly one combination, on this code and data."""
    from kernels.cache import sources_digest
    from runner.config import validate

    spec = validate(model.cfg)
    if spec.n_combos != 1:
        raise ConfigError(f"paper: {model.uri} has {spec.n_combos} combinations; a traded model has one")
    code = model.tags.get("code_fingerprint")
    if code and code != sources_digest()[:16]:
        raise ConfigError(
            f"paper: {model.uri} was promoted with kernel code {code}; this install's kernels are "
            f"{sources_digest()[:16]} (promote it again on this code)"
        )
    return spec


def run_session(cfg: DictConfig) -> int:
    from runner.data.panel import panel_for
    from runner.paper.events import EventLog
    from runner.paper.source import check_active, check_fingerprints, load_model
    from runner.paper.state import StateStore
    from runner.paper.trader import Trader
    from runner.tracking import client_for

    s = settings(cfg)
    model = load_model(client_for(s["tracking"]), s["strategy"], s["alias"])
    if s["postgres_url"]:
        check_active(model, s["strategy"], s["postgres_url"])
    spec = _model_spec(model)
    with console.status("loading market data"):
        check_fingerprints(model, panel_for(spec.data).fingerprint)
        feed = open_feed(spec.data, s["feed"])
    trader = None
    try:
        store = StateStore(s["state"])
        session = s["session"]
        loaded = store.load(session)
        if loaded is not None and (loaded[0]["model_uri"] != model.uri or loaded[0]["config_digest"] != model.digest):
            raise ConfigError(
                f"paper.session={session}: trades {loaded[0]['model_uri']}, not {model.uri}; "
                "give another paper.session to trade this version"
            )
        trader = Trader(spec, session, store, EventLog(s["events"]))
        if loaded is None:
            account = trader.start(feed.first_bar(), feed.full)
            store.create(session, model.uri, model.digest, list(spec.data.symbols), account)
        else:
            account = loaded[1]
        trader.tracked = _tracked_run(s, model, store, account, feed.full, resumed=loaded is not None)
        _observers(trader, s, model)
        trader.publish()
        _trade(trader, feed, account, s["feed"].kind == "replay")
    finally:
        feed.close()
        for part in (trader.notifier, trader.exporter) if trader is not None else ():
            if part is not None:
                part.close()
    _finish(trader, account, spec)
    console.print(summary_table(store, session), highlight=False)
    return 0


def open_feed(data, spec):
    """The feed of ``spec.kind`` over the model's data settings."""
    from runner.paper.feeds import ReplayFeed

    if spec.kind == "replay":
        return ReplayFeed(data, spec)
    from runner.paper.live import BinanceWsFeed, RestPollFeed

    return (RestPollFeed if spec.kind == "rest_poll" else BinanceWsFeed)(data, spec)


def _quiet() -> None:
    """Third-party request logs stay out of the terminal and Hydra's log (a request line would carry a
    bot token or a mirror's credentials in its URL)."""
    import logging

    from runner.tracking import quiet_libraries

    quiet_libraries()
    for name in ("httpx", "httpcore", "websockets", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _observers(trader, s: dict, model) -> None:
    """Alerts, the Prometheus endpoint and the backtest's expectations for drift."""
    from runner.paper.alerts import Notifier
    from runner.paper.drift import expectation

    trader.notifier = Notifier(s["alerts"]) if s["alerts"].kind != "none" else None
    host, port = s["metrics"]
    if port is not None:
        from runner.paper.exporter import Exporter

        try:
            trader.exporter = Exporter(s["session"], port, host)
        except OSError as exc:
            raise ConfigError(f"paper.metrics_port={port}: cannot listen on {host}:{port} ({exc.strerror})") from None
    slippage = float(OmegaConf.select(model.cfg, "fees.slippage_bps", default=0.0) or 0.0)
    trader.expect = expectation(trader.tracked.client, model.run_id, slippage)
    trader.max_drift = s["max_drift"]


def _bar_time(panel, bar: int) -> int:
    """Bar ``bar``'s open time (ms), also for the bar after the panel's last."""
    from runner.data.timeframes import timeframe_ms

    if bar < panel.n_bars:
        return int(panel.times[max(bar, 0)])
    return int(panel.times[-1]) + (bar - panel.n_bars + 1) * timeframe_ms(panel.timeframe)


def _tracked_run(s: dict, model, store, account, panel, resumed: bool):
    """The session's MLflow run: created with the session, attached again when it resumes; the start
    or resume is an event."""
    from runner.children import KIND_TAG
    from runner.tracking import TrackedRun

    session = s["session"]
    if account.mlflow_run_id:
        tracked = TrackedRun.attach(s["tracking"], account.mlflow_run_id)
    else:
        tags = {KIND_TAG: "paper", "strategy": s["strategy"], "model_uri": model.uri, "alias": s["alias"]}
        tags |= {"model_version": model.version, "session": session, "source_run_id": model.run_id}
        tracked = TrackedRun(s["tracking"], f"paper {session}", tags)
        first = iso_ms(_bar_time(panel, account.first_bar))
        tracked.log_params({"model_uri": model.uri, "alias": s["alias"], "feed": s["feed"].kind, "first_bar": first})
        account.mlflow_run_id = tracked.run_id
        store.set_run(session, tracked.run_id)
    kind = "resume" if resumed else "start"
    payload = {"model_uri": model.uri, "run_id": tracked.run_id, "feed": s["feed"].kind}
    store.add_event(session, account.last_bar, _bar_time(panel, account.last_bar), kind, payload)
    return tracked


def _trade(trader, feed, account, replay: bool) -> None:
    """Every bar the feed brings, with a progress bar; an error or a stop is recorded (the run FAILED
    or KILLED; the state stays at the last committed bar)."""
    store, session, tracked = trader.store, trader.session, trader.tracked
    trader.pending_metrics = store.equity_since(session, account.logged_bar)
    first = account.last_bar + 1
    total = feed.full.n_bars - first if replay else None
    console.print(
        f"paper {session}: {store.load(session)[0]['model_uri']} ({feed.spec.kind}) from "
        f"{iso_ms(_bar_time(feed.full, first))}",
        highlight=False,
    )

    def panels():
        for panel in feed.panels(account.last_bar):
            if panel.n_bars > account.last_bar >= 0 and int(panel.times[account.last_bar]) != account.last_time:
                raise ConfigError(
                    f"paper.session={session}: bar {account.last_bar} of the data opens at "
                    f"{iso_ms(int(panel.times[account.last_bar]))}, the session's at {iso_ms(account.last_time)} "
                    "(the data's first bar moved); give another paper.session"
                )
            for kind, payload in feed.notes:
                store.add_event(session, account.last_bar, max(account.last_time, 0), kind, payload)
            feed.notes.clear()
            trader.publish()
            yield panel

    columns = (TextColumn("[bold]paper[/]"), BarColumn(), TextColumn("{task.completed:,} bars"), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("bars", total=total)
            trader.run(panels(), account, lambda: bar.advance(task), getattr(feed, "received", None))
    except BaseException as exc:
        trader.flush(force=True)
        kind = "error" if isinstance(exc, Exception) else "stopped"
        store.add_event(session, account.last_bar, max(account.last_time, 0), kind, {"error": str(exc)[:500]})
        trader.publish()
        if isinstance(exc, Exception):
            tracked.fail(exc)
        else:
            tracked.heartbeat.stop()
            tracked.client.set_terminated(tracked.run_id, "KILLED")
        raise


def _finish(trader, account, spec) -> None:
    """The session's trades and summary reach its run; the run is FINISHED (a later start resumes it)."""
    import json

    from kernels import enums as E
    from runner.data.timeframes import timeframe_ms

    trades = trader.store.trades(trader.session)
    acc = account.acc
    bars = max(account.last_bar - account.first_bar + 1, 0)
    summary = {
        "final_equity": account.prev_equity,
        "n_trades": float(acc[E.A_N_TRADES]),
        "n_liquidations": float(acc[E.A_N_LIQ]),
        "n_halts": float(acc[E.A_HALTS]),
        "fees": float(acc[E.A_FEES]),
        "funding": float(acc[E.A_FUNDING]),
        "total_return": account.prev_equity / spec.initial_capital - 1.0,
        "paper_bars": float(bars),
        "paper_days": bars * timeframe_ms(spec.data.timeframe) / 86_400_000,
        **trader.drift,
    }
    trader.tracked.log_metrics(summary, step=max(account.last_bar, 0))
    trader.tracked.log_files({"trades.json": lambda p: p.write_text(json.dumps(trades, indent=1) + "\n")})
    trader.tracked.finish()


def summary_table(store, session: str):
    from rich.console import Group

    from runner.paper.status import positions_table, session_table

    return Group(session_table(store, [session]), positions_table(store, [session]))
