"""Database plumbing: the declarative base, engines, and session ownership.

Nothing here runs at import time: engines are built by the application factory or a command,
and sessions are handed to business code, which never commits on its own.

Every session carries the clock of whoever opened it (`make_session_factory(..., clock=)`):
rows get their creation time from it (`insert_stamp` columns), and ORM listeners, which have
only the session, read "now" from it with `clock_of`. A session without a clock refuses to
stamp a row rather than fall back to the wall clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, Enum, MetaData, create_engine, event, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, MappedColumn, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from frontdesk.clock import Clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic needs them on SQLite)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; refuses naive ones so a wall-clock time never sneaks in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        # SQLite keeps no offset; store plain UTC so comparisons in SQL stay correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(cls: type[enum.StrEnum]) -> Enum:
    """Store a string enum by value as a short string (portable, readable in SQL)."""
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


CLOCK_KEY = "frontdesk.clock"
_STAMP_KEY = "frontdesk.insert_stamp"


class SessionWithoutClockError(RuntimeError):
    """A session was asked for the time but was opened without a clock."""


def insert_stamp() -> MappedColumn[Any]:
    """A UTC time column that the session fills from its clock when a new row leaves it unset."""
    return mapped_column(UTCDateTime(), info={_STAMP_KEY: True})


def clock_of(session: Session) -> Clock:
    """The clock of the unit of work `session` belongs to.

    Raises:
        SessionWithoutClockError: The session was not built by `make_session_factory` (or
            given `info={CLOCK_KEY: clock}`).
    """
    clock: Clock | None = session.info.get(CLOCK_KEY)
    if clock is None:
        raise SessionWithoutClockError(
            "this session has no clock: build it with make_session_factory(engine, clock=...)"
        )
    return clock


_stamped_by_class: dict[type[Any], tuple[str, ...]] = {}


def _stamped_attributes(cls: type[Any]) -> tuple[str, ...]:
    found = _stamped_by_class.get(cls)
    if found is None:
        mapper = inspect(cls)
        found = tuple(
            mapper.get_property_by_column(column).key
            for column in mapper.columns
            if column.info.get(_STAMP_KEY)
        )
        _stamped_by_class[cls] = found
    return found


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, _context: object, _instances: object) -> None:
    now: datetime | None = None
    for instance in session.new:
        for key in _stamped_attributes(type(instance)):
            if getattr(instance, key) is None:
                now = now or clock_of(session)()
                setattr(instance, key, now)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the per-dialect settings the project relies on."""
    # Bound parameters can be patient data; keep them out of exception text and logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    else:
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("connect_args", {"connect_timeout": 5})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT, which booking relies on; take
    # over BEGIN ourselves (the SQLAlchemy-documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets readers run beside the writer.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, so transactions queue on busy_timeout instead
    # of failing with "database is locked" when a read-then-write (booking) loses a race in
    # WAL mode. Units of work are short; serialising them is the embedded default's price.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine, *, clock: Clock) -> sessionmaker[Session]:
    """A session factory bound to `engine` whose sessions tell time by `clock`.

    Objects stay usable after commit.
    """
    return sessionmaker(bind=engine, expire_on_commit=False, info={CLOCK_KEY: clock})


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
