"""``python -m runner.data <command> [overrides]``: download, update, status, verify, rebuild."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig
from rich.table import Table

from runner.errors import run_reporting
from runner.report import make_console

console = make_console()
progress_console = make_console(stderr=True)
PROBLEMS = 1  # verify found a problem, or a series could not be fetched


def _date(ms: int | None) -> str:
    from runner.data.source.binance import iso_ms

    return iso_ms(ms)[:13].replace("T", " ") + "h" if ms is not None else "-"


def _fetch(cfg: DictConfig) -> int:
    from runner.data.download import fetch_store
    from runner.data.settings import store_spec

    spec = store_spec(cfg)
    out = fetch_store(spec, progress_console)
    table = Table(title=f"{spec.command}: {spec.root}", title_justify="left")
    for col in ("series", "files", "rows", "MB", "gaps", "note"):
        table.add_column(col, justify="left" if col in ("series", "note") else "right", overflow="fold")
    total_files = total_rows = total_bytes = 0
    for r in out.results.values():
        notes = []
        if r.not_in_archive:
            notes.append(f"{r.not_in_archive} not in archive")
        if r.quarantined:
            notes.append(f"{len(r.quarantined)} quarantined")
        if r.error:
            notes.append("[red]failed[/red]")
        table.add_row(
            r.dataset.label,
            str(r.files),
            f"{r.rows:,}",
            f"{r.bytes / 1e6:.2f}",
            f"{r.missing_bars:,}",
            "; ".join(notes),
        )
        total_files, total_rows, total_bytes = total_files + r.files, total_rows + r.rows, total_bytes + r.bytes
    console.print(table)
    secs = max(out.seconds, 1e-9)
    console.print(
        f"{total_files} files, {total_rows:,} rows, {total_bytes / 1e6:.2f} MB in {out.seconds:.1f} s "
        f"({total_rows / secs:,.0f} rows/s, {total_bytes / 1e6 / secs:.2f} MB/s); "
        f"{out.requests} requests, {out.retried} retried; exchange clock {_date(out.server_now)}",
        highlight=False,
    )
    if not total_files:
        console.print("nothing new: every series is up to date", highlight=False)
    for r in out.results.values():
        for reason in r.quarantined:
            console.print(f"[yellow]quarantined:[/yellow] {reason}", highlight=False)
        if r.gaps and r.missing_bars:
            first = ", ".join(_date(a) for a, _ in r.gaps[:3])
            console.print(
                f"[yellow]gaps:[/yellow] {r.dataset.label}: {r.missing_bars:,} missing (from {first}); "
                "neither the archive nor the REST API has them",
                highlight=False,
            )
    failed = [r for r in out.results.values() if r.error]
    for r in failed:
        sys.stderr.write(f"error: {r.dataset.label}: {r.error}; run the command again to resume\n")
    return PROBLEMS if failed else 0


def _coverage_table(reports, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("symbol", "series", "first", "last", "rows", "gaps"):
        table.add_column(col, justify="right" if col in ("rows", "gaps") else "left")
    for r in reports:
        if r.problem:
            table.add_row(r.symbol, r.series, "[red]invalid[/red]", "", "", "")
        else:
            table.add_row(r.symbol, r.series, _date(r.first), _date(r.last), f"{r.rows:,}", f"{r.gaps:,}")
    return table


def _status(cfg: DictConfig) -> int:
    from runner.data.inventory import describe_intervals, status
    from runner.data.settings import store_spec

    spec = store_spec(cfg)
    reports, archive = status(spec.root)
    reports = [r for r in reports if spec.symbols is None or r.symbol in spec.symbols]
    if not reports:
        console.print(f"no market data files under {spec.root / 'binance'}", highlight=False)
        return 0
    console.print(_coverage_table(reports, f"market data in {spec.root}"))
    for r in reports:
        if r.series == "funding" and r.intervals:
            console.print(f"funding intervals {r.symbol}: {describe_intervals(r.intervals)}", highlight=False)
        if r.problem:
            console.print(f"[red]invalid:[/red] {r.problem}", highlight=False)
    if archive:
        console.print(
            f"archive: {archive['payloads']:,} payloads, {archive['bytes'] / 1e6:.1f} MB, "
            f"{len(archive['quarantined'])} quarantined",
            highlight=False,
        )
        for name, reason in archive["quarantined"]:
            console.print(f"[yellow]quarantined:[/yellow] {name}: {reason}", highlight=False)
    return 0


def _verify(cfg: DictConfig) -> int:
    from runner.data.inventory import verify
    from runner.data.settings import store_spec

    spec = store_spec(cfg)
    with console.status("verifying"):
        reports, problems, notes = verify(spec.root)
    table = Table(title=f"verify {spec.root}", title_justify="left")
    longest = max((len(f.what) for f in (*problems, *notes)), default=0)
    table.add_column("file or payload", overflow="fold", min_width=min(longest, 50))  # a whole path at 80 columns
    table.add_column("finding", overflow="fold")
    for f in problems:
        table.add_row(f.what, f"[red]{f.problem}[/red]")
    for f in notes:
        table.add_row(f.what, f.problem)
    if problems or notes:
        console.print(table)
    verdict = f"{len(problems)} problem(s)" if problems else "no problems"
    console.print(f"verified {len(reports)} files: {verdict}, {len(notes)} note(s)", highlight=False)
    return PROBLEMS if problems else 0


def _rebuild(cfg: DictConfig) -> int:
    from runner.data.archive import Archive, writer_lock
    from runner.data.inventory import rebuild
    from runner.data.settings import store_spec
    from runner.errors import ConfigError

    spec = store_spec(cfg)
    if not Archive.exists(spec.root):
        raise ConfigError(f"data.root={spec.root}: no raw archive (archive/index.sqlite) to rebuild from")
    with writer_lock(spec.root), console.status("rebuilding derived files"):
        done = rebuild(spec.root)
    table = Table(title=f"rebuilt from {spec.root / 'archive'}", title_justify="left")
    table.add_column("derived file", overflow="fold")
    table.add_column("result")
    for path, result in done:
        table.add_row(path, result)
    console.print(table)
    return 0


COMMANDS = {"download": _fetch, "update": _fetch, "status": _status, "verify": _verify, "rebuild": _rebuild}


@hydra.main(version_base="1.3", config_path=str(Path(__file__).resolve().parents[2] / "conf"), config_name="datastore")
def app(cfg: DictConfig) -> None:
    run_reporting(
        lambda: COMMANDS[cfg.command](cfg), "interrupted: what arrived is archived; run the command again to resume"
    )


def main() -> None:
    from runner import preflight
    from runner.data.settings import COMMANDS as VERBS
    from runner.data.settings import store_spec

    args = sys.argv[1:]
    words = [a for a in args if "=" not in a and not a.startswith("-")]
    if words and (len(words) > 1 or words[0] not in VERBS):
        bad = next((w for w in words if w not in VERBS), words[-1])
        sys.stderr.write(f"error: unknown command {bad!r}; valid: {', '.join(VERBS)} (one per call)\n")
        sys.exit(2)
    if words:
        args = [f"command={words[0]}", *(a for a in args if a != words[0])]
    preflight.check_or_exit(args, store_spec, config_name="datastore")
    sys.argv = [sys.argv[0], *args]
    app()


if __name__ == "__main__":
    from runner import short_lived

    short_lived.run(main)
