"""The Optuna storage perplab opens: SQLite in WAL mode, synced at checkpoints on every connection."""

import pickle
import threading

from sqlalchemy import text

from runner.search import study as st


def _settings(engine) -> tuple:
    with engine.connect() as con:
        return con.execute(text("PRAGMA journal_mode")).scalar(), con.execute(text("PRAGMA synchronous")).scalar()


def test_every_sqlite_connection_is_wal_synced_at_checkpoints(tmp_path) -> None:
    store = st.storage(f"sqlite:///{tmp_path / 'deep' / 'optuna.db'}")
    seen = [_settings(store.engine)]
    with store.engine.connect():  # the first connection busy: the thread's is another one
        worker = threading.Thread(target=lambda: seen.append(_settings(store.engine)))  # as the heartbeat's
        worker.start()
        worker.join()
    seen.append(_settings(pickle.loads(pickle.dumps(store)).engine))  # an unpickled copy builds its own engine
    assert seen == [("wal", 1)] * 3  # 1: NORMAL (2: FULL, SQLite's default)
    assert store.engine.pool.checkedout() == 0
