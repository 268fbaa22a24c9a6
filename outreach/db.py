"""Engine, sessions and the one place where transactions commit.

Services never commit. The request boundary (`SessionDep`) and the task boundary
(`unit_of_work`) do, and only after a successful commit do they run the callbacks
registered with `after_commit` (typically: wake a Celery worker). A rolled-back
transaction therefore never enqueues a job for a row that does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends
from sqlalchemy import event, insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, create_engine

from outreach.config import get_settings
from outreach.encryption import service as encryption

log = logging.getLogger(__name__)

_AFTER_COMMIT = "outreach_after_commit"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The API, worker and beat are separate processes sharing one file: WAL lets
    # readers run beside the writer, and the busy timeout makes writers wait
    # instead of failing with "database is locked".
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Take the write lock at BEGIN so two writers queue on busy_timeout rather than
    # deadlocking when both upgrade from a read lock. `sqlite_begin=None` (tests,
    # read-only tools) runs each statement in autocommit and always sees fresh data.
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    if mode:
        conn.exec_driver_sql(f"BEGIN {mode}")


def build_engine(url: str) -> Engine:
    """Create an engine for `url` with the settings each back end needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, pool_pre_ping=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_txn(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    return build_engine(get_settings().database_url)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction has committed."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The row is committed; the sweeper will pick it up. Never fail the request.
            log.exception("post-commit callback failed; the sweeper will retry")


@contextmanager
def unit_of_work(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success, rolls back on error, then runs post-commit work."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        session.info.pop(_AFTER_COMMIT, None)
        raise
    finally:
        session.close()
    _run_after_commit(session)


# Commits and rollbacks get their own thread pool. Sync endpoints hold a worker
# thread while they wait for a database connection; if the commit (which frees the
# connection) needed one of those same threads, a burst of requests would hold every
# connection while waiting for threads held by requests waiting for connections.
# For the same reason, routes using SessionDep declare `response_model=None`: FastAPI
# validates a sync endpoint's return value in the shared thread pool, before the
# commit.
_END_OF_REQUEST_THREADS = 32


@lru_cache
def _end_of_request_limiter() -> anyio.CapacityLimiter:
    return anyio.CapacityLimiter(_END_OF_REQUEST_THREADS)


def _finish(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()
    _run_after_commit(session)


def _abandon(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)
    try:
        session.rollback()
    finally:
        session.close()


async def get_session() -> AsyncIterator[Session]:
    """Request-scoped unit of work: commit on success, roll back on error."""
    session = Session(get_engine(), expire_on_commit=False)
    try:
        yield session
    except BaseException:
        await anyio.to_thread.run_sync(_abandon, session, limiter=_end_of_request_limiter())
        raise
    # One thread hop for commit, close and the post-commit work.
    await anyio.to_thread.run_sync(_finish, session, limiter=_end_of_request_limiter())


# scope="function": commit when the endpoint returns, before the response is sent,
# so a reply never claims success for work that did not commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


M = TypeVar("M", bound=SQLModel)


@lru_cache(maxsize=256)
def _insert_statement(table: Any, dialect: str, conflict: tuple[str, ...] | None) -> Any:
    # Built once per table: the values travel as parameters, so SQLAlchemy neither
    # coerces each value into the statement nor recomputes its cache key on every call.
    # `conflict`: the unique columns whose clash skips the row; () none; None any.
    stmt: Any
    if conflict is None or conflict:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(table)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(table)
        stmt = stmt.on_conflict_do_nothing(
            index_elements=list(conflict) if conflict is not None else None
        )
    else:
        stmt = insert(table)
    return stmt.returning(*table.primary_key.columns)


def _row_insert(session: Session, row: SQLModel, conflict: Sequence[str]) -> Any:
    table: Any = type(row).__table__  # type: ignore[attr-defined]
    # Blind indexes are written with the row: this path skips the ORM's insert events.
    encryption.fill(row)
    values = {
        c.key: getattr(row, c.key)
        for c in table.columns
        if not (c.primary_key and getattr(row, c.key) is None)
    }
    stmt = _insert_statement(table, session.get_bind().dialect.name, tuple(conflict))
    return session.execute(stmt, values).first()


def _attach(session: Session, row: M, key: Any) -> M:
    table: Any = type(row).__table__  # type: ignore[attr-defined]
    for column, value in zip(table.primary_key.columns, key, strict=True):
        setattr(row, column.key, value)
    # As if loaded from the database: later changes flush as UPDATEs, reads hit the map.
    make_transient_to_detached(row)
    session.add(row)
    return row


def insert_row(session: Session, row: M) -> M:
    """INSERT one new model instance in a single statement and keep it in the session.

    The ORM's flush costs several times a plain INSERT in CPU; the hot paths (the
    confirming USSD hop, outbox writes) use this instead of `add` + `flush`.
    """
    return _attach(session, row, _row_insert(session, row, ()))


def insert_new(session: Session, row: M, *, conflict: Sequence[str]) -> M | None:
    """`insert_row`, or None when a row with the same `conflict` columns already exists."""
    key = _row_insert(session, row, conflict)
    return None if key is None else _attach(session, row, key)


def insert_ignore(session: Session, model: type[Any], values: dict[str, Any]) -> bool:
    """INSERT that silently skips a unique-constraint conflict; True when a row was added."""
    table = model.__table__
    stmt = _insert_statement(table, session.get_bind().dialect.name, None)
    # RETURNING tells a skipped row from an inserted one on both back ends (rowcount
    # is -1 on PostgreSQL once SQLAlchemy adds its own RETURNING).
    result = session.execute(stmt, encryption.derive(table, dict(values)))
    return result.first() is not None
