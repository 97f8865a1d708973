"""Alerts against a loopback stand-in for the Telegram Bot API: a high-leverage RSI with circuit
breakers, replayed, sends one message per breaker trip and per liquidation (and per drift event);
the bot token reaches no log, event, state, MLflow record or output file."""

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
from mlflow.tracking import MlflowClient

from tests.runner.conftest import JOB
from tests.runner.paper.conftest import REPLAY, paper
from tests.runner.promote.test_promote import promote
from tests.runner.test_cli import cli

TOKEN = "123456:SECRET-token-do-not-log"
ALERTING = ("breaker", "liquidation", "drift", "error")


class TelegramStandIn:
    """``POST /bot<token>/sendMessage`` recorded; answers like the Bot API."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.messages.append((self.path, body))
                reply = json.dumps({"ok": True, "result": {"message_id": len(outer.messages)}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def telegram():
    srv = TelegramStandIn()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def alerting(store) -> Path:
    """A version of perplab-rsi at leverage 20 with circuit breakers, behind the alias ``alerts``."""
    db, _ = store
    job = [a for a in JOB if not a.startswith("leverage=")]
    out = cli(db.parent, *job, "leverage=20", "risk=breakers", store=db)
    assert out.returncode == 0, out.stderr
    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("perplab-rsi").experiment_id
    (run,) = client.search_runs([exp], "params.`leverage.value` = '20'")
    gates_off = [
        f"promote.gates.{g}=null" for g in ("max_drawdown", "min_trades", "no_liquidation", "require_survivor")
    ]
    assert promote(db, f"promote.run_id={run.info.run_id}", "promote.stage=none", *gates_off).returncode == 0
    version = max(int(v.version) for v in client.search_model_versions("name = 'perplab-rsi'"))
    client.set_registered_model_alias("perplab-rsi", "alerts", str(version))
    return db


def test_breaker_trips_and_liquidations_each_send_one_message(alerting, telegram) -> None:
    db = alerting
    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("perplab-rsi").experiment_id
    env = {"PERPLAB_TELEGRAM_TOKEN": TOKEN, "PERPLAB_TELEGRAM_CHAT_ID": "42"}
    args = ("strategy=rsi", "paper.alias=alerts", "paper.session=alerts", "alerts=telegram")
    out = paper(db, *args, f"alerts.api_url={telegram.url}", *REPLAY, env=env)
    assert out.returncode == 0, out.stderr

    events = pl.read_ndjson(db.parent / "paper-events.jsonl", infer_schema_length=None).filter(
        pl.col("session") == "alerts"
    )
    kinds = events["kind"].to_list()
    assert kinds.count("breaker") >= 1 and kinds.count("liquidation") >= 1
    assert len(telegram.messages) == sum(kinds.count(k) for k in ALERTING)  # one message per alerting event
    assert {path for path, _ in telegram.messages} == {f"/bot{TOKEN}/sendMessage"}
    texts = [body["text"] for _, body in telegram.messages]
    assert all(body["chat_id"] == "42" for _, body in telegram.messages)
    assert sum(" breaker at " in t for t in texts) == kinds.count("breaker")
    assert sum(" liquidation at " in t for t in texts) == kinds.count("liquidation")
    assert "alert_failed" not in kinds

    secret = TOKEN.split(":")[1]
    assert secret not in out.stdout + out.stderr
    # every file: the event log, the state, the MLflow store and artifacts, Hydra's outputs. Read by
    # another process: opening a SQLite file here would drop this process's locks on it (POSIX locks are
    # per process), and the store this process has open could then be corrupted by the next writer
    found = subprocess.run(["grep", "-rlF", secret, str(db.parent)], capture_output=True, text=True)
    assert found.returncode == 1 and not found.stdout, found.stdout
    (session_run,) = client.search_runs([exp], "tags.session = 'alerts'")
    recorded = json.dumps([session_run.data.params, session_run.data.tags])
    assert secret not in recorded


@pytest.mark.parametrize(
    "args, env, message",
    [
        (
            ["alerts=telegram"],
            {},
            "error: alerts.token_env names PERPLAB_TELEGRAM_TOKEN, which is not set in the environment",
        ),
        (
            ["alerts=webhook"],
            {},
            "error: alerts.url_env names PERPLAB_ALERT_WEBHOOK, which is not set in the environment",
        ),
        (
            ["alerts=telegram", "alerts.events=[breaker,lunch]"],
            {"PERPLAB_TELEGRAM_TOKEN": TOKEN},
            "error: alerts.events: unknown event kind 'lunch'",
        ),
    ],
)
def test_bad_alert_settings_are_one_line_exit_2(store, args, env, message) -> None:
    db, _ = store
    out = paper(db, "strategy=rsi", "paper.session=bad-alerts", *args, *REPLAY, env=env)
    assert out.returncode == 2 and out.stderr.startswith(message), out.stderr
    assert TOKEN not in out.stderr


@pytest.mark.parametrize("reachable", [True, False])
def test_a_webhook_gets_each_event_as_json(alerting, telegram, reachable: bool) -> None:
    """A webhook receives each alerting event's fields; an unreachable one leaves an alert_failed event
    per alert, and the session trades on."""
    db = alerting
    url = f"{telegram.url}/hook?key=abc" if reachable else "http://127.0.0.1:9/hook?key=abc"
    session = f"webhook-{reachable}"
    args = ("strategy=rsi", "paper.alias=alerts", f"paper.session={session}", "alerts=webhook", *REPLAY)
    out = paper(db, *args, env={"PERPLAB_ALERT_WEBHOOK": url})
    assert out.returncode == 0, out.stderr
    events = pl.read_ndjson(db.parent / "paper-events.jsonl", infer_schema_length=None).filter(
        pl.col("session") == session
    )
    alerting_events = sum(events["kind"].to_list().count(k) for k in ALERTING)
    assert alerting_events > 0
    hooks = [body for path, body in telegram.messages if path == "/hook?key=abc"]
    if reachable:
        assert len(hooks) == alerting_events
        assert all(body["session"] == session and body["kind"] in ALERTING and body["text"] for body in hooks)
    else:
        assert not hooks and events["kind"].to_list().count("alert_failed") == alerting_events
