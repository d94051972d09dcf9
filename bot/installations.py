"""Installing the bot in many workspaces with Bolt's OAuth flow: its settings (`oauth_settings`), and where each
installation and each OAuth `state` is kept: the bot's own database (the question store's: a SQLite file by default,
PostgreSQL for replicas), in the tables slack-sdk's SQLAlchemy stores define (`slack_installations`, `slack_bots`,
`slack_oauth_states`), created on first use.

slack-sdk's synchronous stores, on the question store's own engine, each call run off the event loop with a bounded
wait (bot/offloop.py), rather than its async stores on a second, async engine: one connection pool and one set of
timeouts per database (connecting, a statement, a SQLite file another process writes), the store's one-line errors,
no second driver (aiosqlite, asyncpg) to install and keep, and a database that never answers holds neither the event
loop nor the exit. A lookup costs a thread start (~0.1 ms) beside the Web API calls of the reply (tens of ms)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from .config import OAUTH_INSTALL_PATH, OAUTH_REDIRECT_PATH, Config
from .logs import OAUTH_LOGGER
from .offloop import Busy, Late, OffLoop
from .store import Store, StoreUnreachable, describe

log = logging.getLogger(__name__)
T = TypeVar("T")

# What an installation grants the bot: the bot scopes of manifest.yaml (a test keeps them the same).
INSTALL_SCOPES = ("app_mentions:read", "channels:history", "channels:read", "groups:read", "chat:write",
                  "chat:write.public", "commands", "groups:history", "im:history", "im:read", "im:write",
                  "mpim:history", "reactions:read", "usergroups:read")
# How long an "Add to Slack" link stays good: from the install page to Slack's redirect back (Bolt's default).
STATE_SECONDS = 600
# How long a lookup or a save waits for the database (the store's own timeouts end most waits sooner), and how many
# may be waiting at once: those that never returned count until they do.
CALL_SECONDS = 10.0
MAX_CALLS = 16
# A state as the state store issues it (a UUID): anything else is refused before it reaches the database.
_STATE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class _Database:
    """The question store's database, for slack-sdk's stores: their tables created once (with the store's own, which
    makes the SQLite file and its folder), each call off the event loop within CALL_SECONDS, its errors said as the
    store says them (`StoreError`, one line naming the database without its password)."""

    def __init__(self, store: Store, create_tables: list[Callable[[], None]]) -> None:
        self.store = store
        self._create_tables = create_tables
        self._ready = False
        self._lock = threading.Lock()
        self._calls = OffLoop(CALL_SECONDS, MAX_CALLS, name="installations")

    @property
    def engine(self) -> Engine:
        return self.store.engine

    def _open(self) -> None:
        with self._lock:
            if self._ready:
                return
            self.store.open()
            for create in self._create_tables:
                try:
                    create()
                except sa_exc.DBAPIError:  # another replica starting at the same moment created them first
                    create()
            self._ready = True

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` on a thread of its own once the tables are there: its result; `StoreError` when the database
        failed, could not be reached or did not answer within CALL_SECONDS."""

        def call() -> T:
            try:
                self._open()
                return work()
            except (sa_exc.SQLAlchemyError, OSError) as exc:
                raise self.store.failure(exc) from exc

        try:
            return await self._calls.run(call)
        except (Late, Busy) as exc:
            raise StoreUnreachable(f"{describe(self.store.url)} did not answer: {exc}") from None


class Installations(AsyncInstallationStore):
    """Each workspace's (or org's) installation: slack-sdk's `SQLAlchemyInstallationStore` in the bot's database,
    each call off the event loop. Bolt saves an installation at the end of the OAuth flow, finds the one a request
    is for to answer it with that workspace's token, and deletes it on `app_uninstalled` and `tokens_revoked`
    (`enable_token_revocation_listeners`)."""

    def __init__(self, database: _Database, sync: SQLAlchemyInstallationStore) -> None:
        self._database, self._sync = database, sync

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self._database.run(lambda: self._sync.save(installation))
        log.info("installed in %s", _named(installation.enterprise_id, installation.team_id,
                                           installation.is_enterprise_install))

    async def async_save_bot(self, bot: Bot) -> None:
        await self._database.run(lambda: self._sync.save_bot(bot))

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        return await self._database.run(lambda: self._sync.find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install))

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None, is_enterprise_install: bool | None = False
                                      ) -> Installation | None:
        return await self._database.run(lambda: self._sync.find_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
            is_enterprise_install=is_enterprise_install))

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Forget the bot token of a workspace (or org), and the installation that holds it too: the bot asks for no
        user token, so nothing is left to answer with, and Bolt finds an installation before a bot (a revoked bot
        token left in it would still be tried)."""

        def delete() -> None:
            self._sync.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
            self._sync.delete_installation(enterprise_id=enterprise_id, team_id=team_id)

        await self._database.run(delete)
        log.info("%s forgotten: its bot token was revoked, or the app uninstalled",
                 _named(enterprise_id, team_id, team_id is None))

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        await self._database.run(lambda: self._sync.delete_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id))


class OAuthStates(AsyncOAuthStateStore):
    """The `state` of each "Add to Slack" link: slack-sdk's `SQLAlchemyOAuthStateStore` table in the bot's database,
    issued on the install page and good for one redirect back within `expiration_seconds`. Consumed in one statement
    (a delete that says whether it found one), so that two redirects with the same state, on two replicas at the
    same moment, cannot both pass; a state not of the form issued never reaches the database."""

    def __init__(self, database: _Database, sync: SQLAlchemyOAuthStateStore) -> None:
        self._database, self._sync = database, sync

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        def issue() -> str:
            table = self._sync.oauth_states
            with self._database.engine.begin() as conn:  # the expired ones go as new ones come
                conn.execute(table.delete().where(table.c.expire_at <= _now()))
            return self._sync.issue()

        return await self._database.run(issue)

    async def async_consume(self, state: str) -> bool:
        if not isinstance(state, str) or not _STATE.fullmatch(state):
            return False

        def consume() -> bool:
            table = self._sync.oauth_states
            with self._database.engine.begin() as conn:
                found = conn.execute(table.delete().where(table.c.state == state, table.c.expire_at > _now()))
            return found.rowcount == 1

        return await self._database.run(consume)


def _now() -> datetime:
    """Now as the state table keeps its times (naive UTC)."""
    return datetime.fromtimestamp(time.time(), tz=UTC).replace(tzinfo=None)


def _named(enterprise_id: str | None, team_id: str | None, org_wide: bool | None) -> str:
    if org_wide and enterprise_id:
        return f"the org {enterprise_id} (every workspace of it)"
    return f"workspace {team_id}" + (f" of the org {enterprise_id}" if enterprise_id else "")


def oauth_settings(config: Config, store: Store) -> AsyncOAuthSettings:
    """Bolt's OAuth settings for `config` (its client id and secret, and redirect URL if any), installations and
    states kept in `store`'s database: "Add to Slack" at OAUTH_INSTALL_PATH, Slack's redirect at
    OAUTH_REDIRECT_PATH, the scopes of manifest.yaml, and no user scopes."""
    assert config.client_id is not None and config.client_secret is not None
    installations = SQLAlchemyInstallationStore(config.client_id, store.engine, logger=log)
    states = SQLAlchemyOAuthStateStore(STATE_SECONDS, store.engine, logger=log)
    database = _Database(store, [installations.create_tables, states.create_tables])
    return AsyncOAuthSettings(
        client_id=config.client_id, client_secret=config.client_secret, scopes=list(INSTALL_SCOPES), user_scopes=[],
        redirect_uri=config.redirect_uri, install_path=OAUTH_INSTALL_PATH, redirect_uri_path=OAUTH_REDIRECT_PATH,
        installation_store=Installations(database, installations), state_store=OAuthStates(database, states),
        state_expiration_seconds=STATE_SECONDS, logger=logging.getLogger(OAUTH_LOGGER))


def authorize(settings: AsyncOAuthSettings) -> AsyncInstallationStoreAuthorize:
    """Bolt's authorization from the installation store, each token's `auth.test` made once (then kept with the
    token) rather than at every request: a reinstall brings a new token, and an uninstalled workspace has no
    installation to find, so a kept answer is never used for a token that is gone."""
    return AsyncInstallationStoreAuthorize(
        logger=logging.getLogger(OAUTH_LOGGER), installation_store=settings.installation_store,
        client_id=settings.client_id, client_secret=settings.client_secret, cache_enabled=True,
        user_token_resolution=settings.user_token_resolution)

