"""What people asked, how they voted and what admins taught, kept through SQLAlchemy Core: a SQLite file by
default, PostgreSQL when `DATABASE_URL` says so. Blocking calls; the bot reaches it through `bot.recorder`."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from functools import partial, wraps
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar, get_args

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
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
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from knowledge.content.phrasings import phrasing_key
from knowledge.content.written import NewAnswer, NewEntry, Written
from knowledge.result import Status

Surface = Literal["mention", "dm", "slash", "thread"]  # thread: a follow-up in a thread the bot answered in
SURFACES: tuple[Surface, ...] = get_args(Surface)
# An answer posted by a click (a related question, a topic, a suggestion) is recorded as a question of this surface:
# the report counts it for its entry, apart from the questions people asked.
CLICK: Literal["click"] = "click"

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
    Column("enterprise_id", String(32)),  # version 4: the Enterprise Grid org of the workspace (`team`), if any
)
votes = Table(
    "openllm_votes", metadata,
    # One vote per person per reply: a second click replaces the first.
    Column("reply", String(128), primary_key=True),
    Column("user_hash", String(64), primary_key=True),
    Column("entry_id", String(128), nullable=False),
    Column("helpful", Boolean, nullable=False),
    Column("voted_at", DateTime, nullable=False, index=True),
    # Version 4: the workspace the vote came from, and its Enterprise Grid org; NULL before (the one workspace).
    Column("team_id", String(32)),
    Column("enterprise_id", String(32)),
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
    # Version 4: the installation it was taught for: a workspace (and its org), or an org-wide install (team_id NULL,
    # enterprise_id set). Both NULL: the one workspace of a single-token install (rows from before version 4 too).
    Column("team_id", String(32)),
    Column("enterprise_id", String(32)),
    sqlite_autoincrement=True,  # ids are how admins name a phrasing to undo: never reused, on SQLite either
)
_NOT_UNDONE = taught_phrasings.c.undone_at.is_(None)


def _one_per_question(table: Table) -> Index:
    """Of the phrasings not undone, one per key in each installation (version 4; before it, one per key): two
    workspaces may each teach the same words, their own way. NULLs are spelt '' so that they count as equal."""
    not_undone = table.c.undone_at.is_(None)
    return Index("openllm_taught_one_per_question", func.coalesce(table.c.team_id, ""),
                 func.coalesce(table.c.enterprise_id, ""), table.c.text_key, unique=True,
                 sqlite_where=not_undone, postgresql_where=not_undone)


_one_per_question(taught_phrasings)
# The schema version that added each table after version 1: a reader of an older store finds it missing.
ADDED_IN = {taught_phrasings.name: 2}
# Who undid a phrasing taught twice (before version 3 made that impossible): the bot, when it upgraded the store.
DUPLICATE_UNDONE_BY = "openllm-bot"
# How many times creating or upgrading the tables is tried when it collides with another process doing the same.
CREATE_ATTEMPTS = 5
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


# ---- Version 4: workspaces (issue 24, part 1).
def _add_workspaces(conn: Connection) -> None:
    """Version 4: the workspace (and Enterprise Grid org) each vote and taught phrasing belongs to, and the org of
    each question (which had its workspace, `team`, already); what one installation taught is one per question in
    it. Rows kept from before have none: NULL, the one workspace of a single-token install (the bot token's team is
    not known here)."""
    found = inspect(conn)
    for table, column in (("openllm_questions", "enterprise_id"), ("openllm_votes", "team_id"),
                          ("openllm_votes", "enterprise_id"), ("openllm_taught", "team_id"),
                          ("openllm_taught", "enterprise_id")):
        # Each only if missing: SQLite runs DDL outside the transaction, so a step cut short is run again in part.
        if column not in {c["name"] for c in found.get_columns(table)}:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR(32)"))
    conn.execute(text("DROP INDEX IF EXISTS openllm_taught_one_per_question"))
    at_version_4 = MetaData()
    _one_per_question(Table("openllm_taught", at_version_4, Column("text_key", String(64)),
                            Column("undone_at", DateTime), Column("team_id", String(32)),
                            Column("enterprise_id", String(32)))).create(conn)


VERSION_4_STEPS.append(_add_workspaces)
# ---- end of the workspaces step.

# ---- Version 4: feedback reasons, hand-offs to people and the weekly digest (issue 22, parts 4 to 6).
vote_reasons = Table(
    "openllm_vote_reasons", metadata,
    # Why someone found a reply not helpful: kept beside their 👎 (same key as `votes`), gone when they change it.
    Column("reply", String(128), primary_key=True),
    Column("user_hash", String(64), primary_key=True),
    Column("reason", String(16)),  # one of REASONS, or none chosen
    Column("text", Text),  # at most MAX_REASON_CHARS
    Column("given_at", DateTime, nullable=False, index=True),
)
handoffs = Table(
    "openllm_handoffs", metadata,
    # A question the bot declined or was unsure of, handed to people with "Ask the team": one per reply of the bot.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reply", String(128), nullable=False, unique=True),  # channel:ts of the reply the button was on
    Column("team_id", String(32)),
    Column("channel", String(32), nullable=False),  # the asker's conversation, and their thread in it
    Column("thread_ts", String(32)),
    Column("outcome", String(16), nullable=False),  # none or suggest
    Column("question", Text, nullable=False),
    Column("asker_hash", String(64)),
    Column("asked_at", DateTime, nullable=False, index=True),
    Column("posted_channel", String(32)),  # where it was posted for the team, once it was
    Column("posted_ts", String(32)),
    Column("posted_at", DateTime),
    sqlite_autoincrement=True,
)
Index("openllm_handoffs_posted", handoffs.c.posted_channel, handoffs.c.posted_ts)
Index("openllm_handoffs_thread", handoffs.c.channel, handoffs.c.thread_ts)
handoff_answers = Table(
    "openllm_handoff_answers", metadata,
    # What people answered to a hand-off, in the team's thread or the asker's: one row per message (Slack may send
    # a message twice).
    Column("channel", String(32), primary_key=True),
    Column("ts", String(32), primary_key=True),
    Column("handoff_id", Integer, nullable=False, index=True),
    Column("place", String(16), nullable=False),  # team or thread
    Column("text", Text, nullable=False),
    Column("answered_at", DateTime, nullable=False),
)
digests = Table(
    "openllm_digests", metadata,
    # One row per weekly digest: the replica whose insert wins posts it; the others see the row and do not.
    Column("key", String(64), primary_key=True),  # the day it is due (and the workspace, when there are several)
    Column("team_id", String(32)),
    Column("period_start", DateTime, nullable=False),
    Column("period_end", DateTime, nullable=False),
    Column("claimed_at", DateTime, nullable=False),
    Column("claimed_by", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # claimed, posted, empty (no questions) or failed
    Column("channel", String(32)),
    Column("ts", String(32)),
    Column("finished_at", DateTime),
)
_ISSUE_22_TABLES = (vote_reasons, handoffs, handoff_answers, digests)
ADDED_IN.update({table.name: 4 for table in _ISSUE_22_TABLES})
REASONS = ("wrong", "outdated", "missing", "other")  # what a 👎 may say, besides free text
MAX_REASON_CHARS = 500


def _add_feedback_reasons(conn: Connection) -> None:
    """Version 4: why a reply was not helpful."""
    metadata.create_all(conn, tables=[vote_reasons], checkfirst=True)


def _add_handoffs(conn: Connection) -> None:
    """Version 4: questions handed to people, and their answers."""
    metadata.create_all(conn, tables=[handoffs, handoff_answers], checkfirst=True)


def _add_digests(conn: Connection) -> None:
    """Version 4: the weekly digests posted (or claimed)."""
    metadata.create_all(conn, tables=[digests], checkfirst=True)


VERSION_4_STEPS += [_add_feedback_reasons, _add_handoffs, _add_digests]
# A hand-off claimed and never posted (the replica stopped in between) may be claimed again after this long.
HANDOFF_STALE = timedelta(minutes=2)


@dataclass(frozen=True)
class VoteReason:
    """Why someone found a reply (of `entry_id`) not helpful: a choice of REASONS and words of their own, either
    optional."""

    reply: str
    user_hash: str
    entry_id: str
    reason: str | None
    text: str | None
    given_at: datetime


@dataclass(frozen=True)
class HandoffAnswer:
    """A person's message answering a hand-off: in the team's thread under it (`team`) or in the asker's (`thread`)."""

    handoff_id: int
    channel: str
    ts: str
    place: Literal["team", "thread"]
    text: str
    answered_at: datetime


@dataclass(frozen=True)
class HandoffRecord:
    """A question handed to people: where it was asked (the asker's conversation and thread), and where it was
    posted for the team (None until it was); `answers` oldest first, when read with them."""

    id: int
    reply: str
    channel: str
    thread_ts: str | None
    outcome: str
    question: str
    asked_at: datetime
    team_id: str | None = None
    asker_hash: str | None = None
    posted_channel: str | None = None
    posted_ts: str | None = None
    posted_at: datetime | None = None
    answers: tuple[HandoffAnswer, ...] = ()


@dataclass(frozen=True)
class DigestRecord:
    key: str
    team_id: str | None
    period_start: datetime
    period_end: datetime
    claimed_at: datetime
    claimed_by: str
    status: str
    channel: str | None = None
    ts: str | None = None
    finished_at: datetime | None = None
# ---- end of issue 22's version-4 tables.

# ---- Version 4: entries and answers written from Slack (issue 22, part 2).
written_entries = Table(
    "openllm_written", metadata,
    # What an admin wrote from Slack: a new entry of the FAQ (`kind` entry) or another answer for an entry (`kind`
    # answer). The bot answers with it until it is undone; `openllm-bot taught export` writes it into the FAQ.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),
    Column("entry_id", String(128), nullable=False),  # the new entry's id, or the id of the entry answered anew
    Column("theme", String(64)),  # a new entry's FAQ file: knowledge/faq/<theme>.yaml
    Column("question", Text),  # a new entry's
    Column("answer", Text, nullable=False),
    Column("details", Text),  # a new entry's sources, alternates and tags, as JSON
    Column("written_by", String(64), nullable=False),  # the admin's Slack user id
    Column("written_at", DateTime, nullable=False, index=True),
    Column("undone_at", DateTime),
    Column("undone_by", String(64)),
    # The installation it was written for, as for taught phrasings (both NULL: the one workspace of a single-token
    # install).
    Column("team_id", String(32)),
    Column("enterprise_id", String(32)),
    sqlite_autoincrement=True,  # ids are how admins name what to undo: never reused
)
_WRITTEN_LIVE = and_(written_entries.c.kind == "entry", written_entries.c.undone_at.is_(None))
# Of the new entries not undone, one per id in each installation: two admins writing the same id at once, on two
# replicas, cannot both store it.
Index("openllm_written_one_per_id", func.coalesce(written_entries.c.team_id, ""),
      func.coalesce(written_entries.c.enterprise_id, ""), written_entries.c.entry_id, unique=True,
      sqlite_where=_WRITTEN_LIVE, postgresql_where=_WRITTEN_LIVE)
ADDED_IN[written_entries.name] = 4


def _add_written(conn: Connection) -> None:
    """Version 4: the entries and answers written from Slack."""
    metadata.create_all(conn, tables=[written_entries], checkfirst=True)


VERSION_4_STEPS.append(_add_written)


@dataclass(frozen=True)
class WrittenRecord:
    """An entry (`kind` "entry") or an answer (`kind` "answer") an admin wrote from Slack, as the store holds it."""

    id: int
    kind: str
    entry_id: str
    theme: str | None
    question: str | None
    answer: str
    details: str | None
    written_by: str
    written_at: datetime
    undone_at: datetime | None = None
    undone_by: str | None = None
    team_id: str | None = None
    enterprise_id: str | None = None

    @property
    def undone(self) -> bool:
        return self.undone_at is not None

    @property
    def item(self) -> Written | None:
        """What it says to the FAQ; None when the row cannot be read as one (changed by hand)."""
        if self.kind == "answer":
            return NewAnswer(self.entry_id, self.answer)
        try:
            details = json.loads(self.details or "{}")
            sources = tuple((str(doc), str(quote)) for doc, quote in details.get("sources", []))
            return NewEntry(self.entry_id, self.theme or "", self.question or "", self.answer, sources,
                            tuple(str(t) for t in details.get("alternates", [])),
                            tuple(str(t) for t in details.get("tags", [])))
        except (ValueError, TypeError, AttributeError):
            return None

# ---- end of the entries written from Slack.


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


class EntryTaken(InvalidRecord):
    """A new entry of that id was written from Slack and not undone (by another admin, on another replica, a moment
    before): `record` is it."""

    def __init__(self, record: WrittenRecord) -> None:
        super().__init__(f"an entry '{record.entry_id}' was written a moment ago (#{record.id}): give this one "
                         "another id, or undo that one first")
        self.record = record


@dataclass(frozen=True)
class QuestionRecord:
    asked_at: datetime
    surface: Surface | Literal["click"]
    outcome: Status
    team: str | None = None
    channel: str | None = None
    user_hash: str | None = None
    entry_id: str | None = None
    score: float | None = None
    text: str | None = None
    enterprise_id: str | None = None  # the Enterprise Grid org of the workspace (`team`), if any


@dataclass(frozen=True)
class VoteRecord:
    reply: str
    user_hash: str
    entry_id: str
    helpful: bool
    voted_at: datetime
    team_id: str | None = None  # the workspace it came from (None: the one workspace of a single-token install)
    enterprise_id: str | None = None


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
    # The installation it was taught for: a workspace, an org (team_id None, enterprise_id set), or neither: the one
    # workspace of a single-token install.
    team_id: str | None = None
    enterprise_id: str | None = None

    @property
    def workspace(self) -> str | None:
        """Whose it is: the workspace's id, an org-wide installation's org id, or None (the one workspace)."""
        return self.team_id or self.enterprise_id

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
        # The columns of each table it holds, when an older store read as it is lacks some (None: all of them).
        self._columns: dict[str, set[str]] | None = None

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
            if _sqlite_busy(cause):
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
                    waited = False  # for another process's lock, once already
                    for attempt in range(1, CREATE_ATTEMPTS + 1):
                        try:
                            self._create_or_upgrade()
                            break
                        except sa_exc.DBAPIError as exc:
                            # Another process (a replica starting at the same moment) may have been creating them
                            # too: SQLite runs each CREATE TABLE on its own, so the two can collide on any table; or,
                            # on a loaded machine, have held the file longer than BUSY_SECONDS while creating them
                            # (waited for once more: a file held twice that long is one to report).
                            busy = self.dialect == "sqlite" and _sqlite_busy(exc)
                            if ((isinstance(self.failure(exc), StoreUnreachable) and (not busy or waited))
                                    or attempt == CREATE_ATTEMPTS):
                                raise
                            waited = waited or busy
                            time.sleep(0.05 * attempt)
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
        if version < SCHEMA_VERSION:
            with self.engine.connect() as conn:
                found_columns = inspect(conn)
                self._columns = {name: {c["name"] for c in found_columns.get_columns(name)} for name in held}
        return held

    def _column(self, table: Table, name: str) -> ColumnElement:
        """`table`'s column `name`, or NULL in its place for an older store read as it is, which lacks it (a
        workspace column: its rows are the one workspace's)."""
        if self._columns is None or name in self._columns.get(table.name, ()):
            return table.c[name]
        return literal(None, table.c[name].type).label(name)

    def _record_columns(self, table: Table, record: type) -> list[ColumnElement]:
        return [self._column(table, f.name) for f in fields(record)]

    def _of_workspace(self, table: Table, team: str | None) -> ColumnElement[bool]:
        """Rows of the installation `team` names (a workspace, or an org for an org-wide installation): those of
        that workspace or org; None: every row (a single-token install's one workspace, or the whole store)."""
        if team is None:
            return true()
        team_column = self._column(table, "team" if table is questions else "team_id")
        enterprise = self._column(table, "enterprise_id")
        if table is taught_phrasings or table is written_entries:  # for the workspace, or for the whole org
            return or_(team_column == team, and_(team_column.is_(None), enterprise == team))
        return or_(team_column == team, enterprise == team)

    @_store_errors
    def workspaces(self) -> list[tuple[str | None, str | None]]:
        """Every (team_id, enterprise_id) the questions, votes, taught phrasings and entries written from Slack name,
        sorted: a workspace and its org, or (None, org) for what was taught or written for an org-wide installation.
        Rows without either (a single-token install's) are not listed."""
        self.open()
        found: set[tuple[str | None, str | None]] = set()
        tables = [(questions, "team"), (votes, "team_id")]
        tables += [(table, "team_id") for table in (taught_phrasings, written_entries) if table.name in self._tables]
        with self.engine.connect() as conn:
            for table, team in tables:
                team_column, enterprise = self._column(table, team), self._column(table, "enterprise_id")
                query = select(team_column, enterprise).where(or_(team_column.is_not(None),
                                                                  enterprise.is_not(None))).distinct()
                found.update((row[0], row[1]) for row in conn.execute(query))
        return sorted(found, key=lambda pair: (pair[1] or "", pair[0] or ""))

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
        """Record `vote`, replacing that person's earlier vote on the same reply (and, for a 👍, why they had found it
        not helpful)."""
        self.open()
        upsert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(votes)
        row = _fitted({**vars(vote), "voted_at": as_utc(vote.voted_at)}, votes)
        statement = upsert.values(row).on_conflict_do_update(
            index_elements=[votes.c.reply, votes.c.user_hash],
            set_={"entry_id": row["entry_id"], "helpful": row["helpful"], "voted_at": row["voted_at"]})
        with self.engine.begin() as conn:
            conn.execute(statement)
            if vote.helpful:
                conn.execute(delete(vote_reasons).where(vote_reasons.c.reply == row["reply"],
                                                        vote_reasons.c.user_hash == row["user_hash"]))

    @_store_errors
    def questions_since(self, since: datetime, team: str | None = None) -> list[QuestionRecord]:
        """Questions asked from `since` on, oldest first; with `team`, that installation's only (`_of_workspace`)."""
        self.open()
        query = select(*self._record_columns(questions, QuestionRecord)).where(
            questions.c.asked_at >= as_utc(since), self._of_workspace(questions, team)
        ).order_by(questions.c.asked_at, questions.c.id)
        with self.engine.connect() as conn:
            return [QuestionRecord(**row._mapping) for row in conn.execute(query)]

    @_store_errors
    def votes_since(self, since: datetime, team: str | None = None) -> list[VoteRecord]:
        """Votes cast from `since` on, oldest first; with `team`, that installation's only (`_of_workspace`)."""
        self.open()
        query = select(*self._record_columns(votes, VoteRecord)).where(
            votes.c.voted_at >= as_utc(since), self._of_workspace(votes, team)).order_by(votes.c.voted_at)
        with self.engine.connect() as conn:
            return [VoteRecord(**row._mapping) for row in conn.execute(query)]

    @_store_errors
    def add_taught(self, text: str, entry_id: str | None, near_entry: str | None, taught_by: str,
                   at: datetime | None = None, team_id: str | None = None, enterprise_id: str | None = None) -> int:
        """Record that `taught_by` taught `text` as a phrasing of `entry_id`, or (None) as not covered, near the
        entry `near_entry` the bot took it for, for the installation `team_id` and `enterprise_id` name (both None:
        the one workspace of a single-token install); the new row's id. Raises `TaughtAlready` when the same
        question (by `taught_key`) is taught for that installation and not undone, and `InvalidRecord` when a value
        cannot be stored as it is."""
        if entry_id is not None and near_entry is not None:
            raise InvalidRecord("only a question taught as not covered has a near entry")
        if not text.strip():
            raise InvalidRecord("a taught phrasing needs some text")
        row = {"text": _valid(text, "the phrasing"),
               "entry_id": _valid(entry_id, "the entry id", _length(taught_phrasings.c.entry_id)),
               "near_entry": _valid(near_entry, "the near entry's id", _length(taught_phrasings.c.near_entry)),
               "taught_by": _valid(taught_by, "the admin's id", _length(taught_phrasings.c.taught_by)),
               "taught_at": as_utc(at or utcnow()), "text_key": (key := taught_key(text)),
               "team_id": _valid(team_id, "the workspace's id", _length(taught_phrasings.c.team_id)),
               "enterprise_id": _valid(enterprise_id, "the org's id", _length(taught_phrasings.c.enterprise_id))}
        self.open()
        try:
            with self.engine.begin() as conn:
                return int(conn.execute(insert(taught_phrasings).values(row).returning(taught_phrasings.c.id))
                           .scalar_one())
        except sa_exc.IntegrityError:
            standing = self._taught_with_key(key, team_id, enterprise_id)
            if standing is None:  # undone in between: the index no longer holds it
                raise
            raise TaughtAlready(standing) from None

    def _taught_with_key(self, key: str, team_id: str | None, enterprise_id: str | None) -> TaughtRecord | None:
        query = select(*self._record_columns(taught_phrasings, TaughtRecord)).where(
            taught_phrasings.c.text_key == key, _NOT_UNDONE, taught_phrasings.c.team_id == team_id,
            taught_phrasings.c.enterprise_id == enterprise_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return TaughtRecord(**row._mapping) if row is not None else None

    @_store_errors
    def undo_taught(self, taught_id: int, undone_by: str, at: datetime | None = None, team: str | None = None
                    ) -> TaughtRecord | None:
        """Undo the taught phrasing `taught_id`: the record as undone, or None if there is none (an id no phrasing
        can have included), it already was, or (with `team`) it is another installation's."""
        if not 0 < taught_id <= MAX_ID:
            return None
        _valid(undone_by, "the admin's id", _length(taught_phrasings.c.undone_by))
        self.open()
        with self.engine.begin() as conn:
            # One statement decides: of two admins undoing at once, one gets the record, the other None.
            changed = conn.execute(
                update(taught_phrasings)
                .where(taught_phrasings.c.id == taught_id, _NOT_UNDONE, self._of_workspace(taught_phrasings, team))
                .values(undone_at=as_utc(at or utcnow()), undone_by=undone_by))
            if changed.rowcount != 1:
                return None
            row = conn.execute(select(*self._record_columns(taught_phrasings, TaughtRecord))
                               .where(taught_phrasings.c.id == taught_id)).one()
            return TaughtRecord(**row._mapping)

    @_store_errors
    def taught(self, since: datetime | None = None, include_undone: bool = False, team: str | None = None
               ) -> list[TaughtRecord]:
        """Taught phrasings, oldest first: those taught from `since` on, without the undone ones unless asked; with
        `team`, those taught for that installation only (`_of_workspace`)."""
        self.open()
        if taught_phrasings.name not in self._tables:  # an older store, read as it is
            return []
        query = select(*self._record_columns(taught_phrasings, TaughtRecord)).where(
            self._of_workspace(taught_phrasings, team)).order_by(taught_phrasings.c.taught_at, taught_phrasings.c.id)
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

    # ---- Feedback reasons, hand-offs and digests (issue 22, parts 4 to 6).

    def _upsert(self, table: Table) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    @_store_errors
    def add_vote_reason(self, reply: str, user_hash: str, reason: str | None, text: str | None,
                        at: datetime | None = None) -> bool:
        """Keep why the person `user_hash` found `reply` not helpful (a choice of REASONS, words of their own, or
        both), replacing what they said before; False, keeping nothing, when their vote on it is not a 👎 (changed
        meanwhile, or never cast). `text` longer than MAX_REASON_CHARS, or a reason not of REASONS, is
        `InvalidRecord`."""
        if reason is not None and reason not in REASONS:
            raise InvalidRecord(f"the reason {reason[:40]!r} is not one of {', '.join(REASONS)}")
        if text is not None and len(text) > MAX_REASON_CHARS:
            raise InvalidRecord(f"the reason's text is longer than {MAX_REASON_CHARS} characters")
        row = {"reply": _valid(reply, "the reply", _length(vote_reasons.c.reply)),
               "user_hash": _valid(user_hash, "the voter", _length(vote_reasons.c.user_hash)),
               "reason": reason, "text": storable(text).strip() or None if text is not None else None,
               "given_at": as_utc(at or utcnow())}
        self.open()
        with self.engine.begin() as conn:
            helpful = conn.execute(select(votes.c.helpful).where(votes.c.reply == reply,
                                                                 votes.c.user_hash == user_hash)).scalar()
            if helpful is None or helpful:
                return False
            conn.execute(self._upsert(vote_reasons).values(row).on_conflict_do_update(
                index_elements=[vote_reasons.c.reply, vote_reasons.c.user_hash],
                set_={"reason": row["reason"], "text": row["text"], "given_at": row["given_at"]}))
        return True

    @_store_errors
    def vote_reasons_since(self, since: datetime, team: str | None = None) -> list[VoteReason]:
        """The reasons given since `since` for votes that are still 👎, oldest first; with `team`, for that
        installation's votes only."""
        self.open()
        if vote_reasons.name not in self._tables:  # an older store, read as it is
            return []
        query = (select(vote_reasons.c.reply, vote_reasons.c.user_hash, votes.c.entry_id, vote_reasons.c.reason,
                        vote_reasons.c.text, vote_reasons.c.given_at)
                 .join(votes, (votes.c.reply == vote_reasons.c.reply) & (votes.c.user_hash == vote_reasons.c.user_hash))
                 .where(vote_reasons.c.given_at >= as_utc(since), votes.c.helpful.is_(False),
                        self._of_workspace(votes, team))
                 .order_by(vote_reasons.c.given_at))
        with self.engine.connect() as conn:
            return [VoteReason(**row._mapping) for row in conn.execute(query)]

    @_store_errors
    def claim_handoff(self, reply: str, channel: str, thread_ts: str | None, outcome: str, question: str,
                      team_id: str | None = None, asker_hash: str | None = None, at: datetime | None = None
                      ) -> tuple[HandoffRecord, bool]:
        """Claim the hand-off of the question the bot's reply `reply` (channel:ts) answered: (its record, True)
        for the one caller that may post it, (the record as it stands, False) for every other: asked already (and
        posted, or being posted). A claim never posted within HANDOFF_STALE may be claimed again."""
        now = as_utc(at or utcnow())
        row = {"reply": _valid(reply, "the reply", _length(handoffs.c.reply)),
               "channel": _valid(channel, "the channel", _length(handoffs.c.channel)),
               "thread_ts": _valid(thread_ts, "the thread", _length(handoffs.c.thread_ts)),
               "outcome": _valid(outcome, "the outcome", _length(handoffs.c.outcome)),
               "team_id": _valid(team_id, "the workspace", _length(handoffs.c.team_id)),
               "asker_hash": _valid(asker_hash, "the asker", _length(handoffs.c.asker_hash)),
               "question": storable(question, MAX_HANDOFF_CHARS), "asked_at": now}
        self.open()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(handoffs).values(row))
        except sa_exc.IntegrityError:
            standing = self._handoff_where(handoffs.c.reply == reply)
            if standing is None:  # released in between: the next click claims it
                raise StoreUnreachable(f"{describe(self.url)} could not do it now: the hand-off changed meanwhile"
                                       ) from None
            if standing.posted_ts is not None or standing.asked_at > now - HANDOFF_STALE:
                return standing, False
            with self.engine.begin() as conn:  # the one whose update finds it unchanged takes it over
                taken = conn.execute(update(handoffs).where(
                    handoffs.c.id == standing.id, handoffs.c.posted_ts.is_(None),
                    handoffs.c.asked_at == standing.asked_at).values(asked_at=now)).rowcount
            return replace(standing, asked_at=now), taken == 1
        claimed = self._handoff_where(handoffs.c.reply == reply)
        assert claimed is not None
        return claimed, True

    def _handoff_where(self, condition: Any) -> HandoffRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_HANDOFF_COLUMNS).where(condition)).first()
        return HandoffRecord(**row._mapping) if row is not None else None

    @_store_errors
    def handoff_posted(self, handoff_id: int, channel: str, ts: str, at: datetime | None = None) -> None:
        self.open()
        with self.engine.begin() as conn:
            conn.execute(update(handoffs).where(handoffs.c.id == handoff_id)
                         .values(posted_channel=channel, posted_ts=ts, posted_at=as_utc(at or utcnow())))

    @_store_errors
    def release_handoff(self, handoff_id: int) -> None:
        """Forget a claimed hand-off that could not be posted, so that a click may try again."""
        self.open()
        with self.engine.begin() as conn:
            conn.execute(delete(handoffs).where(handoffs.c.id == handoff_id, handoffs.c.posted_ts.is_(None)))

    @_store_errors
    def handoff_in_thread(self, channel: str, thread_ts: str) -> tuple[HandoffRecord, Literal["team", "thread"]] | None:
        """The hand-off whose team thread (the message posted for the team) or asker's thread is `thread_ts` in
        `channel`, and which of the two it is; None if there is none."""
        self.open()
        if handoffs.name not in self._tables:
            return None
        posted = self._handoff_where((handoffs.c.posted_channel == channel) & (handoffs.c.posted_ts == thread_ts))
        if posted is not None:
            return posted, "team"
        with self.engine.connect() as conn:  # the latest, should one thread have been handed off twice
            row = conn.execute(select(*_HANDOFF_COLUMNS).where(
                handoffs.c.channel == channel, handoffs.c.thread_ts == thread_ts, handoffs.c.posted_ts.is_not(None))
                .order_by(handoffs.c.id.desc())).first()
        return (HandoffRecord(**row._mapping), "thread") if row is not None else None

    @_store_errors
    def handoff_threads(self, since: datetime) -> set[tuple[str, str]]:
        """(channel, thread ts) of every thread where an answer to a hand-off posted since `since` may come: the
        team's thread under each, and the asker's."""
        self.open()
        if handoffs.name not in self._tables:
            return set()
        query = select(handoffs.c.channel, handoffs.c.thread_ts, handoffs.c.posted_channel, handoffs.c.posted_ts
                       ).where(handoffs.c.asked_at >= as_utc(since), handoffs.c.posted_ts.is_not(None))
        found: set[tuple[str, str]] = set()
        with self.engine.connect() as conn:
            for channel, thread_ts, posted_channel, posted_ts in conn.execute(query):
                found.add((posted_channel, posted_ts))
                if thread_ts:
                    found.add((channel, thread_ts))
        return found

    @_store_errors
    def add_handoff_answer(self, answer: HandoffAnswer) -> bool:
        """Keep `answer`; False when that message was kept already (Slack sent it again)."""
        row = {"handoff_id": answer.handoff_id,
               "channel": _valid(answer.channel, "the channel", _length(handoff_answers.c.channel)),
               "ts": _valid(answer.ts, "the message", _length(handoff_answers.c.ts)), "place": answer.place,
               "text": storable(answer.text, MAX_HANDOFF_CHARS), "answered_at": as_utc(answer.answered_at)}
        self.open()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(handoff_answers).values(row))
        except sa_exc.IntegrityError:
            return False
        return True

    @_store_errors
    def handoffs_since(self, since: datetime) -> list[HandoffRecord]:
        """The hand-offs posted since `since`, newest first, each with its answers (oldest first)."""
        self.open()
        if handoffs.name not in self._tables:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(select(*_HANDOFF_COLUMNS).where(
                handoffs.c.asked_at >= as_utc(since), handoffs.c.posted_ts.is_not(None))
                .order_by(handoffs.c.asked_at.desc(), handoffs.c.id.desc())).all()
            found = [HandoffRecord(**row._mapping) for row in rows]
            answers: dict[int, list[HandoffAnswer]] = {}
            ids = [h.id for h in found]
            for start in range(0, len(ids), 500):
                query = select(*_ANSWER_COLUMNS).where(handoff_answers.c.handoff_id.in_(ids[start:start + 500])
                                                       ).order_by(handoff_answers.c.answered_at, handoff_answers.c.ts)
                for row in conn.execute(query):
                    answers.setdefault(row.handoff_id, []).append(HandoffAnswer(**row._mapping))
        return [replace(h, answers=tuple(answers.get(h.id, ()))) for h in found]

    @_store_errors
    def claim_digest(self, key: str, period_start: datetime, period_end: datetime, claimed_by: str,
                     team_id: str | None = None, at: datetime | None = None, again: bool = False) -> bool:
        """Claim the digest `key`: True for the one caller whose insert wins (it posts), False for every other
        (another replica has it, or had it). With `again`, a digest claimed before is claimed anew (an operator's
        choice: it may then be posted twice)."""
        row = {"key": _valid(key, "the digest's key", _length(digests.c.key)),
               "team_id": _valid(team_id, "the workspace", _length(digests.c.team_id)),
               "period_start": as_utc(period_start), "period_end": as_utc(period_end),
               "claimed_at": as_utc(at or utcnow()), "claimed_by": storable(claimed_by, _length(digests.c.claimed_by)),
               "status": "claimed"}
        self.open()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(digests).values(row))
        except sa_exc.IntegrityError:
            if not again:
                return False
            with self.engine.begin() as conn:
                conn.execute(update(digests).where(digests.c.key == key).values(
                    {**row, "channel": None, "ts": None, "finished_at": None}))
        return True

    @_store_errors
    def finish_digest(self, key: str, status: str, channel: str | None = None, ts: str | None = None,
                      at: datetime | None = None) -> None:
        """Say how the digest `key` ended: posted (in `channel` at `ts`), empty (no questions) or failed."""
        self.open()
        with self.engine.begin() as conn:
            conn.execute(update(digests).where(digests.c.key == key).values(
                status=status, channel=channel, ts=ts, finished_at=as_utc(at or utcnow())))

    @_store_errors
    def digest_record(self, key: str) -> DigestRecord | None:
        self.open()
        if digests.name not in self._tables:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(*[digests.c[f.name] for f in fields(DigestRecord)]
                                      ).where(digests.c.key == key)).first()
        return DigestRecord(**row._mapping) if row is not None else None

    # ---- Entries and answers written from Slack (issue 22, part 2).

    @_store_errors
    def add_written(self, item: Written, written_by: str, team_id: str | None = None,
                    enterprise_id: str | None = None, at: datetime | None = None) -> int:
        """Record that `written_by` wrote `item` (a new entry, or another answer for an entry) for the installation
        `team_id` / `enterprise_id`; the new row's id. Raises `EntryTaken` when a new entry of that id was written
        there and not undone, and `InvalidRecord` when a value cannot be stored as it is."""
        table = written_entries
        row: dict[str, object] = {
            "entry_id": _valid(item.id if isinstance(item, NewEntry) else item.entry_id, "the entry id",
                               _length(table.c.entry_id)),
            "answer": _valid(item.answer, "the answer"),
            "written_by": _valid(written_by, "the admin's id", _length(table.c.written_by)),
            "written_at": as_utc(at or utcnow()),
            "team_id": _valid(team_id, "the workspace", _length(table.c.team_id)),
            "enterprise_id": _valid(enterprise_id, "the org", _length(table.c.enterprise_id))}
        if isinstance(item, NewEntry):
            details = {"sources": [list(s) for s in item.sources], "alternates": list(item.alternates),
                       "tags": list(item.tags)}
            row |= {"kind": "entry", "theme": _valid(item.theme, "the theme", _length(table.c.theme)),
                    "question": _valid(item.question, "the question"),
                    "details": _valid(json.dumps(details, ensure_ascii=False), "the sources")}
        else:
            row |= {"kind": "answer"}
        self.open()
        try:
            with self.engine.begin() as conn:
                return int(conn.execute(insert(table).values(row).returning(table.c.id)).scalar_one())
        except sa_exc.IntegrityError:
            with self.engine.connect() as conn:
                standing = conn.execute(select(*_WRITTEN_COLUMNS).where(
                    _WRITTEN_LIVE, table.c.entry_id == row["entry_id"],
                    func.coalesce(table.c.team_id, "") == (team_id or ""),
                    func.coalesce(table.c.enterprise_id, "") == (enterprise_id or ""))).first()
            if standing is None:  # undone in between: the index no longer holds it
                raise
            raise EntryTaken(WrittenRecord(**standing._mapping)) from None

    @_store_errors
    def undo_written(self, written_id: int, undone_by: str, at: datetime | None = None, team: str | None = None
                     ) -> WrittenRecord | None:
        """Undo the entry or answer `written_id`: the record as undone, or None if there is none, it already was, or
        (with `team`) it is another installation's."""
        if not 0 < written_id <= MAX_ID:
            return None
        table = written_entries
        _valid(undone_by, "the admin's id", _length(table.c.undone_by))
        self.open()
        with self.engine.begin() as conn:
            changed = conn.execute(update(table).where(table.c.id == written_id, table.c.undone_at.is_(None),
                                                       self._of_workspace(table, team))
                                   .values(undone_at=as_utc(at or utcnow()), undone_by=undone_by))
            if changed.rowcount != 1:
                return None
            row = conn.execute(select(*_WRITTEN_COLUMNS).where(table.c.id == written_id)).one()
            return WrittenRecord(**row._mapping)

    @_store_errors
    def written(self, since: datetime | None = None, include_undone: bool = False, team: str | None = None
                ) -> list[WrittenRecord]:
        """Entries and answers written from Slack, oldest first: those written from `since` on, without the undone
        ones unless asked; with `team`, those written for that installation only (`_of_workspace`, as for taught
        phrasings)."""
        self.open()
        table = written_entries
        if table.name not in self._tables:  # an older store, read as it is
            return []
        query = select(*_WRITTEN_COLUMNS).where(self._of_workspace(table, team)).order_by(table.c.written_at,
                                                                                        table.c.id)
        if since is not None:
            query = query.where(table.c.written_at >= as_utc(since))
        if not include_undone:
            query = query.where(table.c.undone_at.is_(None))
        with self.engine.connect() as conn:
            return [WrittenRecord(**row._mapping) for row in conn.execute(query)]

    @_store_errors
    def written_version(self) -> tuple[int, int | None, int]:
        """A value that changes whenever an entry or answer is written or undone, in one cheap query (as
        `taught_version`): what replicas poll."""
        self.open()
        table = written_entries
        if table.name not in self._tables:
            return (0, None, 0)
        with self.engine.connect() as conn:
            count, highest, undone = conn.execute(
                select(func.count(), func.max(table.c.id), func.count(table.c.undone_at))).one()
        return (int(count), highest, int(undone))

    # ---- end of the entries written from Slack.

    def close(self) -> None:
        self.engine.dispose()


_WRITTEN_COLUMNS = [written_entries.c[f.name] for f in fields(WrittenRecord)]
# What a HandoffRecord and a HandoffAnswer hold (a record's answers are read apart).
_HANDOFF_COLUMNS = [handoffs.c[f.name] for f in fields(HandoffRecord) if f.name != "answers"]
_ANSWER_COLUMNS = [handoff_answers.c[f.name] for f in fields(HandoffAnswer)]
MAX_HANDOFF_CHARS = 4000  # a question handed off, or an answer to it: kept to this many characters
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


def _sqlite_busy(exc: BaseException) -> bool:
    """SQLite gave up waiting for another connection's lock ("database is locked")."""
    said = _first_line(getattr(exc, "orig", None) or exc)
    return "locked" in said or "busy" in said


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
