"""``active_configs`` in PostgreSQL: the configuration each strategy trades as champion, written in
one transaction with the registry move (upsert on promotion, inactive on demotion)."""

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass

ENV_VAR = "PERPLAB_POSTGRES_URL"

DDL = """
CREATE TABLE IF NOT EXISTS active_configs (
    strategy text PRIMARY KEY,
    symbols text[] NOT NULL,
    params jsonb NOT NULL,
    leverage double precision NOT NULL CHECK (leverage >= 1),
    margin_mode text NOT NULL CHECK (margin_mode IN ('isolated', 'cross')),
    max_position_size double precision NOT NULL CHECK (max_position_size > 0),
    model_uri text NOT NULL,
    version integer NOT NULL,
    promoted_at timestamptz NOT NULL DEFAULT now(),
    active boolean NOT NULL DEFAULT true,
    deactivated_at timestamptz
)
"""

UPSERT = """
INSERT INTO active_configs
    (strategy, symbols, params, leverage, margin_mode, max_position_size, model_uri, version, promoted_at, active,
     deactivated_at)
VALUES (%(strategy)s, %(symbols)s, %(params)s::jsonb, %(leverage)s, %(margin_mode)s, %(max_position_size)s,
        %(model_uri)s, %(version)s, now(), true, NULL)
ON CONFLICT (strategy) DO UPDATE SET
    symbols = EXCLUDED.symbols, params = EXCLUDED.params, leverage = EXCLUDED.leverage,
    margin_mode = EXCLUDED.margin_mode, max_position_size = EXCLUDED.max_position_size,
    model_uri = EXCLUDED.model_uri, version = EXCLUDED.version, promoted_at = EXCLUDED.promoted_at,
    active = true, deactivated_at = NULL
"""

DEACTIVATE = """
UPDATE active_configs SET active = false, deactivated_at = now()
WHERE strategy = %(strategy)s AND version = ANY(%(versions)s) AND active
"""


@dataclass(frozen=True)
class ActiveConfig:
    strategy: str
    symbols: list[str]
    params: dict
    leverage: float
    margin_mode: str
    max_position_size: float
    model_uri: str
    version: int


def postgres_url(configured: str | None) -> str | None:
    """``promote.postgres_url``, else ``$PERPLAB_POSTGRES_URL``, else none (no table written)."""
    return configured or os.environ.get(ENV_VAR) or None


def _connect(url: str, key: str = "promote.postgres_url"):
    import psycopg

    from runner.errors import ConfigError
    from runner.redact import redact

    try:
        return psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{key}={redact(url)}: cannot connect ({redact(reason)}); nothing changed") from None


def probe(url: str | None, key: str = "promote.postgres_url") -> None:
    """Fail now (one line, nothing changed) when active_configs' database cannot be reached."""
    if url:
        _connect(url, key).close()


SELECT_ACTIVE = """
SELECT strategy, symbols, params, leverage, margin_mode, max_position_size, model_uri, version
FROM active_configs WHERE strategy = %(strategy)s AND active
"""


def read_active(url: str, strategy: str, key: str = "paper.postgres_url") -> ActiveConfig | None:
    """The strategy's active row, or None (also when the table does not exist yet)."""
    import psycopg

    with _connect(url, key) as con, con.cursor() as cur:
        try:
            cur.execute(SELECT_ACTIVE, {"strategy": strategy})
        except psycopg.errors.UndefinedTable:
            return None
        row = cur.fetchone()
    if row is None:
        return None
    strategy, symbols, params, leverage, mode, size, uri, version = row
    return ActiveConfig(strategy, list(symbols), dict(params), float(leverage), mode, float(size), uri, int(version))


@contextmanager
def transaction(url: str | None):
    """A cursor inside one transaction (committed when the block ends cleanly), or None without a URL."""
    if not url:
        yield None
        return
    import psycopg

    from runner.errors import ConfigError
    from runner.redact import redact

    try:
        con = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"promote.postgres_url={redact(url)}: cannot connect ({redact(reason)}); nothing changed"
        ) from None
    with con:  # commits when the block ends, rolls back on error
        with con.cursor() as cur:
            cur.execute(DDL)
            yield cur


def upsert(cur, row: ActiveConfig) -> None:
    args = {**row.__dict__, "params": json.dumps(row.params, sort_keys=True)}
    cur.execute(UPSERT, args)


def deactivate(cur, strategy: str, versions: list[int]) -> int:
    cur.execute(DEACTIVATE, {"strategy": strategy, "versions": versions})
    return cur.rowcount
