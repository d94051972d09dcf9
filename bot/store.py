"""What people asked, how they voted and what admins taught, kept through SQLAlchemy Core: a SQLite file by
default, PostgreSQL when `DATABASE_URL` says so. Blocking calls; the bot reaches it through `bot.recorder`."""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import partial, wraps
from pathlib import Path
from typing import Concatenate, Literal, ParamSpec, TypeVar, get_args

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
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
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from knowledge.content.phrasings import phrasing_key
from knowledge.result import Status

Surface = Literal["mention", "dm", "slash", "thread"]  # thread: a follow-up in a thread the bot answered in
SURFACES: tuple[Surface, ...] = get_args(Surface)

# Raise it with every change to the tables below, and add the step from the previous version to MIGRATIONS (and a new
# table to ADDED_IN).
SCHEMA_VERSION = 4
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
    # Which question it is (`taught_key`): of the phrasings not undone, one per key (the index below), so that two
    # admins teaching the same words at once, on two replicas, cannot both store them.
    Column("text_key", String(64)),
    sqlite_autoincrement=True,  # ids are how admins name a phrasing to undo: never reused, on SQLite either
)
_NOT_UNDONE = taught_phrasings.c.undone_at.is_(None)
Index("openllm_taught_one_per_question", taught_phrasings.c.text_key, unique=True,
      sqlite_where=_NOT_UNDONE, postgresql_where=_NOT_UNDONE)
# The schema version that added each table after version 1: a reader of an older store finds it missing.
ADDED_IN = {taught_phrasings.name: 2}
# Who undid a phrasing taught twice (before version 3 made that impossible): the bot, when it upgraded the store.
DUPLICATE_UNDONE_BY = "openllm-bot"
# The highest id an INTEGER column holds (PostgreSQL's is 32 bits): no phrasing has a larger one.
MAX_ID = 2**31 - 1


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


def _add_taught_key(conn: Connection) -> None:
    """Version 3: each taught phrasing's key, one not undone per key. The keys are filled in by `_key_taught` (run
    whenever `phrasing_key` changes, this upgrade included), which also undoes all but the first of any phrasings
    taught twice before."""
    conn.execute(text("ALTER TABLE openllm_taught ADD COLUMN text_key VARCHAR(64)"))
    at_version_3 = MetaData()
    table = Table("openllm_taught", at_version_3, Column("text_key", String(64)), Column("undone_at", DateTime))
    not_undone = table.c.undone_at.is_(None)
    Index("openllm_taught_one_per_question", table.c.text_key, unique=True, sqlite_where=not_undone,
          postgresql_where=not_undone).create(conn)


# Version 4 (workspaces, feedback reasons, hand-offs, digests, entries taught from Slack) is made of one step per
# feature, each adding its own columns and tables; they run in this order. A table added here is created as it is
# defined now: when a later version changes it, freeze its version-4 form in the step, as `_add_taught_table` does.
VERSION_4_STEPS: list[Callable[[Connection], None]] = []


def _version_4(conn: Connection) -> None:
    for step in VERSION_4_STEPS:
        step(conn)


# version -> the step that brings a store at version-1 to it; run in order inside one transaction.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _add_taught_table, 3: _add_taught_key, 4: _version_4}


def taught_key(text: str) -> str:
    """What two taught phrasings that are the same question share (knowledge's `phrasing_key`), hashed to a fixed
    length that any index holds."""
    return hashlib.sha256(phrasing_key(text).encode("utf-8", "surrogatepass")).hexdigest()


# Texts whose keys tell one `phrasing_key` from another: the store's keys are made again when they change.
_KEY_PROBES = ("What  IS a Llama?", " open\tSOURCE\nmodels ", "Straße", "ﬁne-tuning…", "İ", "don’t", "e\u0301",
               "llama-2's licence!", "ＬＬＭ", "a.b,c;d")
KEY_FINGERPRINT = hashlib.sha256("\0".join(phrasing_key(p) for p in _KEY_PROBES).encode()).hexdigest()[:16]


def _key_taught(conn: Connection) -> None:
    """Give every taught phrasing its key as `phrasing_key` makes it now. Of phrasings not undone that share a key
    (taught at the same moment on two replicas before version 3, or alike under a new `phrasing_key`) the first
    taught stands, as it did for the matcher, and the others are undone by DUPLICATE_UNDONE_BY."""
    rows = conn.execute(select(taught_phrasings.c.id, taught_phrasings.c.text, taught_phrasings.c.undone_at)
                        .order_by(taught_phrasings.c.taught_at, taught_phrasings.c.id)).all()
    conn.execute(update(taught_phrasings).values(text_key=None))
    standing: set[str] = set()
    now = utcnow()
    for row in rows:
        key = taught_key(row.text)
        values: dict[str, object] = {"text_key": key}
        if row.undone_at is None:
            if key in standing:
                values |= {"undone_at": now, "undone_by": DUPLICATE_UNDONE_BY}
            standing.add(key)
        conn.execute(update(taught_phrasings).where(taught_phrasings.c.id == row.id).values(values))
    found = conn.execute(select(meta.c.value).where(meta.c.key == "taught_key")).scalar()
    if found is None:
        conn.execute(insert(meta).values(key="taught_key", value=KEY_FINGERPRINT))
    else:
        conn.execute(meta.update().where(meta.c.key == "taught_key").values(value=KEY_FINGERPRINT))


class StoreError(RuntimeError):
    """The store did not do what was asked; the message says why in one line, naming the store (without its
    password)."""


class StoreUnreachable(StoreError):
    """The database could not be reached or did not answer in time (connecting, a statement, a SQLite file another
    process holds): nothing was done, and trying again later may work."""


class StoreRefused(StoreError):
    """The database was reached and refused: the store is not one this version can use (written by a newer
    version, not an openllm-bot store, not a database at all, not writable), or what was asked cannot be done."""


class InvalidRecord(StoreRefused, ValueError):
    """What was to be stored or looked up is not valid, found before it reached the database (a NUL character, a
    lone surrogate, a value too long): the message says which and why."""


class TaughtAlready(StoreRefused):
    """The phrasing is taught already and not undone (e.g. by another admin on another replica a moment before):
    `record` is that phrasing as the store holds it."""

    def __init__(self, record: TaughtRecord) -> None:
        meaning = (f"a phrasing of entry '{record.entry_id}'" if record.entry_id is not None else "not covered")
        super().__init__(f"it was taught already, as {meaning} (#{record.id}): undo that first to teach it otherwise")
        self.record = record


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


# How long the store waits for the database: to connect (libpq counts whole seconds, 2 at least), for one statement
# (PostgreSQL's statement_timeout) and for a SQLite file another process is writing (its busy timeout). Past them the
# call raises StoreUnreachable, so that nobody waits for a database that accepts connections and never answers.
CONNECT_SECONDS = 5
STATEMENT_SECONDS = 10.0
BUSY_SECONDS = 5.0
# The reading commands may go through months of questions: they give a statement longer.
READ_STATEMENT_SECONDS = 120.0

P = ParamSpec("P")
R = TypeVar("R")


def _store_errors(method: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """`method` raising only `StoreError`s: the database's errors (and the file system's) said in one line."""

    @wraps(method)
    def translated(self: Store, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except (sa_exc.SQLAlchemyError, OSError, sqlite3.Error) as exc:
            raise self.failure(exc) from exc

    return translated


class Store:
    """The tables behind one database URL; created (or upgraded) on first use. With `read_only` (the reading
    commands), the store must already exist and be ours: nothing is ever created or changed (no folder, file, table
    or journal mode), a SQLite file is opened read-only (so a file the reader may not write can be read) and a
    PostgreSQL session is read-only; a missing or foreign store raises `StoreRefused` saying so.

    Every method raises `StoreError` and no other database error: `StoreUnreachable` when the database could not be
    reached or did not answer in time (CONNECT_SECONDS, `statement_seconds`, BUSY_SECONDS), `StoreRefused` when it
    was reached and refused (`InvalidRecord` when what was asked was found invalid before reaching it)."""

    def __init__(self, url: str, read_only: bool = False, statement_seconds: float | None = None) -> None:
        self.url = database_url(url)
        self.read_only = read_only
        self.statement_seconds = statement_seconds or (READ_STATEMENT_SECONDS if read_only else STATEMENT_SECONDS)
        parsed = make_url(self.url)
        database = parsed.database or ""
        self._sqlite_file = (Path(database).expanduser() if parsed.get_backend_name() == "sqlite"
                             and database not in ("", ":memory:") else None)
        if read_only and parsed.get_backend_name() == "sqlite":
            if self._sqlite_file is None or not self._sqlite_file.is_file():
                raise StoreRefused(f"there is no store at {describe(self.url)}: check STORE_PATH or DATABASE_URL "
                                   "(the bot creates it when it first runs)")
            self.engine: Engine = create_engine("sqlite://", poolclass=NullPool,
                                                creator=partial(_read_only_sqlite, self._sqlite_file))
        elif parsed.get_backend_name() == "postgresql":
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_timeout=CONNECT_SECONDS,
                                        connect_args=_postgresql_arguments(parsed.query, read_only,
                                                                           self.statement_seconds))
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, connect_args={"timeout": BUSY_SECONDS})
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_read_pragmas if read_only else _sqlite_pragmas)
        self._ready = False
        self._lock = threading.Lock()
        self._tables = {t.name for t in metadata.sorted_tables}  # those it holds: fewer in an older store read as is

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def failure(self, exc: BaseException) -> StoreError:
        """`exc`, raised by the database or the file system, as the `StoreError` that says what happened."""
        where = describe(self.url)
        if isinstance(exc, StoreError):
            return exc
        if isinstance(exc, OSError):
            return StoreRefused(f"{where} cannot be created: {exc.strerror or exc}"
                                + (f" ({exc.filename})" if exc.filename else ""))
        if isinstance(exc, sa_exc.TimeoutError):  # every pooled connection busy: earlier calls still waiting
            return StoreUnreachable(f"{where} did not answer: no connection to it came free within "
                                    f"{CONNECT_SECONDS} s")
        cause = getattr(exc, "orig", None) or exc
        said = _first_line(cause)
        if self.dialect == "sqlite":
            if "locked" in said or "busy" in said:
                return StoreUnreachable(f"{where} is busy: another process held it for more than {BUSY_SECONDS:g} s "
                                        f"({said})")
            if "unable to open" in said:
                return StoreRefused(f"{where} cannot be opened ({said}): is it a folder, or in a folder the bot may "
                                    "not write? Check STORE_PATH or DATABASE_URL")
            if "not a database" in said:
                return StoreRefused(f"{where} is not a SQLite database ({said}): check STORE_PATH or DATABASE_URL")
            if "readonly" in said or "read-only" in said:
                return StoreRefused(f"{where} is read-only ({said}): let the bot write to it and its folder")
            return StoreRefused(f"{where} refused it: {said}")
        state = str(getattr(cause, "sqlstate", "") or "")
        if state == "57014":  # query_canceled: statement_timeout
            return StoreUnreachable(f"{where} did not answer within {self.statement_seconds:g} s")
        fatal = said.partition("FATAL:")[2].strip()
        if fatal and not any(passing in fatal for passing in ("starting up", "shutting down", "too many")):
            # The server answered, and refused the connection: no such database, a password refused, no access.
            return StoreRefused(f"{where} refused the connection: {fatal}")
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            # Without a SQLSTATE the server never answered (refused, timed out, gone); with one it could not do it
            # now (a deadlock, too many connections, shutting down): either way, worth trying again later.
            return StoreUnreachable(f"{where} could not do it now: {said}" if state
                                    else f"{where} could not be reached: {said}")
        return StoreRefused(f"{where} refused it: {said}")

    @_store_errors
    def open(self) -> Store:
        """Create the tables, or upgrade them to SCHEMA_VERSION; refuse a store written by a newer version.
        Read-only: check that the store is ours and at least at OLDEST_READABLE, touching nothing."""
        with self._lock:
            if not self._ready:
                if self.read_only:
                    self._tables = self._check_ours()
                else:
                    if self._sqlite_file is not None:
                        self._sqlite_file.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        self._create_or_upgrade()
                    except sa_exc.DBAPIError as exc:
                        if isinstance(self.failure(exc), StoreUnreachable):
                            raise
                        # Another process (a replica starting at the same moment) may have been creating them too.
                        self._create_or_upgrade()
                self._ready = True
        return self

    @_store_errors
    def check(self) -> str | None:
        """None when the store can be used now; else one line saying what is wrong with it (it cannot be reached or
        opened, it is not a store, it was written by a newer version). Opens it the first time (creating or
        upgrading it), then asks it one cheap question."""
        try:
            self.open()
            self.schema_version()
        except StoreError as exc:
            return str(exc)
        return None

    def _check_ours(self) -> set[str]:
        """The tables a store at its version holds, once it is found to be one this version can read."""
        with self.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if meta.name not in tables:
                raise StoreRefused(f"{describe(self.url)} is not an openllm-bot store (it has no {meta.name} table): "
                                   "check STORE_PATH or DATABASE_URL")
            found = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        version = int(found) if found is not None and str(found).isdigit() else 0
        if version > SCHEMA_VERSION:
            raise StoreRefused(f"{describe(self.url)} holds schema version {version}, newer than this "
                               f"openllm-bot's {SCHEMA_VERSION}: upgrade openllm-bot")
        held = {t.name for t in metadata.sorted_tables if ADDED_IN.get(t.name, 1) <= version}
        if version < OLDEST_READABLE or not held <= tables:
            raise StoreRefused(f"{describe(self.url)} is not an openllm-bot store of schema version {SCHEMA_VERSION} "
                               f"(found {version or 'none'}): start the bot on it once to upgrade it")
        return held

    def _create_or_upgrade(self) -> None:
        with self.engine.begin() as conn:
            metadata.create_all(conn, tables=[meta], checkfirst=True)
            found = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
            if found is not None and not str(found).isdigit():
                raise StoreRefused(f"{describe(self.url)} holds schema version {found!r}, which is not a number: "
                                   "it is not an openllm-bot store, or it was changed by hand")
            version = int(found) if found is not None else 0
            if version > SCHEMA_VERSION:
                raise StoreRefused(f"{describe(self.url)} holds schema version {version}, newer than this "
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
            keyed = conn.execute(select(meta.c.value).where(meta.c.key == "taught_key")).scalar()
            if keyed != KEY_FINGERPRINT:  # a new store, the upgrade to version 3, or `phrasing_key` changed
                _key_taught(conn)

    @_store_errors
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one())

    @_store_errors
    def add_questions(self, records: list[QuestionRecord]) -> None:
        """Record `records`; texts and ids are made storable (see `storable`) rather than refused: a record is kept
        as well as it can be."""
        if not records:
            return
        self.open()
        rows = [_fitted({**vars(r), "asked_at": as_utc(r.asked_at)}, questions) for r in records]
        with self.engine.begin() as conn:
            conn.execute(insert(questions), rows)

    @_store_errors
    def add_vote(self, vote: VoteRecord) -> None:
        """Record `vote`, replacing that person's earlier vote on the same reply."""
        self.open()
        upsert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(votes)
        row = _fitted({**vars(vote), "voted_at": as_utc(vote.voted_at)}, votes)
        statement = upsert.values(row).on_conflict_do_update(
            index_elements=[votes.c.reply, votes.c.user_hash],
            set_={"entry_id": row["entry_id"], "helpful": row["helpful"], "voted_at": row["voted_at"]})
        with self.engine.begin() as conn:
            conn.execute(statement)

    @_store_errors
    def questions_since(self, since: datetime) -> list[QuestionRecord]:
        self.open()
        query = select(*[questions.c[name] for name in QuestionRecord.__dataclass_fields__]).where(
            questions.c.asked_at >= as_utc(since)).order_by(questions.c.asked_at, questions.c.id)
        with self.engine.connect() as conn:
            return [QuestionRecord(**row._mapping) for row in conn.execute(query)]

    @_store_errors
    def votes_since(self, since: datetime) -> list[VoteRecord]:
        self.open()
        query = select(*[votes.c[name] for name in VoteRecord.__dataclass_fields__]).where(
            votes.c.voted_at >= as_utc(since)).order_by(votes.c.voted_at)
        with self.engine.connect() as conn:
            return [VoteRecord(**row._mapping) for row in conn.execute(query)]

    @_store_errors
    def add_taught(self, text: str, entry_id: str | None, near_entry: str | None, taught_by: str,
                   at: datetime | None = None) -> int:
        """Record that `taught_by` taught `text` as a phrasing of `entry_id`, or (None) as not covered, near the
        entry `near_entry` the bot took it for; the new row's id. Raises `TaughtAlready` when the same question (by
        `taught_key`) is taught and not undone, and `InvalidRecord` when a value cannot be stored as it is."""
        if entry_id is not None and near_entry is not None:
            raise InvalidRecord("only a question taught as not covered has a near entry")
        if not text.strip():
            raise InvalidRecord("a taught phrasing needs some text")
        row = {"text": _valid(text, "the phrasing"),
               "entry_id": _valid(entry_id, "the entry id", _length(taught_phrasings.c.entry_id)),
               "near_entry": _valid(near_entry, "the near entry's id", _length(taught_phrasings.c.near_entry)),
               "taught_by": _valid(taught_by, "the admin's id", _length(taught_phrasings.c.taught_by)),
               "taught_at": as_utc(at or utcnow()), "text_key": (key := taught_key(text))}
        self.open()
        try:
            with self.engine.begin() as conn:
                return int(conn.execute(insert(taught_phrasings).values(row).returning(taught_phrasings.c.id))
                           .scalar_one())
        except sa_exc.IntegrityError:
            standing = self._taught_with_key(key)
            if standing is None:  # undone in between: the index no longer holds it
                raise
            raise TaughtAlready(standing) from None

    def _taught_with_key(self, key: str) -> TaughtRecord | None:
        query = select(*_TAUGHT_COLUMNS).where(taught_phrasings.c.text_key == key, _NOT_UNDONE)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return TaughtRecord(**row._mapping) if row is not None else None

    @_store_errors
    def undo_taught(self, taught_id: int, undone_by: str, at: datetime | None = None) -> TaughtRecord | None:
        """Undo the taught phrasing `taught_id`: the record as undone, or None if there is none (an id no phrasing
        can have included) or it already was."""
        if not 0 < taught_id <= MAX_ID:
            return None
        _valid(undone_by, "the admin's id", _length(taught_phrasings.c.undone_by))
        self.open()
        with self.engine.begin() as conn:
            # One statement decides: of two admins undoing at once, one gets the record, the other None.
            changed = conn.execute(
                update(taught_phrasings)
                .where(taught_phrasings.c.id == taught_id, _NOT_UNDONE)
                .values(undone_at=as_utc(at or utcnow()), undone_by=undone_by))
            if changed.rowcount != 1:
                return None
            row = conn.execute(select(*_TAUGHT_COLUMNS).where(taught_phrasings.c.id == taught_id)).one()
            return TaughtRecord(**row._mapping)

    @_store_errors
    def taught(self, since: datetime | None = None, include_undone: bool = False) -> list[TaughtRecord]:
        """Taught phrasings, oldest first: those taught from `since` on, without the undone ones unless asked."""
        self.open()
        if taught_phrasings.name not in self._tables:  # an older store, read as it is
            return []
        query = select(*_TAUGHT_COLUMNS).order_by(taught_phrasings.c.taught_at, taught_phrasings.c.id)
        if since is not None:
            query = query.where(taught_phrasings.c.taught_at >= as_utc(since))
        if not include_undone:
            query = query.where(_NOT_UNDONE)
        with self.engine.connect() as conn:
            return [TaughtRecord(**row._mapping) for row in conn.execute(query)]

    @_store_errors
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


# What a TaughtRecord holds: not the key, which a store of version 2 (read as it is) does not have.
_TAUGHT_COLUMNS = [taught_phrasings.c[f.name] for f in fields(TaughtRecord)]
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str, limit: int | None = None) -> str:
    """`value` as a database can keep it: NUL characters (PostgreSQL refuses them) and lone surrogates (not text:
    UTF-8 cannot hold them) replaced with U+FFFD, cut to `limit` characters."""
    value = _UNSTORABLE.sub("\ufffd", value)
    return value[:limit] if limit is not None else value


def _length(column: Column) -> int | None:
    return getattr(column.type, "length", None)


def _fitted(row: dict[str, object], table: Table) -> dict[str, object]:
    """`row` with each text made `storable` within its column's length."""
    return {name: storable(value, _length(table.c[name])) if isinstance(value, str) else value
            for name, value in row.items()}


def _valid(value: str | None, what: str, limit: int | None = None) -> str | None:
    """`value` if the store can keep it exactly; else `InvalidRecord` saying why (`what` names it)."""
    if value is None:
        return None
    if "\x00" in value:
        raise InvalidRecord(f"{what} holds a NUL character (U+0000), which the store cannot keep")
    if _UNSTORABLE.search(value):
        raise InvalidRecord(f"{what} holds a lone surrogate (U+D800 to U+DFFF), which is not text")
    if limit is not None and len(value) > limit:
        raise InvalidRecord(f"{what} is longer than {limit} characters")
    return value


def _first_line(exc: BaseException) -> str:
    said = str(exc).strip()
    return said.splitlines()[0] if said else exc.__class__.__name__


def _postgresql_arguments(query: Mapping[str, str | tuple[str, ...]], read_only: bool,
                          statement_seconds: float) -> dict[str, object]:
    """psycopg's connection arguments: a connect timeout and a statement timeout (and a read-only session), kept
    alongside any `options` the URL gives; a `connect_timeout` in the URL is kept."""
    options = [f"-c statement_timeout={max(1, round(statement_seconds * 1000))}"]
    if read_only:
        options.append("-c default_transaction_read_only=on")
    given = query.get("options")
    if isinstance(given, str) and given.strip():
        options.insert(0, given.strip())
    timeout = query.get("connect_timeout")
    return {"connect_timeout": int(timeout) if isinstance(timeout, str) and timeout.isdigit() else CONNECT_SECONDS,
            "options": " ".join(options)}


def _sqlite_pragmas(connection: sqlite3.Connection, _record: object) -> None:
    # The timeout rides out another process's write (first: changing the journal mode may have to wait too); WAL
    # lets the report read while the bot writes.
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={round(BUSY_SECONDS * 1000)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _read_only_sqlite(path: Path) -> sqlite3.Connection:
    """A read-only connection to the SQLite file at `path`, which creates nothing beside it. While a writer has the
    store open (its `-wal` file is there) the reader shares its WAL index; otherwise the file is read as it stands
    (`immutable`), without the `-shm` and `-wal` files a read-only connection would create and leave behind, and
    which a reader that may not write the folder cannot create at all."""
    path = path.expanduser().resolve()
    writer_active = path.with_name(path.name + "-wal").exists()
    uri = path.as_uri() + ("?mode=ro" if writer_active else "?mode=ro&immutable=1")
    return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=BUSY_SECONDS)


def _sqlite_read_pragmas(connection: sqlite3.Connection, _record: object) -> None:
    # A reader never changes the journal mode: only waits out another process's write.
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={round(BUSY_SECONDS * 1000)}")
    cursor.close()
