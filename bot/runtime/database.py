"""The state-database port: one SQLAlchemy engine per URL, shared by everything that replicas
must agree on (Slack retry de-duplication, feedback votes, the document registry, the lexical
index). SQLite in the data dir by default; PostgreSQL (`postgresql+psycopg://…`) when several
replicas run. Each owner module defines its tables on its own `MetaData` and creates them with
`ensure_tables`.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bot.runtime.settings import Settings

log = logging.getLogger(__name__)

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets readers (running servers) proceed while an ingest writes; the busy timeout makes
    # a second writer wait instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def normalise_url(url: str) -> str:
    """`postgresql://…` (and `postgres://…`) as the psycopg 3 driver URL SQLAlchemy needs."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url.removeprefix(bare)
    return url


def engine_for(settings: Settings) -> Engine:
    """The engine for the configured state database (created once per URL per process)."""
    return engine_at(settings.database)


def engine_at(url: str) -> Engine:
    """The engine for a state-database URL (created once per URL per process)."""
    url = normalise_url(url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": 10})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                # a database that does not answer fails in seconds, not at the TCP timeout
                args = {"connect_timeout": 5} if url.startswith("postgresql+psycopg") else {}
                engine = create_engine(url, pool_pre_ping=True, connect_args=args)
            _engines[url] = engine
    return engine


def ensure_tables(engine: Engine, metadata: MetaData) -> None:
    """Create the tables of `metadata` that do not exist yet (idempotent, safe across processes)."""
    for attempt in range(5):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except DBAPIError:
            # Another replica (or thread) created a table between our check and our CREATE;
            # the next pass sees it and creates only what is still missing.
            if attempt == 4:
                raise


F = TypeVar("F", bound=Callable[..., Any])


def unavailable_returns(default: Callable[[], Any]) -> Callable[[F], F]:
    """Decorate a read method so it answers `default()` (and logs) while the state database is
    unreachable; the caller degrades (e.g. retrieval on dense search alone) instead of failing.
    The method's object may define `_ensure()` to (re)create its tables first."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                if hasattr(self, "_ensure"):
                    self._ensure()
                return fn(self, *args, **kwargs)
            except SQLAlchemyError as exc:
                log.warning("state database unavailable for %s: %s", fn.__name__, exc)
                return default()

        return call  # type: ignore[return-value]

    return wrap
