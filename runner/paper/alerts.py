"""Alerts (``conf/alerts``): events of the kinds in ``alerts.events`` (breaker trips, liquidations, errors,
drift beyond ``paper.max_drift``) sent to the Telegram Bot API or a webhook as they are logged.

Secrets (the bot token, a webhook URL's credentials) are read from the environment and appear in
no message, log, MLflow record or output: a failed delivery is reported by its HTTP status only.
A delivery that fails is an ``alert_failed`` event; trading goes on.
"""

import os
from dataclasses import dataclass

import httpx

from runner.errors import ConfigError

KINDS = ("none", "telegram", "webhook")
EVENT_KINDS = ("breaker", "liquidation", "error", "drift", "breaker_exit", "reconnect", "fill", "exit", "order")


@dataclass(frozen=True)
class AlertSpec:
    kind: str
    on: tuple[str, ...] = ()
    url: str = ""  # telegram: the API's base URL; webhook: the target (from the environment)
    token: str = ""  # telegram: the bot token (from the environment)
    chat: str = ""
    timeout_s: float = 10.0


def alert_spec(raw: dict) -> AlertSpec:
    """Validated ``alerts.*``; the environment variables they name must be set."""
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"alerts.kind={kind!r}: valid: {', '.join(KINDS)} (alerts=none|telegram|webhook)")
    if kind == "none":
        return AlertSpec("none")
    on = raw.get("events") or []
    bad = [k for k in on if k not in EVENT_KINDS] if isinstance(on, list) else [on]
    if bad:
        raise ConfigError(f"alerts.events: unknown event kind {bad[0]!r}; valid: {', '.join(EVENT_KINDS)}")
    timeout = raw.get("timeout_s", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 120:
        raise ConfigError(f"alerts.timeout_s={timeout!r}: must be seconds from 0 to 120")

    def env(key: str) -> str:
        name = raw.get(key)
        value = os.environ.get(str(name), "") if name else ""
        if not value:
            raise ConfigError(
                f"alerts.{key} names {name}, which is not set in the environment (alerts={kind} needs it)"
            )
        return value

    if kind == "telegram":
        api = raw.get("api_url")
        if not isinstance(api, str) or not api.startswith(("http://", "https://")):
            raise ConfigError(f"alerts.api_url={api!r}: must be an http(s) URL like https://api.telegram.org")
        return AlertSpec(kind, tuple(on), api.rstrip("/"), env("token_env"), env("chat_env"), float(timeout))
    url = env("url_env")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"alerts.url_env names {raw.get('url_env')}, which must hold an http(s) URL")
    return AlertSpec(kind, tuple(on), url, timeout_s=float(timeout))


def alert_text(event: dict) -> str:
    """One line a person reads: session, kind, bar time and the event's fields."""
    skip = {"seq", "session", "bar", "time", "kind"}
    fields = ", ".join(
        f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in event.items() if k not in skip
    )
    return f"perplab {event.get('session')}: {event.get('kind')} at {event.get('time')}" + (
        f" ({fields})" if fields else ""
    )


class Notifier:
    """Sends the events whose kind is in ``spec.on``."""

    def __init__(self, spec: AlertSpec):
        self.spec = spec
        self.client = httpx.Client(timeout=spec.timeout_s) if spec.kind != "none" else None
        self.sent = 0

    def deliver(self, events: list[dict]) -> list[tuple[str, dict]]:
        """Send the alerting ``events``; an ``alert_failed`` event for each one that could not be sent."""
        failed = []
        for event in events:
            if self.client is None or event.get("kind") not in self.spec.on:
                continue
            try:
                response = self._post(event)
                status = response.status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            if status == 200 or status == 204:
                self.sent += 1
            else:
                failed.append(("alert_failed", {"alert": event.get("kind"), "to": self.spec.kind, "status": status}))
        return failed

    def _post(self, event: dict) -> httpx.Response:
        if self.spec.kind == "telegram":
            url = f"{self.spec.url}/bot{self.spec.token}/sendMessage"
            return self.client.post(url, json={"chat_id": self.spec.chat, "text": alert_text(event)})
        return self.client.post(self.spec.url, json={**event, "text": alert_text(event)})

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
