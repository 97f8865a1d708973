"""``python -m runner.paper.status [overrides]``: every paper session in the state database: model,
last bar, equity, trades, liquidations, drift, alerting events, positions and the latest events (the paper app's config:
``paper.state=...``, ``tracking.uri=...``)."""

import json
import sys

from rich import box
from rich.table import Table

from kernels import enums as E
from runner.data.source.binance import iso_ms
from runner.paper.state import Account, StateStore
from runner.report import make_console


def session_table(store: StateStore, only: list[str] | None = None) -> Table:
    """One row per session (80 columns)."""
    out = Table(title="paper sessions", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("session", "ver", "last bar (UTC)", "equity", "trades", "liq", "drift", "alerts"):
        right = col in ("equity", "trades", "liq", "drift", "alerts")
        out.add_column(col, justify="right" if right else "left", overflow="ellipsis", no_wrap=True)
    alerts = store.alert_counts()
    for row in store.sessions():
        if only and row["session"] not in only:
            continue
        acc = Account.decode(row["state"])["acc"]
        last = iso_ms(row["last_time"])[:16].replace("T", " ") if row["last_bar"] >= row["first_bar"] else "-"
        out.add_row(
            row["session"],
            "v" + row["model_uri"].rsplit("/", 1)[-1],
            last,
            f"{row['prev_equity']:,.2f}",
            f"{int(acc[E.A_N_TRADES]):,}",
            f"{int(acc[E.A_N_LIQ])}",
            "-" if row["drift"] is None else f"{row['drift']:.3f}",
            str(alerts.get(row["session"], 0)),
        )
    return out


def positions_table(store: StateStore, only: list[str] | None = None) -> Table:
    """Every open position: quantity (negative: short), entry and liquidation price."""
    out = Table(title="open positions", box=box.SIMPLE_HEAD)
    for col in ("session", "symbol", "qty", "entry", "liquidation"):
        out.add_column(col, justify="left" if col in ("session", "symbol") else "right", no_wrap=True)
    for row in store.sessions():
        if only and row["session"] not in only:
            continue
        pos = Account.decode(row["state"])["pos"]
        for a, symbol in enumerate(json.loads(row["symbols"])):
            qty = pos[a, E.S_QTY]
            if qty != 0.0:
                out.add_row(
                    row["session"], symbol, f"{qty:+.6g}", f"{pos[a, E.S_ENTRY]:,.6g}", f"{pos[a, E.S_LIQ]:,.6g}"
                )
    return out


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


def events_table(store: StateStore, n: int = 8) -> Table:
    """The latest ``n`` events of every session."""
    rows = store.latest_events(n)
    out = Table(title=f"latest {n} events", box=box.SIMPLE_HEAD)
    for col, width in (("session", 14), ("bar (UTC)", 16), ("event", 11), ("detail", 28)):
        out.add_column(col, overflow="ellipsis", no_wrap=True, max_width=width)
    for session, time, kind, payload in rows:
        detail = ", ".join(f"{k}={_short(v)}" for k, v in json.loads(payload).items())
        out.add_row(session, iso_ms(time)[:16].replace("T", " "), kind, detail)
    return out


def main() -> None:
    from hydra import compose, initialize_config_dir

    from runner import preflight
    from runner.config import tracking_spec
    from runner.errors import ConfigError, PerplabError, one_line
    from runner.paper.state import is_postgres
    from runner.paper.trader import state_path

    args = sys.argv[1:]
    try:
        with initialize_config_dir(str(preflight.CONF), version_base="1.3"):
            try:
                cfg = compose("paper", overrides=args)
            except Exception as exc:
                raise ConfigError(f"{' '.join(args)}: {str(exc).strip().splitlines()[0]}") from None
        path = state_path(cfg.paper.state, tracking_spec(cfg).uri)
        if not is_postgres(path) and not path.exists():
            raise ConfigError(f"paper.state={path}: no state database (no paper session has run)")
        store = StateStore(path)
    except PerplabError as exc:
        sys.stderr.write(one_line(exc) + "\n")
        sys.exit(exc.exit_code)
    console = make_console()
    console.print(session_table(store))
    console.print(positions_table(store))
    console.print(events_table(store))
    store.close()


if __name__ == "__main__":
    from runner import short_lived

    short_lived.run(main)
