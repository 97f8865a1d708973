"""Optuna studies as perplab keeps them: persisted in an RDB storage, shared by processes, resumable.

The default storage is SQLite beside the MLflow store (WAL, busy timeout); PostgreSQL when given.
Asking is serialised per study (a file lock for SQLite, an advisory lock for PostgreSQL) so that
workers sharing a study never ask past its budget. Trials in flight record heartbeats; a trial whose
process died is failed and queued again with the same parameters (Optuna's stale-trial retry), so
nothing is lost and a resumed search evaluates exactly the trials the uninterrupted one would have.
"""

import contextlib
import fcntl
import functools
import hashlib
import logging
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from runner.errors import ConfigError
from runner.redact import redact
from runner.search.spec import OptunaSpec

HEARTBEAT_S = 10
GRACE_S = 60
OUTCOME = "perplab_outcome"  # user attribute of a trial perplab told (FAIL included): it counts toward the budget
BATCH_ATTR = "perplab_batch"
WORKER_ATTR = "perplab_worker"  # the process that evaluated and told the trial


def worker_id() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def quiet() -> None:
    """Optuna's INFO lines and experimental-feature warnings stay out of the terminal."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="optuna")
    warnings.filterwarnings("ignore", message=".*(experimental|deprecated|Heartbeat).*")


def default_storage(tracking_uri: str) -> str:
    """SQLite beside the MLflow store (or in the project's mlruns/ for a server store)."""
    from runner import PROJECT_ROOT

    folder = PROJECT_ROOT / "mlruns"
    if tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri[len("sqlite:///") :].split("?", 1)[0]).parent
    return f"sqlite:///{folder / 'optuna.db'}"


def study_name(strategy: str, key: str) -> str:
    return f"perplab-{strategy}-{key[:10]}"


def storage(url: str):
    """An RDB storage with heartbeats and stale-trial retry; SQLite in WAL mode with a busy timeout."""
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    quiet()
    kwargs: dict = {}
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"creator": functools.partial(_sqlite_connection, str(path))}  # kept if the storage is pickled
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return RDBStorage(
                url,
                engine_kwargs=kwargs,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(),
            )
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy and drivers raise many types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"search.storage={redact(url)}: cannot open ({redact(reason)})") from None


def _sqlite_connection(path: str):
    """Every connection of a SQLite storage: WAL, a 60 s busy timeout, synced to disk at checkpoints
    rather than at every commit (``synchronous=NORMAL``: a killed process loses nothing, a power cut
    at most the last trials' records, which are asked again). Pooled connections serve the heartbeat
    thread too."""
    import sqlite3

    con = sqlite3.connect(path, timeout=60, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    return con


def grid_values(dims) -> dict[str, list]:
    """Every value of every dimension, for the grid sampler (a number needs a step or integers)."""
    from runner.values import decimal_range

    out = {}
    for d in dims:
        if d.choices:
            out[d.key] = list(d.choices)
        elif d.integer:
            out[d.key] = list(range(int(d.low), int(d.high) + 1, int(d.step or 1)))
        elif d.step:
            out[d.key] = decimal_range(d.low, d.high, d.step)
        else:
            raise ConfigError(f"search.sampler=grid: {d.key} has no step; give search.space.{d.key}.step")
    return out


def sampler(spec: OptunaSpec, seed: int, n_objectives: int, dims=()):
    """A fresh sampler of ``spec.sampler`` seeded with ``seed`` (one per batch: see ``next_seed``)."""
    import optuna.samplers as s

    opts = dict(spec.sampler_options)
    try:
        if spec.sampler == "tpe":
            return s.TPESampler(seed=seed, constant_liar=True, **{"multivariate": True, **opts})
        if spec.sampler == "cmaes":
            return s.CmaEsSampler(seed=seed, **opts)
        if spec.sampler == "nsga2":
            return s.NSGAIISampler(seed=seed, **opts)
        if spec.sampler == "nsga3":
            return s.NSGAIIISampler(seed=seed, **opts)
        if spec.sampler == "gp":
            return s.GPSampler(seed=seed, **opts)
        if spec.sampler == "random":
            return s.RandomSampler(seed=seed, **opts)
        return s.GridSampler(opts.pop("search_space", None) or grid_values(dims), seed=seed, **opts)
    except TypeError as exc:
        raise ConfigError(f"search.sampler_options={opts}: {exc}") from None
    except ImportError as exc:
        raise ConfigError(f"search.sampler={spec.sampler}: needs {exc.name} (pip install {exc.name})") from None


def next_seed(seed: int, evaluated: int) -> int:
    """The sampler's seed for the batch after ``evaluated`` trials: the same batch gets the same
    seed whether or not the search was interrupted before it."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{evaluated}".encode()).digest()[:4], "little")


@contextlib.contextmanager
def ask_lock(url: str, name: str) -> Iterator[None]:
    """One process at a time asks trials of a study (the budget check and the asks are atomic)."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :]).with_suffix(f".{hashlib.sha1(name.encode()).hexdigest()[:8]}.lock")
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    import psycopg

    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little", signed=True)
    dsn = url.replace("postgresql+psycopg2://", "postgresql://").replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            con.execute("SELECT pg_advisory_unlock(%s)", (key,))


def counted(trials) -> list:
    """Trials that count toward the budget: complete, pruned, or failed by perplab's own verdict
    (liquidated, undefined); not those whose process died (they are asked again)."""
    from optuna.trial import TrialState

    return [
        t
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and OUTCOME in t.user_attrs)
    ]


def take_over(study) -> int:
    """Fail the study's trials left RUNNING by a dead process and queue them again with the same
    parameters (what a resume does at once, and Optuna's heartbeat check does after its grace
    period); how many."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    st = study._storage
    retry = RetryHeartbeatStaleTrialCallback()
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if st.set_trial_state_values(t._trial_id, TrialState.FAIL):
            retry(study, st.get_trial(t._trial_id))
            n += 1
    return n


class Heartbeat:
    """Records a heartbeat for trials while they are evaluated (``with Heartbeat(storage, ids):``)."""

    def __init__(self, store, trial_ids: list[int]):
        self.store, self.ids = store, trial_ids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.is_set():
            for tid in self.ids:
                with contextlib.suppress(Exception):
                    self.store.record_heartbeat(tid)
            self._stop.wait(HEARTBEAT_S)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
