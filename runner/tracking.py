"""MLflow tracking: store set-up, one run per job, batch logging, failures recorded."""

import fcntl
import functools
import json
import logging
import math
import os
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner import PROJECT_ROOT
from runner.errors import ConfigError
from runner.heartbeat import Heartbeat, heartbeat_tags, reap
from runner.redact import MASK, SECRET_KEY, redact, redact_override
from runner.spec import TrackingSpec

PARAM_LIMIT = 6000
BATCH = 100
BUSY_TIMEOUT_S = 60  # a SQLite writer waits this long for another process's transaction
RETRIES = 8  # then retries a call that still found the database locked, backing off
PARENT_TAG = "mlflow.parentRunId"
logging.getLogger("alembic").setLevel(logging.WARNING)


def _sqlite_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :].split("?", 1)[0])
    return None


def prepare_store(uri: str) -> None:
    """Create the SQLite file's folder and switch it to WAL (readers never block the writer)."""
    path = _sqlite_path(uri)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(20):
        try:
            with sqlite3.connect(path, timeout=30) as con:
                con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            time.sleep(0.1 * (attempt + 1))


def client_uri(uri: str) -> str:
    """The URI the client opens: a SQLite store gets a busy timeout (concurrent jobs wait, not fail)."""
    if _sqlite_path(uri) is None or "timeout=" in uri:
        return uri
    return uri + ("&" if "?" in uri else "?") + f"timeout={BUSY_TIMEOUT_S}"


def _locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


class RetryingClient:
    """An ``MlflowClient`` whose calls are retried while SQLite reports the database locked (a failed
    transaction wrote nothing, so a retry is safe)."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args, **kwargs):
            for attempt in range(RETRIES - 1):
                try:
                    return attr(*args, **kwargs)
                except Exception as exc:
                    if not _locked(exc):
                        raise
                    time.sleep(0.2 * 2**attempt)
            return attr(*args, **kwargs)  # the last try's error propagates

        return call


def default_artifact_root(uri: str) -> str | None:
    """Beside a SQLite file; under the project's mlruns/ for a database server; a tracking server's own."""
    path = _sqlite_path(uri)
    if path is not None:
        return (path.parent / "artifacts").resolve().as_uri()
    if uri.startswith(("postgresql", "mysql", "mssql")):
        return (PROJECT_ROOT / "mlruns" / "artifacts").resolve().as_uri()
    return None


STORE_SCHEMES = ("sqlite", "postgresql", "http", "https", "file")
_CHECKED: set[str] = set()


def quiet_libraries() -> None:
    """Keep MLflow's and alembic's INFO lines (table creation, migrations) and MLflow's artifact
    progress bars ("Downloading artifacts") out of the terminal; perplab shows its own progress."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def check_store(uri: str) -> None:
    """Fail within seconds, with one line naming the URI (password hidden) and what to do, when the
    tracking store cannot be written or reached or its scheme is not one MLflow stores runs in."""
    if uri in _CHECKED:
        return
    shown = redact(uri)
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme not in STORE_SCHEMES:
        raise ConfigError(
            f"tracking.uri={shown}: unsupported scheme {scheme or 'none'!r}; valid: sqlite:///<file>, "
            "postgresql://user:password@host/db, http(s)://<tracking server>, file:///<folder>"
        )
    path = _sqlite_path(uri) or (Path(uri[len("file://") :]) if scheme == "file" else None)
    if scheme in ("sqlite", "file"):
        if path is None:
            raise ConfigError(f"tracking.uri={shown}: write sqlite:///<absolute path to a .db file>")
        _check_writable(path if scheme == "file" else path.parent, shown)
    elif scheme == "postgresql":
        _check_postgres(uri, shown)
    else:
        _check_server(uri, shown)
    _CHECKED.add(uri)


def _check_writable(folder: Path, shown: str) -> None:
    """The folder, or the nearest existing folder above it (where it would be created), accepts a
    file; nothing is left behind."""
    probe = folder
    while not probe.is_dir() and probe != probe.parent:
        if probe.exists():  # a file where a folder should be
            break
        probe = probe.parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".perplab-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"tracking.uri={shown}: cannot write in {folder} ({exc.strerror}); point tracking.uri (or "
            "$MLFLOW_TRACKING_URI) at a writable folder"
        ) from None


def _check_postgres(uri: str, shown: str) -> None:
    import psycopg

    conninfo = uri.split("://", 1)
    try:
        with psycopg.connect(f"postgresql://{conninfo[1]}", connect_timeout=5):
            pass
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"tracking.uri={shown}: cannot connect ({redact(reason)}); start the server or fix the URI"
        ) from None


def _check_server(uri: str, shown: str) -> None:
    import httpx

    try:
        response = httpx.get(uri.rstrip("/") + "/health", timeout=5)
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"tracking.uri={shown}: no MLflow tracking server answers ({type(exc).__name__}); start it "
            "(mlflow server ...) or fix the URI"
        ) from None
    if response.status_code >= 400:
        raise ConfigError(f"tracking.uri={shown}: the server answered HTTP {response.status_code} to /health")


def client_for(spec: TrackingSpec) -> RetryingClient:
    """A client of the configured store. A SQLite store is created (schema migrations) under a file
    lock, so concurrent first jobs do not race."""
    import mlflow
    from mlflow.tracking import MlflowClient

    quiet_libraries()
    check_store(spec.uri)
    prepare_store(spec.uri)
    uri = client_uri(spec.uri)
    mlflow.set_tracking_uri(uri)
    path = _sqlite_path(spec.uri)
    if path is None:
        return RetryingClient(MlflowClient(uri))
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = MlflowClient(uri)
            client.search_experiments(max_results=1)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return RetryingClient(client)


# MLflow 3's UI lists an experiment of this kind under "Model training", where it opens on its runs
# (in the UI's default GenAI mode an experiment opens on its trace overview whatever its kind)
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def experiment_id(client, spec: TrackingSpec) -> str:
    """The experiment named by config, created on first use (safe against a concurrent creator),
    tagged as model development (``EXPERIMENT_KIND``)."""
    found = client.get_experiment_by_name(spec.experiment)
    if found is not None:
        if found.tags.get("mlflow.experimentKind") is None:  # made before perplab set it
            client.set_experiment_tag(found.experiment_id, *next(iter(EXPERIMENT_KIND.items())))
        return found.experiment_id
    root = spec.artifact_root or default_artifact_root(spec.uri)
    try:
        return client.create_experiment(
            spec.experiment, artifact_location=root and f"{root}/{spec.experiment}", tags=EXPERIMENT_KIND
        )
    except Exception:
        found = client.get_experiment_by_name(spec.experiment)
        if found is None:
            raise
        return found.experiment_id


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``; lists as JSON; long values truncated."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            text = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)
            out[name] = text[:PARAM_LIMIT]
    return out


def git_info() -> dict[str, str]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}


TEXT_ARTIFACTS = {".yaml", ".yml", ".json", ".txt", ".html", ".csv", ".log"}


def _clean_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Params with credential-like keys' values and URL passwords masked."""
    return {
        k: MASK if SECRET_KEY.search(k.rsplit(".", 1)[-1]) and v not in (None, "", "None") else redact(str(v))
        for k, v in params.items()
    }


def _clean_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Tags with secrets masked (``command`` and ``hydra_overrides`` hold the command line)."""
    out = {}
    for k, v in tags.items():
        text = str(v)
        if k in ("command", "hydra_overrides"):
            text = " ".join(redact_override(w) for w in text.split(" "))
        out[k] = redact(text)
    return out


class TrackedRun:
    """One MLflow run; everything goes through batch calls."""

    def __init__(self, spec: TrackingSpec, run_name: str, tags: Mapping[str, str]):
        from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

        self.client = client_for(spec)
        self.experiment_id = experiment_id(self.client, spec)
        run_name = redact(run_name)
        tags = {MLFLOW_RUN_NAME: run_name, **_clean_tags(tags)}
        reap_once(self.client, spec)
        run = self.client.create_run(self.experiment_id, tags={**tags, **heartbeat_tags()}, run_name=run_name)
        self.run_id = run.info.run_id
        self.artifact_uri = run.info.artifact_uri
        self.heartbeat = Heartbeat(self.client, self.run_id, spec.heartbeat_s)

    @classmethod
    def attach(cls, spec: TrackingSpec, run_id: str) -> "TrackedRun":
        """Continue an existing run (a resumed search): it is RUNNING again and gets the new results."""
        self = cls.__new__(cls)
        self.client = client_for(spec)
        run = self.client.get_run(run_id)
        self.experiment_id = run.info.experiment_id
        self.run_id = run_id
        self.artifact_uri = run.info.artifact_uri
        reap_once(self.client, spec)
        self.set_tags(heartbeat_tags())
        self.client.update_run(run_id, status="RUNNING")
        self.heartbeat = Heartbeat(self.client, self.run_id, spec.heartbeat_s)
        return self

    def log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k[:250], v) for k, v in _clean_params(params).items()]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + BATCH])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[i : i + 1000])

    def log_series(self, series: Mapping[str, list[float]]) -> None:
        """Metrics with steps (one value per window or fold), in one batch per thousand values."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, vs in series.items() for step, v in enumerate(vs)]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[i : i + 1000])

    def log_dataset(self, name: str, digest: str, source: Mapping[str, Any], profile: Mapping[str, Any]) -> None:
        """The market data as an MLflow dataset input (the runs table's Dataset column, lineage)."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = Dataset(
            name=name,
            digest=digest[:36],
            source_type="local",
            source=redact(json.dumps(dict(source))),
            profile=json.dumps(dict(profile)),
        )
        context = InputTag("mlflow.data.context", "backtest")
        self.client.log_inputs(self.run_id, datasets=[DatasetInput(dataset, [context])])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)[:5000]) for k, v in _clean_tags(tags).items()]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, tags=items[i : i + BATCH])

    def log_files(self, files: Mapping[str, Any]) -> None:
        """Write ``name -> writer(path)`` into a temp folder and upload it at once (a name may hold
        folders: ``discovered/top.parquet``)."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, write in files.items():
                path = Path(tmp) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                write(path)
            for path in Path(tmp).rglob("*"):
                if path.suffix in TEXT_ARTIFACTS:
                    text = path.read_text(errors="replace")
                    clean = redact(text)
                    if clean != text:
                        path.write_text(clean)
            self.client.log_artifacts(self.run_id, tmp)

    def log_children(self, children: list[tuple[str, Mapping, Mapping[str, float], Mapping[str, str]]]) -> None:
        """Nested runs under this one, each ``(name, params, metrics, tags)``: three calls per child."""
        from mlflow.entities import Metric, Param
        from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

        now = int(time.time() * 1000)
        for name, params, metrics, tags in children:
            name = redact(name)
            child_tags = {MLFLOW_RUN_NAME: name, PARENT_TAG: self.run_id, **_clean_tags(tags)}
            run = self.client.create_run(self.experiment_id, start_time=now, tags=child_tags, run_name=name)
            self.client.log_batch(
                run.info.run_id,
                params=[Param(k[:250], str(v)[:PARAM_LIMIT]) for k, v in _clean_params(params).items()],
                metrics=[Metric(k, finite(float(v)), now, 0) for k, v in metrics.items()],
            )
            self.client.set_terminated(run.info.run_id, "FINISHED", end_time=now)

    def finish(self) -> None:
        self.heartbeat.stop()
        self.client.set_terminated(self.run_id, "FINISHED")

    def fail(self, error: BaseException) -> None:
        self.heartbeat.stop()
        message = redact(str(error).strip() or type(error).__name__)
        try:
            self.set_tags({"error": message.splitlines()[0], "error_type": type(error).__name__})
            self.log_files({"error.txt": lambda p: p.write_text(message + "\n")})
        finally:
            self.client.set_terminated(self.run_id, "FAILED")


_REAPED: set[str] = set()


def reap_once(client, spec: TrackingSpec) -> None:
    """Once per process and store: runs whose process died are marked KILLED (``runner.heartbeat``)."""
    if spec.uri in _REAPED:
        return
    _REAPED.add(spec.uri)
    try:
        reap(client, spec.heartbeat_timeout_s)
    except Exception as exc:  # never stop a job for the clean-up of others
        logging.getLogger(__name__).warning("could not check for dead runs: %s", redact(str(exc)))


def finite(value: float) -> float:
    """MLflow-safe metric value (infinite values are logged as the largest float)."""
    if math.isinf(value):
        return math.copysign(1.7976931348623157e308, value)
    return value
