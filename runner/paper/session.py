"""A paper session end to end: settings (the pre-flight), the model and its checks, the state, the
MLflow run, the feed, the trader, the summary."""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from runner.errors import ConfigError
from runner.report import make_console

console = make_console()
SESSION_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@")


def settings(cfg: DictConfig) -> dict:
    """Every check that needs no model: keys, feed, tracking store, PostgreSQL, state database."""
    from runner.config import tracking_spec
    from runner.paper.feeds import feed_spec
    from runner.paper.state import check_state
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
    tracking = tracking_spec(cfg)
    check_store(tracking.uri)
    url = postgres_url(p.get("postgres_url"))
    probe(url, "paper.postgres_url")
    path = state_path(p.get("state"), tracking.uri)
    check_state(path)
    events = Path(p["events"]).expanduser() if p.get("events") else path.parent / "paper-events.jsonl"
    return {
        "strategy": strategy,
        "alias": alias,
        "session": session,
        "feed": feed,
        "tracking": tracking,
        "postgres_url": url,
        "state": path,
        "events": events,
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
    from runner.children import KIND_TAG
    from runner.data.panel import panel_for
    from runner.paper.events import EventLog
    from runner.paper.feeds import ReplayFeed
    from runner.paper.source import check_active, check_fingerprints, load_model
    from runner.paper.state import StateStore
    from runner.paper.trader import Trader
    from runner.tracking import TrackedRun, client_for

    s = settings(cfg)
    client = client_for(s["tracking"])
    model = load_model(client, s["strategy"], s["alias"])
    if s["postgres_url"]:
        check_active(model, s["strategy"], s["postgres_url"])
    spec = _model_spec(model)
    with console.status("loading market data"):
        check_fingerprints(model, panel_for(spec.data).fingerprint)
        feed = ReplayFeed(spec.data, s["feed"])
    store = StateStore(s["state"])
    session = s["session"]
    loaded = store.load(session)
    if loaded is not None:
        identity, account = loaded
        if identity["model_uri"] != model.uri or identity["config_digest"] != model.digest:
            raise ConfigError(
                f"paper.session={session}: trades {identity['model_uri']}, not {model.uri}; "
                "give another paper.session to trade this version"
            )
    trader = Trader(spec, session, store, EventLog(s["events"]))
    first = feed.first_bar()
    panel0 = feed.full
    if loaded is None:
        account = trader.start(None, first, panel0)
        store.create(session, model.uri, model.digest, list(spec.data.symbols), account)
    tags = {
        KIND_TAG: "paper",
        "strategy": s["strategy"],
        "model_uri": model.uri,
        "model_version": model.version,
        "alias": s["alias"],
        "session": session,
        "source_run_id": model.run_id,
    }
    if account.mlflow_run_id:
        tracked = TrackedRun.attach(s["tracking"], account.mlflow_run_id)
        trader.pending_metrics = store.equity_since(session, account.logged_bar)
    else:
        tracked = TrackedRun(s["tracking"], f"paper {session}", tags)
        tracked.log_params(
            {
                "model_uri": model.uri,
                "alias": s["alias"],
                "feed": s["feed"].kind,
                "first_bar": iso(int(panel0.times[account.first_bar])),
            }
        )
        account.mlflow_run_id = tracked.run_id
        store.set_run(session, tracked.run_id)
    trader.tracked = tracked
    kind = "resume" if loaded is not None else "start"
    store.add_event(
        session,
        account.last_bar,
        int(panel0.times[max(account.last_bar, 0)]),
        kind,
        {"model_uri": model.uri, "run_id": tracked.run_id},
    )
    trader.log.sync(store)
    total = panel0.n_bars - account.last_bar - 1
    console.print(
        f"paper {session}: {model.uri} from {iso(int(panel0.times[account.last_bar + 1]))}"
        if total > 0
        else f"paper {session}: no new bar",
        highlight=False,
    )
    try:
        with Progress(
            TextColumn("[bold]paper[/]"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,} bars"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("bars", total=max(total, 0))
            trader.run(feed.panels(account.last_bar), account, lambda: bar.advance(task))
    except BaseException as exc:
        trader.flush(force=True)
        store.add_event(
            session,
            account.last_bar,
            max(account.last_time, 0),
            "error" if isinstance(exc, Exception) else "stopped",
            {"error": str(exc)[:500] or type(exc).__name__},
        )
        trader.log.sync(store)
        if isinstance(exc, Exception):
            tracked.fail(exc)
        else:
            tracked.heartbeat.stop()
            tracked.client.set_terminated(tracked.run_id, "KILLED")
        raise
    _finish(tracked, store, session, account, spec.initial_capital)
    console.print(summary_table(store, session), highlight=False)
    return 0


def iso(ms: int) -> str:
    from runner.paper.events import iso_ms

    return iso_ms(ms)


def _finish(tracked, store, session: str, account, initial: float) -> None:
    """The session's trades and summary reach its run; the run is FINISHED (a later start resumes it)."""
    import json

    from kernels import enums as E

    trades = store.trades(session)
    acc = account.acc
    tracked.log_metrics(
        {
            "final_equity": account.prev_equity,
            "n_trades": float(acc[E.A_N_TRADES]),
            "n_liquidations": float(acc[E.A_N_LIQ]),
            "fees": float(acc[E.A_FEES]),
            "funding": float(acc[E.A_FUNDING]),
            "total_return": account.prev_equity / initial - 1.0,
        },
        step=account.last_bar,
    )
    tracked.log_files({"trades.json": lambda p: p.write_text(json.dumps(trades, indent=1) + "\n")})
    tracked.finish()


def summary_table(store, session: str) -> Table:
    from runner.paper.status import session_table

    return session_table(store, [session])
