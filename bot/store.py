"""What people asked, how they voted and what admins taught, kept through SQLAlchemy Core: a SQLite file by
default, PostgreSQL when `DATABASE_URL` says so. Blocking calls; the bot reaches it through `bot.recorder`."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Literal, get_args

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from knowledge.result import Status

Surface = Literal["mention", "dm", "slash", "thread"]  # thread: a follow-up in a thread the bot answered in
SURFACES: tuple[Surface, ...] = get_args(Surface)

# Raise it with every change to the tables below, and add the step from the previous version to MIGRATIONS (and a new
# table to ADDED_IN).
SCHEMA_VERSION = 2
# The oldest version the reading commands (`read_only`) read as it is: tables added since then read as empty. Raise it
# to the version of a migration that changes a table they read, rather than adding one.
OLDEST_READABLE = 1

metadata = MetaData()
meta = Table(
    "openllm_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)
questions = Table(
    "openllm_questions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asked_at", DateTime, nullable=False, index=True),  # UTC, without a zone: SQLite keeps none
    Column("surface", String(16), nullable=False),
    Column("team", String(32)),
    Column("channel", String(32)),
    Column("user_hash", String(64)),
    Column("outcome", String(16), nullable=False),
    Column("entry_id", String(128)),
    Column("score", Float),
    Column("text", Text),
)
votes = Table(
    "openllm_votes", metadata,
    # One vote per person per reply: a second click replaces the first.
    Column("reply", String(128), primary_key=True),
    Column("user_hash", String(64), primary_key=True),
    Column("entry_id", String(128), nullable=False),
    Column("helpful", Boolean, nullable=False),
    Column("voted_at", DateTime, nullable=False, index=True),
)

taught_phrasings = Table(
    "openllm_taught", metadata,
    # What an admin taught from the App Home about a question: a phrasing of an entry, or not covered.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),
    Column("entry_id", String(128)),  # NULL: the documents do not cover it
    Column("near_entry", String(128)),  # not covered: the entry the bot took it for, if any
    Column("taught_by", String(64), nullable=False),  # an admin's Slack user id: admins are named in the config
    Column("taught_at", DateTime, nullable=False, index=True),
    Column("undone_at", DateTime),
    Column("undone_by", String(64)),
    sqlite_autoincrement=True,  # ids are how admins name a phrasing to undo: never reused, on SQLite either
)
# The schema version that added each table after version 1: a reader of an older store finds it missing.
ADDED_IN = {taught_phrasings.name: 2}


def _add_taught_table(conn: Connection) -> None:
    """Version 2: the taught phrasings. The table as it was at version 2, so that a later change to
    `taught_phrasings` (made by a later step) does not change what this step creates."""
    at_version_2 = MetaData()
    Table(
        "openllm_taught", at_version_2,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("text", Text, nullable=False),
        Column("entry_id", String(128)),
        Column("near_entry", String(128)),
        Column("taught_by", String(64), nullable=False),
        Column("taught_at", DateTime, nullable=False, index=True),
        Column("undone_at", DateTime),
        Column("undone_by", String(64)),
        sqlite_autoincrement=True,
    )
    at_version_2.create_all(conn, checkfirst=True)


# version -> the step that brings a store at version-1 to it; run in order inside one transaction.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _add_taught_table}


class StoreError(RuntimeError):
    """The store cannot be used as it is (e.g. it was written by a newer version)."""


@dataclass(frozen=True)
class QuestionRecord:
    asked_at: datetime
    surface: Surface
    outcome: Status
    team: str | None = None
    channel: str | None = None
    user_hash: str | None = None
    entry_id: str | None = None
    score: float | None = None
    text: str | None = None


@dataclass(frozen=True)
class VoteRecord:
    reply: str
    user_hash: str
    entry_id: str
    helpful: bool
    voted_at: datetime


@dataclass(frozen=True)
class TaughtRecord:
    """A question an admin taught: a phrasing of `entry_id`, or not covered (`entry_id` None)."""

    id: int
    text: str
    entry_id: str | None
    near_entry: str | None  # not covered: the entry the bot took it for, if any
    taught_by: str  # the admin's Slack user id
    taught_at: datetime
    undone_at: datetime | None = None
    undone_by: str | None = None

    @property
    def undone(self) -> bool:
        return self.undone_at is not None


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc(moment: datetime) -> datetime:
    """`moment` as naive UTC, the form the tables hold."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def user_hash(key: bytes, team: str | None, user: str) -> str:
    """A keyed hash of a Slack user: the same person gives the same value, which cannot be turned back into
    the id without the key (user ids are short enough to try them all)."""
    return hmac.new(key, f"{team or ''}:{user}".encode(), hashlib.sha256).hexdigest()[:32]


def database_url(url: str) -> str:
    """SQLAlchemy's form of `url`: PaaS providers hand out `postgres://`, which it no longer accepts."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def describe(url: str) -> str:
    """`url` fit for a log line: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


class Store:
    """The tables behind one database URL; created (or upgraded) on first use. With `read_only` (the reading
    commands), the store must already exist and be ours: nothing is ever created or changed (no folder, file, table
    or journal mode), a SQLite file is opened read-only (so a file the reader may not write can be read) and a
    PostgreSQL session is read-only; a missing or foreign store raises `StoreError` saying so."""

    def __init__(self, url: str, read_only: bool = False) -> None:
        self.url = database_url(url)
        self.read_only = read_only
        parsed = make_url(self.url)
        database = parsed.database or ""
        sqlite_file = parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
        if read_only and parsed.get_backend_name() == "sqlite":
            if not sqlite_file or not Path(database).expanduser().is_file():
                raise StoreError(f"there is no store at {describe(self.url)}: check STORE_PATH or DATABASE_URL "
                                 "(the bot creates it when it first runs)")
            self.engine: Engine = create_engine("sqlite://", poolclass=NullPool,
                                                creator=partial(_read_only_sqlite, Path(database)))
        else:
            if sqlite_file:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            connect_args = ({"options": "-c default_transaction_read_only=on"}
                            if read_only and parsed.get_backend_name() == "postgresql" else {})
            self.engine = create_engine(self.url, pool_pre_ping=True, connect_args=connect_args)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_read_pragmas if read_only else _sqlite_pragmas)
        self._ready = False
        self._lock = threading.Lock()
        self._tables = {t.name for t in metadata.sorted_tables}  # those it holds: fewer in an older store read as is

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def open(self) -> Store:
        """Create the tables, or upgrade them to SCHEMA_VERSION; refuse a store written by a newer version.
        Read-only: check that the store is ours and at least at OLDEST_READABLE, touching nothing."""
        with self._lock:
            if not self._ready:
                if self.read_only:
                    self._tables = self._check_ours()
                else:
                    try:
                        self._create_or_upgrade()
                    except DBAPIError:
                        # Another process (a replica starting at the same moment) may have been creating them too.
                        self._create_or_upgrade()
                self._ready = True
        return self

    def _check_ours(self) -> set[str]:
        """The tables a store at its version holds, once it is found to be one this version can read."""
        with self.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if meta.name not in tables:
                raise StoreError(f"{describe(self.url)} is not an openllm-bot store (it has no {meta.name} table): "
                                 "check STORE_PATH or DATABASE_URL")
            found = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        version = int(found) if found is not None and str(found).isdigit() else 0
        if version > SCHEMA_VERSION:
            raise StoreError(f"{describe(self.url)} holds schema version {version}, newer than this "
                             f"openllm-bot's {SCHEMA_VERSION}: upgrade openllm-bot")
        held = {t.name for t in metadata.sorted_tables if ADDED_IN.get(t.name, 1) <= version}
        if version < OLDEST_READABLE or not held <= tables:
            raise StoreError(f"{describe(self.url)} is not an openllm-bot store of schema version {SCHEMA_VERSION} "
                             f"(found {version or 'none'}): start the bot on it once to upgrade it")
        return held

    def _create_or_upgrade(self) -> None:
        with self.engine.begin() as conn:
            metadata.create_all(conn, tables=[meta], checkfirst=True)
            found = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
            version = int(found) if found is not None else 0
            if version > SCHEMA_VERSION:
                raise StoreError(f"{describe(self.url)} holds schema version {version}, newer than this "
                                 f"openllm-bot's {SCHEMA_VERSION}: upgrade openllm-bot rather than lose data")
            if version == 0:
                metadata.create_all(conn, checkfirst=True)
                conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
            else:
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    MIGRATIONS[step](conn)
                if version < SCHEMA_VERSION:
                    conn.execute(meta.update().where(meta.c.key == "schema_version")
                                 .values(value=str(SCHEMA_VERSION)))

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one())

    def add_questions(self, records: list[QuestionRecord]) -> None:
        if not records:
            return
        self.open()
        rows = [{**vars(r), "asked_at": as_utc(r.asked_at)} for r in records]
        with self.engine.begin() as conn:
            conn.execute(insert(questions), rows)

    def add_vote(self, vote: VoteRecord) -> None:
        """Record `vote`, replacing that person's earlier vote on the same reply."""
        self.open()
        upsert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(votes)
        row = {**vars(vote), "voted_at": as_utc(vote.voted_at)}
        statement = upsert.values(row).on_conflict_do_update(
            index_elements=[votes.c.reply, votes.c.user_hash],
            set_={"entry_id": row["entry_id"], "helpful": row["helpful"], "voted_at": row["voted_at"]})
        with self.engine.begin() as conn:
            conn.execute(statement)

    def questions_since(self, since: datetime) -> list[QuestionRecord]:
        self.open()
        query = select(*[questions.c[name] for name in QuestionRecord.__dataclass_fields__]).where(
            questions.c.asked_at >= as_utc(since)).order_by(questions.c.asked_at, questions.c.id)
        with self.engine.connect() as conn:
            return [QuestionRecord(**row._mapping) for row in conn.execute(query)]

    def votes_since(self, since: datetime) -> list[VoteRecord]:
        self.open()
        query = select(*[votes.c[name] for name in VoteRecord.__dataclass_fields__]).where(
            votes.c.voted_at >= as_utc(since)).order_by(votes.c.voted_at)
        with self.engine.connect() as conn:
            return [VoteRecord(**row._mapping) for row in conn.execute(query)]

    def add_taught(self, text: str, entry_id: str | None, near_entry: str | None, taught_by: str,
                   at: datetime | None = None) -> int:
        """Record that `taught_by` taught `text` as a phrasing of `entry_id`, or (None) as not covered, near the
        entry `near_entry` the bot took it for; the new row's id."""
        if entry_id is not None and near_entry is not None:
            raise ValueError("only a question taught as not covered has a near entry")
        if not text.strip():
            raise ValueError("a taught phrasing needs some text")
        self.open()
        row = {"text": text, "entry_id": entry_id, "near_entry": near_entry, "taught_by": taught_by,
               "taught_at": as_utc(at or utcnow())}
        with self.engine.begin() as conn:
            return int(conn.execute(insert(taught_phrasings).values(row).returning(taught_phrasings.c.id))
                       .scalar_one())

    def undo_taught(self, taught_id: int, undone_by: str, at: datetime | None = None) -> TaughtRecord | None:
        """Undo the taught phrasing `taught_id`: the record as undone, or None if there is none or it already was."""
        self.open()
        with self.engine.begin() as conn:
            # One statement decides: of two admins undoing at once, one gets the record, the other None.
            changed = conn.execute(
                update(taught_phrasings)
                .where(taught_phrasings.c.id == taught_id, taught_phrasings.c.undone_at.is_(None))
                .values(undone_at=as_utc(at or utcnow()), undone_by=undone_by))
            if changed.rowcount != 1:
                return None
            row = conn.execute(select(taught_phrasings).where(taught_phrasings.c.id == taught_id)).one()
            return TaughtRecord(**row._mapping)

    def taught(self, since: datetime | None = None, include_undone: bool = False) -> list[TaughtRecord]:
        """Taught phrasings, oldest first: those taught from `since` on, without the undone ones unless asked."""
        self.open()
        if taught_phrasings.name not in self._tables:  # an older store, read as it is
            return []
        query = select(taught_phrasings).order_by(taught_phrasings.c.taught_at, taught_phrasings.c.id)
        if since is not None:
            query = query.where(taught_phrasings.c.taught_at >= as_utc(since))
        if not include_undone:
            query = query.where(taught_phrasings.c.undone_at.is_(None))
        with self.engine.connect() as conn:
            return [TaughtRecord(**row._mapping) for row in conn.execute(query)]

    def taught_version(self) -> tuple[int, int | None, int]:
        """A value that changes whenever a phrasing is taught or undone, in one cheap query: what replicas poll.
        Rows are never deleted and an undo is never undone, so the number of rows and of undone rows only grow;
        the highest id catches a row deleted by hand and another added."""
        self.open()
        if taught_phrasings.name not in self._tables:
            return (0, None, 0)
        query = select(func.count(), func.max(taught_phrasings.c.id), func.count(taught_phrasings.c.undone_at))
        with self.engine.connect() as conn:
            count, highest, undone = conn.execute(query).one()
        return (int(count), highest, int(undone))

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(connection: sqlite3.Connection, _record: object) -> None:
    # WAL lets the report read while the bot writes; the timeout rides out another process's write.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _read_only_sqlite(path: Path) -> sqlite3.Connection:
    """A read-only connection to the SQLite file at `path`, which creates nothing beside it. While a writer has the
    store open (its `-wal` file is there) the reader shares its WAL index; otherwise the file is read as it stands
    (`immutable`), without the `-shm` and `-wal` files a read-only connection would create and leave behind, and
    which a reader that may not write the folder cannot create at all."""
    path = path.expanduser().resolve()
    writer_active = path.with_name(path.name + "-wal").exists()
    uri = path.as_uri() + ("?mode=ro" if writer_active else "?mode=ro&immutable=1")
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def _sqlite_read_pragmas(connection: sqlite3.Connection, _record: object) -> None:
    # A reader never changes the journal mode: only waits out another process's write.
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
