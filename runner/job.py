"""The Hydra job: validate, load, compile, simulate, track, print."""

import math
import os
import sys
from pathlib import Path

import polars as pl
from omegaconf import DictConfig, OmegaConf, open_dict

from kernels import enums as E
from runner import short_lived
from runner.artifacts import record_files, series, write_compact
from runner.backtest import (
    COMPILE_SECONDS,
    Evaluation,
    Records,
    grid_evaluation,
    grid_table,
    kernels_compiled,
    rank,
    records,
)
from runner.children import KIND_TAG, child_combos, child_runs
from runner.cluster import worker_tags
from runner.compute import peak_rss_mb
from runner.config import tracking_spec, validate
from runner.context import OPTUNA_STUDY_ENV, OPTUNA_TRIAL_ENV, OVERRIDES_ENV, job_context, run_name
from runner.data.panel import iso, panel_for
from runner.data.timeframes import timeframe_ms
from runner.detail import detail_table, fine_panel, run_detail
from runner.errors import NO_RESULT, NO_RESULT_LINE, ConfigError, PerplabError, exit_unexpected, one_line
from runner.filters.outcome import Context
from runner.filters.pipeline import Plan, evaluate, lookback, plan
from runner.funding_caps import beyond_caps
from runner.html_report import combination_report, search_page
from runner.montecarlo import Risk, risk
from runner.plotly_assets import PageLinks
from runner.report import make_console, print_best, print_filters
from runner.resume import HASH_TAG, config_hash, resuming
from runner.spec import RunSpec
from runner.strategy.compile import compile_strategy
from runner.tracking import TrackedRun, client_for, experiment_id, finite, flatten, git_info

console = make_console(stderr=True)


def run_job(cfg: DictConfig) -> float:
    """Run one configured job; return its objective (NaN when it failed or nothing survived)."""
    multirun, sweep, overrides, num = job_context()
    try:
        spec = validate(cfg)
    except PerplabError as exc:
        if not multirun:
            sys.stderr.write(one_line(exc) + "\n")
            sys.exit(exc.exit_code)
        spec = None
        error: BaseException | None = exc
    else:
        error = None

    digest = config_hash(cfg)
    if sweep and spec is not None and resuming() == sweep:
        done = _finished_before(spec, sweep, digest, num)
        if done is not None:
            return done
    tags = {
        **git_info(),
        "hydra_overrides": " ".join(overrides),
        "command": os.environ.get(OVERRIDES_ENV) or " ".join(overrides),
        "strategy": str(OmegaConf.select(cfg, "strategy.name")),
        KIND_TAG: "job",
        HASH_TAG: digest,
        **worker_tags(),
    }
    if sweep:
        tags.update({"sweep_id": sweep, "job_num": str(num)})
    for env, tag in ((OPTUNA_STUDY_ENV, "optuna_study"), (OPTUNA_TRIAL_ENV, "optuna_trial")):
        if os.environ.get(env):  # a trial of hydra/sweeper=optuna (set per job by the sweeper)
            tags[tag] = os.environ[env]
    name = run_name(cfg, overrides, num if multirun else None)
    resume_id = None
    if spec is not None and spec.search.active:
        from runner.search.job import resume_target, search_key

        tags["search_key"] = search_key(cfg)
        try:
            client = client_for(spec.tracking)
            resume_id = resume_target(client, experiment_id(client, spec.tracking), spec, cfg)
        except PerplabError as exc:
            if not multirun:
                sys.stderr.write(one_line(exc) + "\n")
                sys.exit(exc.exit_code)
            error = exc
    if spec is not None and spec.instruments is not None:
        _pin_exchange_rules(cfg, spec.instruments)
    try:
        if resume_id is not None:
            run = TrackedRun.attach(spec.tracking, resume_id)
            console.print(f"resuming search run {resume_id}", highlight=False)
        else:
            run = TrackedRun(spec.tracking if spec else tracking_spec(cfg), name.strip(), tags)
    except PerplabError as exc:  # the store itself is unusable: nothing can be recorded
        sys.stderr.write(one_line(exc) + "\n")
        if not multirun:
            sys.exit(exc.exit_code)
        return math.nan
    try:
        if resume_id is None:
            run.log_params(flatten(OmegaConf.to_container(cfg, resolve=True)))
        if error is not None:
            raise error
        value = _execute(spec, cfg, run)
        run.finish()
        if math.isnan(value) and spec.search.active and not multirun:
            console.print(f"[yellow]warning:[/yellow] {NO_RESULT_LINE}", highlight=False)
            sys.exit(NO_RESULT)
        return value
    except (Exception, KeyboardInterrupt) as exc:
        run.fail(exc)
        if not multirun:
            if isinstance(exc, PerplabError):
                sys.stderr.write(one_line(exc) + "\n")
                sys.exit(exc.exit_code)
            if isinstance(exc, KeyboardInterrupt):
                raise
            exit_unexpected(exc)
        console.print(f"[red]job #{num} FAILED[/red] ({run.run_id}): {one_line(exc)[7:]}", highlight=False)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return math.nan


def _finished_before(spec: RunSpec, sweep: str, digest: str, num: int) -> float | None:
    """A resumed sweep's job that already FINISHED (same composed config): its recorded objective."""
    from runner.resume import finished_job

    try:
        done = finished_job(client_for(spec.tracking), sweep, digest)
    except PerplabError:
        return None
    if done is None:
        return None
    console.print(f"job #{num}: finished before, not run again (run {done.info.run_id[:12]})", highlight=False)
    return float(done.data.metrics.get("objective", math.nan))


def _pin_exchange_rules(cfg: DictConfig, rules) -> None:
    """Write the exchange rules the run uses (lot filters from the data root's exchangeInfo, default
    brackets) into its config, so the logged config and a model built from it use the same."""
    with open_dict(cfg):
        for symbol, rule in rules.resolved.items():
            OmegaConf.update(cfg, f"exchange.symbols.{symbol}", rule, merge=False, force_add=True)
        OmegaConf.update(cfg, "exchange.lot_source", "config", force_add=True)


MARKET_NAMES = {"futures_um": "Binance USDT-M futures", "spot": "Binance spot"}


def run_header(spec: RunSpec) -> str:
    """The first line of a run: what it simulates (strategy, symbols, bars and their source, window)."""
    d = spec.data
    source = MARKET_NAMES.get(d.market, d.market)
    bars = f"{d.timeframe} bars" + ("" if d.timeframe == d.source_interval else f" resampled from {d.source_interval}")
    window = f"{iso(d.start_ms)[:10]} to {iso(d.end_ms - 1)[:10]}"
    if spec.search.method == "discover":
        return f"strategy discovery on {', '.join(d.symbols)}: {source} {bars}, {window}"
    search = f", search={spec.search.method}" if spec.search.active else ""
    return f"{spec.strategy.name} on {', '.join(d.symbols)}: {source} {bars}, {window}{search}"


def _log_data(spec: RunSpec, panel, run: TrackedRun) -> None:
    """Tag the run with what its market data was and log it as the run's dataset."""
    data_tags = {
        "data_fingerprint": panel.fingerprint,
        "data_bars": str(panel.n_bars),
        "data_first_bar": iso(int(panel.times[0])),
        "data_last_bar": iso(int(panel.times[-1])),
        "data_warnings": str(len(panel.warnings)),
        **({"data_archive_inputs": panel.archive_inputs} if panel.archive_inputs else {}),
        **{f"funding_coverage.{s}": f"{v:.4f}" for s, v in panel.funding_coverage.items()},
        **{f"mark_coverage.{s}": f"{v:.4f}" for s, v in panel.mark_coverage.items()},
        **{f"data_gaps.{s}": str(g.missing_bars) for s, g in panel.gaps.items()},
        **({f"exchange_rules.{s}": v for s, v in spec.instruments.sources.items()} if spec.instruments else {}),
    }
    run.set_tags(data_tags)
    d = spec.data
    run.log_dataset(
        f"binance {d.market} {d.timeframe} {','.join(d.symbols)}",
        panel.fingerprint,
        {"uri": str(d.root), "market": d.market, "interval": d.source_interval},
        {
            "symbols": list(d.symbols),
            "timeframe": d.timeframe,
            "first_bar": data_tags["data_first_bar"],
            "last_bar": data_tags["data_last_bar"],
            "bars": panel.n_bars,
            "fingerprint": panel.fingerprint,
        },
    )


def _execute(spec: RunSpec, cfg: DictConfig, run: TrackedRun) -> float:
    console.print(run_header(spec), highlight=False, markup=False, soft_wrap=True)
    with console.status("loading market data"):
        panel = panel_for(spec.data)
    over, cap_warnings = beyond_caps(panel, spec.instruments.tiers) if spec.instruments else ({}, [])
    for warning in (*spec.instruments.warnings, *panel.warnings, *cap_warnings) if spec.instruments else panel.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    _log_data(spec, panel, run)
    run.set_tags({f"funding_beyond_cap.{s}": str(n) for s, n in over.items()})
    if not kernels_compiled():
        short_lived.before_compiling()
        console.print(
            f"compiling kernels: first run only, about {COMPILE_SECONDS} s (cached in kernels/__pycache__)",
            highlight=False,
        )
    ev, schedule = _evaluate(spec, panel, run, cfg)
    metrics = ev.metrics
    ctx = Context(
        metrics,
        ev.blocks,
        schedule.partition,
        panel.times,
        panel.bars_per_year,
        ev.leverage,
        spec.objective,
        ev.axes,
        ev.grid_idx,
    )
    with console.status("overfitting defenses"):
        report = evaluate(schedule, ctx, ev.reduced)
    order = rank(metrics, spec.objective, report.survivors, ev.rank_values)
    best = int(order[0])
    table = grid_table(ev, metrics, spec.objective, {**ev.extra, **report.columns})
    objective = float(table["objective"][best])
    no_survivor = math.isnan(objective) or not bool(report.survivors[best])
    reason = ""
    if no_survivor:
        reason = report.no_survivor_reason() or "every combination was liquidated or its objective is undefined"
        console.print(
            f"[yellow]no survivor:[/yellow] {reason}; the best combination by the objective alone is reported",
            highlight=False,
        )
    best_metrics = {n: finite(float(metrics[best, k])) for k, n in enumerate(E.METRIC_NAMES)}
    filter_metrics = {k: finite(v) for k, v in report.run_metrics(best).items()}
    value = math.nan if no_survivor else objective
    run.log_metrics({**best_metrics, **filter_metrics, "objective": value, "n_combos": ev.n_combos})
    if report.run_params():
        run.log_params({k: str(v) for k, v in report.run_params().items()})
    for outcome in report.outcomes:
        run.log_series({k: [finite(x) for x in v] for k, v in outcome.steps.items()})
    best_params = {a.key: a.display(int(ev.grid_idx[best, j])) for j, a in enumerate(ev.axes)}
    run.set_tags(
        {
            "n_combos": str(ev.n_combos),
            **ev.tags,
            "best_combo": str(best),
            "objective_metric": spec.objective.metric,
            "filters": ",".join(spec.filters.enabled) or "none",
            **({"filters_not_applicable": ",".join(report.not_applicable)} if report.not_applicable else {}),
            "no_survivor": str(no_survivor).lower(),
            **({"no_survivor_reason": reason} if reason else {}),
            **{f"best.{k}": str(v) for k, v in best_params.items()},
        }
    )
    files = {
        "config.yaml": lambda p: p.write_text(OmegaConf.to_yaml(cfg, resolve=True)),
        "grid.parquet": table.write_parquet,
    }
    for name, frame in report.tables().items():
        files[name] = frame.write_parquet
    if spec.tracking.combos and max(spec.tracking.combos) >= ev.n_combos:
        combos = list(spec.tracking.combos)
        raise ConfigError(f"tracking.combos={combos}: this job evaluated {ev.n_combos} (valid: 0..{ev.n_combos - 1})")
    wanted = ([best] if spec.tracking.log_trades else []) + [c for c in spec.tracking.combos if c != best]
    # report.html: the best combination's (report=best|all; so a sweep's best job has one), and with
    # report=all every combination asked for by tracking.combos too; report=none: no pages at all
    policy = spec.tracking.report
    pages = PageLinks(run, spec.tracking)
    recorded = _Recorded(spec, panel, ev)
    risks = _monte_carlo(spec, panel, ev, best, report.survivors, run, files, recorded)
    if spec.detail:
        _detail(spec, panel, ev, best, report.survivors, run, files, recorded)
    for c in wanted:
        with_report = policy == "all" or (policy == "best" and c == best)
        prefix = "" if c == best else f"combos/{c}/"
        page = pages if with_report else None
        files.update(_combo_files(spec, panel, ev, table, c, run.run_id, prefix, recorded(c), page, risks.get(c)))
    print_filters(report, console=console)
    if ev.history:
        if policy != "none":
            history = search_page(ev, spec.objective.metric, pages("search_history.html"))
            files["search_history.html"] = lambda p: p.write_text(history)
        files["search_history.parquet"] = pl.DataFrame(ev.history).with_row_index("generation").write_parquet
    with console.status("logging artifacts"):
        run.log_files(files)
    children = child_combos(spec.tracking.child_runs, best, metrics, report.survivors)
    if children.size:
        with console.status(f"logging {children.size:,} child runs"):
            run.log_children(child_runs(table, ev, children, best, str(OmegaConf.select(cfg, "strategy.name"))))
    survivors = report.survivors if report.outcomes else None
    by = "objective" if ev.rank_values is None else "fitness"
    print_best(table, ev, order, spec, run.run_id, survivors=survivors, by=by)
    run.log_metrics({"peak_rss_mb": peak_rss_mb()})  # the process's, this job included
    return value


class _Recorded:
    """Each combination's records, simulated once per job however many artifacts read them."""

    def __init__(self, spec: RunSpec, panel, ev: Evaluation):
        self.spec, self.panel, self.ev, self.done = spec, panel, ev, {}

    def __call__(self, c: int) -> Records:
        if c not in self.done:
            compiled, combo = self.ev.compiled_for(c)
            n_trades = int(self.ev.metrics[c, E.M_N_TRADES])
            self.done[c] = records(self.panel, compiled, self.spec.initial_capital, combo, n_trades)
        return self.done[c]


def _monte_carlo(
    spec: RunSpec, panel, ev: Evaluation, best: int, survivors, run: TrackedRun, files: dict, recorded: _Recorded
) -> dict:
    """Monte Carlo risk (``runner.montecarlo``) of the best combination, and with
    ``montecarlo.combos=pareto`` of the Pareto front too: the best's figures as run metrics, every one's
    in ``montecarlo.parquet``; returns each combination's ``Risk``."""
    mc = spec.montecarlo
    if mc.combos == "none":
        return {}
    combos = [best]
    if mc.combos == "pareto":
        combos += [int(c) for c in child_combos("pareto", best, ev.metrics, survivors) if c != best]
    out = {}
    bar_ms = timeframe_ms(panel.timeframe)
    what = f"Monte Carlo risk: {len(combos)} combination{'s' * (len(combos) > 1)} x {mc.paths:,} paths"
    with console.status(what):
        for c in combos:
            rec = recorded(c)
            equity = rec.equity["equity"].to_numpy()
            out[c] = risk(equity, panel.times, bar_ms, rec.trades, spec.initial_capital, panel.bars_per_year, mc)
    run.log_metrics({k: finite(v) for k, v in out[best].metrics.items()})
    table = pl.DataFrame([{"combo": c, "best": c == best, **r.metrics} for c, r in out.items()])
    files["montecarlo.parquet"] = table.write_parquet
    return out


def _detail(
    spec: RunSpec, panel, ev: Evaluation, best: int, survivors, run: TrackedRun, files: dict, recorded: _Recorded
) -> None:
    """``execution.detail``: the best combination and ``tracking.combos`` (with
    ``execution.detail_combos=pareto`` the Pareto front too) re-simulated on the fine bars
    (``runner.detail``); the best's ``detail_*`` metrics, every one's in ``detail.parquet``, the
    best's fine-bar trades in ``detail/trades.parquet``."""
    fine = fine_panel(spec.data, panel, spec.detail)
    for warning in fine.warnings:
        console.print(f"[yellow]warning:[/yellow] intrabar detail: {warning}", highlight=False)
    combos = [best, *(c for c in spec.tracking.combos if c != best)]
    if spec.detail_combos == "pareto":
        combos += [int(c) for c in child_combos("pareto", best, ev.metrics, survivors) if c not in combos]
    out = {}
    with console.status(f"intrabar detail: {len(combos)} combination(s) on {spec.detail} bars"):
        for c in combos:
            compiled, combo = ev.compiled_for(c)
            out[c] = run_detail(compiled, panel, fine, combo, spec.initial_capital, recorded(c), spec.latency_ms)
    run.log_metrics({k: finite(v) for k, v in out[best].deltas.items()})
    files["detail.parquet"] = detail_table(out, best).write_parquet
    trades = out[best].fine.trades
    files["detail/trades.parquet"] = lambda p: write_compact(trades, p)


def _combo_files(
    spec: RunSpec,
    panel,
    ev: Evaluation,
    table: pl.DataFrame,
    c: int,
    run_id: str,
    prefix: str,
    rec: Records,
    pages=None,
    mc_risk: Risk | None = None,
) -> dict:
    """Records of combination ``c`` (trades parquet and, when asked, JSON; equity/drawdown/exposure;
    report.html, with its Monte Carlo panel when ``mc_risk`` is given, when ``pages`` says where its
    plotly.js is)."""
    trades = rec.trades.with_columns(pl.lit(c, pl.Int64).alias("combo"))  # the job's combination number
    params = {a.key: a.display(int(ev.grid_idx[c, j])) for j, a in enumerate(ev.axes)}
    frame = series(panel, rec.equity, trades)
    write_report = None
    if pages is not None:
        row = table.row(c, named=True)
        plotly = pages(f"{prefix}report.html")

        def write_report(path: Path) -> None:
            title = f"{spec.strategy.name} on {', '.join(panel.symbols)} {panel.timeframe}: combination {c}"
            window = f"{iso(int(panel.times[0]))} to {iso(int(panel.times[-1]))}"
            meta = f"MLflow run {run_id}; {window}; data {panel.fingerprint[:12]}"
            metrics = {k: v for k, v in row.items() if isinstance(v, float)}
            initial = spec.initial_capital
            page = combination_report(
                title, meta, frame, trades, rec.metrics, metrics, params, initial, plotly, mc_risk
            )
            path.write_text(page)

    return record_files(prefix, frame, trades, write_report, spec.tracking.trades_json)


def _evaluate(spec: RunSpec, panel, run: TrackedRun, cfg: DictConfig) -> tuple[Evaluation, Plan]:
    """The grid in chunks (``compute``: their size, here or on Ray), or a search's candidates."""
    resumed = bool(spec.search.resume)
    if spec.search.method == "nevergrad":
        from runner.search.job import param_search

        return param_search(spec, panel, run, console, resumed)
    if spec.search.method == "optuna":
        from runner.search.optuna_job import optuna_search

        return optuna_search(spec, panel, run, cfg, console, resumed)
    if spec.search.method == "discover":
        from runner.discovery.export import rerun_base
        from runner.discovery.job import discover

        window = {k: OmegaConf.select(cfg, f"data.{k}") for k in ("symbols", "timeframe", "start", "end")}
        return discover(spec, panel, run, console, resumed, rerun_base(job_context()[2], window))
    with console.status("computing indicators"):
        compiled = compile_strategy(spec, panel)
    schedule = plan(spec.filters, panel.times, timeframe_ms(panel.timeframe), lookback(compiled.warm, panel.tradable))
    return grid_evaluation(spec, panel, compiled, schedule), schedule
