"""Resuming a killed multirun: ``python -m runner ... -m resume=<sweep id>|last``.

The sweep's own run (created when the sweep starts) records its command and output folder; a
resumed sweep runs that command again under the same sweep id and output folder, and each job
whose composed config already FINISHED in that sweep (matched by ``config_hash``) returns the
recorded objective without running again.
"""

import hashlib
import os
import shlex

from omegaconf import DictConfig, OmegaConf

from runner.errors import ConfigError

RESUME_ENV = "PERPLAB_RESUME"  # the sweep id a resumed sweep's jobs look up
HASH_TAG = "config_hash"
OUTPUT_TAG = "sweep_output"  # the sweep's Hydra output folder
RESUME_KEYS = ("resume", "+resume", "++resume")


def config_hash(cfg: DictConfig) -> str:
    """A job's identity within its sweep: its composed config (resolved), hashed."""
    try:
        text = OmegaConf.to_yaml(cfg, resolve=True, sort_keys=True)
    except Exception:  # an unresolvable config: the job fails on it (and is matched by its text)
        text = OmegaConf.to_yaml(cfg, resolve=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def split_resume(args: list[str]) -> tuple[str | None, list[str]]:
    """The ``resume=`` value of a command line (None without one) and the other arguments."""
    value, rest = None, []
    for arg in args:
        key, eq, val = arg.partition("=")
        if eq and key in RESUME_KEYS:
            value = val.strip()
        else:
            rest.append(arg)
    return value, rest


def _search(client, query: str, max_results: int = 10_000, order_by: list[str] | None = None) -> list:
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, query, max_results=max_results, order_by=order_by) if ids else []


def sweep_run(client, value: str):
    """The sweep-level run that ``resume=<value>`` names (``last``: the latest started sweep)."""
    if value == "last":
        found = _search(client, "tags.`perplab.kind` = 'sweep'", 1, ["attributes.start_time DESC"])
    else:
        found = _search(client, f"tags.`perplab.kind` = 'sweep' and tags.sweep_dir = '{_quoted(value)}'", 1)
    if not found:
        recent = _search(client, "tags.`perplab.kind` = 'sweep'", 5, ["attributes.start_time DESC"])
        ids = ", ".join(r.data.tags.get("sweep_dir", "?") for r in recent) or "none in this store"
        raise ConfigError(f"resume={value}: no such sweep in the tracking store; recent sweep ids: {ids}")
    return found[0]


def _quoted(value: str) -> str:
    if "'" in value or "\\" in value:
        raise ConfigError(f"resume={value}: not a sweep id (the 12-character id a sweep prints, or 'last')")
    return value


def resumed_args(args: list[str], run, flags: set[str]) -> list[str]:
    """The command line of the recorded sweep; the arguments given with ``resume=`` must be among
    its own (e.g. the ``tracking.uri`` that finds the store), else one line naming the difference."""
    from runner.preflight import expand_shorthand

    recorded = expand_shorthand(shlex.split(run.data.tags.get("command", "")))
    given = [a for a in args if a not in flags]
    extra = [a for a in given if a not in recorded]
    sweep_id = run.data.tags.get("sweep_dir", "?")
    if extra:
        shown = " ".join(recorded)
        raise ConfigError(
            f"resume={sweep_id}: {extra[0]} is not an argument of that sweep ({shown}); a resumed sweep "
            "runs its own command: give resume= alone or with that command's arguments"
        )
    if any("***" in a for a in recorded):
        raise ConfigError(
            f"resume={sweep_id}: the sweep's recorded command has masked secrets; give its whole command again "
            "with resume="
        )
    output = run.data.tags.get(OUTPUT_TAG)
    out = [*(a for a in recorded if a not in flags), "-m"]
    return out + ([f"hydra.sweep.dir={output}"] if output else [])


def finished_job(client, sweep_id: str, digest: str):
    """The FINISHED job run of sweep ``sweep_id`` with this config hash, if any."""
    query = (
        f"tags.sweep_id = '{_quoted(sweep_id)}' and tags.{HASH_TAG} = '{digest}' "
        "and attributes.status = 'FINISHED' and tags.`perplab.kind` = 'job'"
    )
    found = _search(client, query, 1)
    return found[0] if found else None


def resuming() -> str:
    """The sweep id being resumed ('' when not resuming)."""
    return os.environ.get(RESUME_ENV, "")


def latest_per_job(runs: list) -> list:
    """One run per job of a (resumed) sweep: for each config hash, its FINISHED run, else its latest;
    runs without a hash (older perplab) all count."""
    chosen: dict[str, object] = {}
    out = []
    for run in sorted(runs, key=lambda r: r.info.start_time or 0):
        digest = run.data.tags.get(HASH_TAG)
        if digest is None:
            out.append(run)
            continue
        held = chosen.get(digest)
        if held is None or held.info.status != "FINISHED":
            chosen[digest] = run
    return out + list(chosen.values())
