"""One copy of plotly.js per MLflow store: an ``assets`` run in the experiment ``perplab-assets``
holds it, and every page perplab writes (report, sweep summary, search history) loads it from there
instead of embedding its 4.6 MB again.

A page tries, in order: the tracking server's ``/get-artifact`` endpoint (the page viewed in the
MLflow UI), then the path relative to the page (the page opened from a local artifact store). The
file is named ``.mjs`` because MLflow serves ``.js`` artifacts as text/plain, which a browser will
not run."""

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

ASSETS_EXPERIMENT = "perplab-assets"
FILE = "plotly.min.mjs"
KIND = "assets"


@dataclass(frozen=True)
class SharedPlotly:
    """Where the store's plotly.js lives: the assets run and its artifact root."""

    run_id: str
    artifact_uri: str

    def sources(self, page_uri: str) -> list[str]:
        """The URLs a page at ``page_uri`` (its artifact URI) tries for plotly.js."""
        urls = [f"/get-artifact?path={FILE}&run_uuid={self.run_id}"]
        here, there = _local(page_uri), _local(f"{self.artifact_uri}/{FILE}")
        if here is not None and there is not None:
            urls.append(Path(os.path.relpath(there, here.parent)).as_posix())
        return urls


def _local(uri: str) -> Path | None:
    """The file path of a local artifact URI (``/x``, ``file:///x``), else None."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None


class PageLinks:
    """Where a page of ``run`` (a ``TrackedRun``) loads plotly.js from: the store's shared copy, made
    on first use; call it with the page's artifact path."""

    def __init__(self, run, tracking) -> None:
        self.run, self.tracking, self.shared = run, tracking, None

    def __call__(self, path: str) -> list[str]:
        if self.shared is None:
            self.shared = shared_plotly(self.run.client, self.tracking)
        return self.shared.sources(f"{self.run.artifact_uri}/{path}")


def shared_plotly(client, tracking) -> SharedPlotly:
    """The store's assets run for the installed plotly version, created with plotly.js the first time
    (two jobs creating it at once make two copies, both valid)."""
    from dataclasses import replace

    import plotly

    from runner.tracking import experiment_id

    exp = experiment_id(client, replace(tracking, experiment=ASSETS_EXPERIMENT))
    query = f"tags.`perplab.kind` = '{KIND}' and tags.plotly_version = '{plotly.__version__}'"
    found = client.search_runs([exp], query, order_by=["attributes.start_time ASC"], max_results=10)
    done = [r for r in found if r.info.status == "FINISHED"]
    if done:
        return SharedPlotly(done[0].info.run_id, done[0].info.artifact_uri)
    return _create(client, exp, plotly.__version__)


def _create(client, experiment: str, version: str) -> SharedPlotly:
    import tempfile

    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
    from plotly.offline import get_plotlyjs

    name = f"plotly.js {version} for perplab's pages"
    tags = {MLFLOW_RUN_NAME: name, "perplab.kind": KIND, "plotly_version": version}
    run = client.create_run(experiment, tags=tags, run_name=name)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / FILE
        path.write_text(get_plotlyjs())
        client.log_artifact(run.info.run_id, str(path))
    client.set_terminated(run.info.run_id, "FINISHED")
    return SharedPlotly(run.info.run_id, run.info.artifact_uri)
