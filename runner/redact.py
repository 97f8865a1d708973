"""Secrets never leave the process: every writer (MLflow params, tags and artifacts, Hydra's output
files, printed errors) passes its text through here.

A secret is the password (or token) in a URL's user info, the value of a credential-like key
(``*password*``, ``*passwd*``, ``*token*``, ``*secret*``, ``*api_key*``, ``*credential*``) in a
config tree, an override ``key=value`` or a ``key=value`` / ``key: value`` text, and the value of
``$PERPLAB_TRACKING_URL`` / ``$PERPLAB_POSTGRES_URL`` / ``$MLFLOW_TRACKING_URI`` wherever it shows.
"""

import os
import re
from typing import Any

MASK = "***"
SECRET_KEY = re.compile(r"pass(word|wd)?$|pwd|token|secret|api[_-]?key|credential|private[_-]?key", re.I)
_URL_USERINFO = re.compile(r"([a-z][a-z0-9+.\-]*://[^:/@\s'\"]*):([^@/\s'\"]*)@", re.I)
_KEY_VALUE = re.compile(
    r"((?:^|[\s,;&?{(\"'])[\w.\-]*(?:password|passwd|pwd|token|secret|api[_-]?key|credential)[\w\-]*"
    r"\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&}\"')]+)",
    re.I,
)
ENV_SECRETS = ("PERPLAB_TRACKING_URL", "PERPLAB_POSTGRES_URL", "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_PASSWORD")


def _env_passwords() -> list[str]:
    """Passwords held in the environment's URLs (they may be printed by libraries in other forms)."""
    out = []
    for name in ENV_SECRETS:
        value = os.environ.get(name, "")
        m = _URL_USERINFO.search(value)
        if m and m.group(2):
            out.append(m.group(2))
        elif name.endswith("PASSWORD") and value:
            out.append(value)
    return out


def redact(text: Any) -> Any:
    """``text`` with URL passwords, credential-like ``key=value`` values and the environment's
    passwords replaced by ``***`` (anything not a string is returned as it is)."""
    if not isinstance(text, str):
        return text
    out = _URL_USERINFO.sub(rf"\1:{MASK}@", text)
    out = _KEY_VALUE.sub(lambda m: m.group(1) + MASK, out)
    for secret in _env_passwords():
        if len(secret) >= 4:
            out = out.replace(secret, MASK)
    return out


def redact_tree(node: Any, key: str = "") -> Any:
    """A config tree (dicts, lists, scalars) with every secret masked: credential-like keys lose
    their values, strings lose URL passwords."""
    if isinstance(node, dict):
        return {k: redact_tree(v, str(k)) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [redact_tree(v, key) for v in node]
    if key and SECRET_KEY.search(key.rsplit(".", 1)[-1]) and node not in (None, ""):
        return MASK
    return redact(node)


def redact_override(text: str) -> str:
    """One ``key=value`` override with a credential-like key's value (or a URL password) masked."""
    key, sep, value = text.partition("=")
    if sep and SECRET_KEY.search(key.lstrip("+~").rsplit(".", 1)[-1]):
        return f"{key}={MASK}"
    return redact(text)
