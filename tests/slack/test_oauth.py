"""Installing in many workspaces with Bolt's OAuth flow (issue 24, part 1), end to end on loopback, on SQLite and on
a real PostgreSQL server: "Add to Slack" and Slack's redirect back (`oauth.v2.access` answered by the fake Slack),
each workspace answered with its own token, an Enterprise Grid org-wide install, a workspace forgotten when it
uninstalls the app or revokes its tokens, a forged or replayed `state` refused without a server error, and what one
workspace teaches its own: applied to its questions alone, seen and undone by its admins alone."""

from __future__ import annotations

import asyncio
import base64
import html
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import yaml
from repo_paths import ROOT
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

from bot import blocks
from bot.adapter.aiohttp import EVENTS_PATH, start_http
from bot.app import create_app
from bot.config import OAUTH_INSTALL_PATH, OAUTH_REDIRECT_PATH, ConfigError, Mode, Settings
from bot.fakeslack import FakeSlack, wait_until_healthy
from bot.installations import INSTALL_SCOPES
from bot.recorder import Recorder
from bot.state import KnowledgeHolder
from bot.store import Store, utcnow
from knowledge import KnowledgeBase

from .slackkit import FIXTURE_FAQ, LICENSING_Q, SECRET, Slack, all_text, make_config, until
from .test_teaching import DID_YOU_MEAN, UNSURE_Q, control
from .undo_buttons import undo_beside

CLIENT_ID = "1234567890.9876543210"
CLIENT_SECRET = "0123456789abcdef0123456789abcdef"
ADMIN_A, ADMIN_B = "UADMINA", "UADMINB"
COOKIE = "slack-app-oauth-state"


@dataclass
class Browser:
    """A browser on the bot's web pages (cookies sent by hand: the state cookie is Secure, and this is http)."""

    http: aiohttp.ClientSession
    url: str

    async def get(self, path: str, cookie: str | None = None, **params: str) -> tuple[int, str, list[str]]:
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else {}
        async with self.http.get(self.url + path, params=params, headers=headers, allow_redirects=False) as page:
            return page.status, await page.text(), page.headers.getall("Set-Cookie", [])

    async def add_to_slack(self) -> str:
        """Open the install page: the state of its "Add to Slack" link, checked to be the one its cookie holds."""
        status, page, cookies = await self.get(OAUTH_INSTALL_PATH)
        assert status == 200 and "Add to Slack" in page
        link = urlsplit(html.unescape(re.search(r'<a href="([^"]+)"', page)[1]))  # type: ignore[index]
        query = parse_qs(link.query)
        assert (link.netloc, link.path) == ("slack.com", "/oauth/v2/authorize")
        assert query["client_id"] == [CLIENT_ID] and set(query["scope"][0].split(",")) == set(INSTALL_SCOPES)
        [state] = query["state"]
        assert any(c.startswith(f"{COOKIE}={state};") and "HttpOnly" in c for c in cookies)
        return state

    async def install(self, fake: FakeSlack, code: str) -> str:
        """Go through "Add to Slack", Slack redirecting back with `code`: the bot token the install minted."""
        state = await self.add_to_slack()
        before = set(fake.installed)
        status, page, _ = await self.get(OAUTH_REDIRECT_PATH, cookie=state, code=code, state=state)
        assert status == 200, page
        [token] = set(fake.installed) - before
        return token


@dataclass
class OAuthSlack(Slack):
    """The app installed with OAuth, a browser on its pages, and the recorder of its store."""

    browser: Browser | None = None
    recorder: Recorder | None = None

    @property
    def store(self) -> Store:
        assert self.recorder is not None
        return self.recorder.store

    def recorded(self) -> bool:
        """Everything queued for the store is written."""
        assert self.recorder is not None
        return self.recorder.flush()


@pytest.fixture
async def oauth(fake: FakeSlack, kb: KnowledgeBase, recorder: Recorder) -> AsyncIterator[OAuthSlack]:
    config = replace(make_config(fake, admin_user_ids=frozenset({ADMIN_A, ADMIN_B})), bot_token="", app_token=None,
                     client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    holder = KnowledgeHolder(kb)
    app = create_app(config, holder, recorder=recorder)
    runner, url = await start_http(app, holder, SECRET, "127.0.0.1", 0)
    fake.send_over_http(url + EVENTS_PATH, SECRET)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        yield OAuthSlack(fake, url, holder, runner, Browser(http, url), recorder)
    await runner.cleanup()


def browser(slack: OAuthSlack) -> Browser:
    assert slack.browser is not None
    return slack.browser


def in_workspace(payload: dict[str, Any], team: str, enterprise: str | None = None, org_wide: bool = False
                 ) -> dict[str, Any]:
    """An `event_callback` from the fake Slack as a workspace `team` (of the org `enterprise`) sends it to an app
    installed there (or for the whole org)."""
    payload["team_id"] = team
    payload["authorizations"] = [{"enterprise_id": enterprise, "team_id": None if org_wide else team,
                                  "user_id": "UBOT", "is_bot": True, "is_enterprise_install": org_wide}]
    if enterprise is not None:
        payload["enterprise_id"] = enterprise
    return payload


async def mention(slack: Slack | FakeSlack, text: str, team: str, channel: str, enterprise: str | None = None,
                  org_wide: bool = False) -> None:
    fake = slack if isinstance(slack, FakeSlack) else slack.fake
    await fake.send_event(in_workspace(fake.mention_payload(text, channel=channel), team, enterprise, org_wide))


async def reply_in(slack: Slack | FakeSlack, channel: str, count: int = 1) -> tuple[str | None, str]:
    """The token and the text of the `count`-th reply posted in `channel`, once it is."""
    fake = slack if isinstance(slack, FakeSlack) else slack.fake

    def posted() -> list[Any]:
        return [c for c in fake.calls_to("chat.postMessage") if c.args.get("channel") == channel]

    await until(lambda: len(posted()) >= count)
    call = posted()[count - 1]
    return call.token, all_text(call.args["blocks"])


def installation(store: Store, team: str | None, enterprise: str | None = None) -> object:
    found = SQLAlchemyInstallationStore(CLIENT_ID, store.engine)
    return found.find_installation(enterprise_id=enterprise, team_id=team, is_enterprise_install=team is None)


async def test_each_workspace_installed_with_add_to_slack_is_answered_with_its_own_token(oauth: OAuthSlack) -> None:
    first = await browser(oauth).install(oauth.fake, "T0AAA")
    second = await browser(oauth).install(oauth.fake, "E0GRID/T0BBB")  # a workspace of an org, installed on its own
    [exchange, _] = oauth.fake.calls_to("oauth.v2.access")
    # The code was exchanged with the app's credentials, sent as HTTP Basic (never as a token or in the query).
    assert exchange.token == "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert exchange.args["code"] == "T0AAA" and CLIENT_SECRET not in str(exchange.args)
    await mention(oauth, LICENSING_Q, "T0AAA", "CAAA")
    await mention(oauth, LICENSING_Q, "T0BBB", "CBBB", enterprise="E0GRID")
    assert (await reply_in(oauth, "CAAA"))[0] == first and (await reply_in(oauth, "CBBB"))[0] == second
    await mention(oauth, LICENSING_Q, "T0AAA", "CAAA")
    assert (await reply_in(oauth, "CAAA", 2))[0] == first
    assert "commercial" in (await reply_in(oauth, "CBBB"))[1].lower()
    # auth.test once per token as it is installed, once as it is first used: not at every event.
    assert [c.token for c in oauth.fake.calls_to("auth.test")].count(first) == 2
    # Each question is stored with its workspace, and its org.
    assert oauth.recorded()
    mine = oauth.store.questions_since(utcnow().replace(year=2000), team="T0AAA")
    theirs = oauth.store.questions_since(utcnow().replace(year=2000), team="T0BBB")
    assert [(q.team, q.enterprise_id) for q in mine] == [("T0AAA", None)] * 2
    assert [(q.team, q.enterprise_id) for q in theirs] == [("T0BBB", "E0GRID")]


async def test_an_org_wide_install_answers_every_workspace_of_the_org_with_the_orgs_token(oauth: OAuthSlack) -> None:
    token = await browser(oauth).install(oauth.fake, "E0ORG")
    assert installation(oauth.store, None, "E0ORG") is not None
    await mention(oauth, LICENSING_Q, "T0ONE", "CONE", enterprise="E0ORG", org_wide=True)
    await mention(oauth, LICENSING_Q, "T0TWO", "CTWO", enterprise="E0ORG", org_wide=True)
    assert (await reply_in(oauth, "CONE"))[0] == token and (await reply_in(oauth, "CTWO"))[0] == token

    def asked() -> list[tuple[str | None, str | None]]:
        return sorted((q.team, q.enterprise_id) for q in oauth.store.questions_since(utcnow().replace(year=2000),
                                                                                     team="E0ORG"))

    # Each question is queued for the store once its reply has been sent: the second may come after the reply is seen.
    await until(lambda: oauth.recorded() and len(asked()) == 2)
    assert asked() == [("T0ONE", "E0ORG"), ("T0TWO", "E0ORG")]


@pytest.mark.parametrize("event", [{"type": "app_uninstalled"},
                                   {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}],
                         ids=["app_uninstalled", "tokens_revoked"])
async def test_a_workspace_that_uninstalls_or_revokes_is_forgotten_and_no_longer_answered(
        oauth: OAuthSlack, event: dict[str, Any]) -> None:
    gone = await browser(oauth).install(oauth.fake, "T0AAA")
    kept = await browser(oauth).install(oauth.fake, "T0BBB")
    await mention(oauth, LICENSING_Q, "T0AAA", "CAAA")
    assert (await reply_in(oauth, "CAAA"))[0] == gone
    await oauth.fake.send_event(in_workspace(oauth.fake._event({**event, "event_ts": "1700000000.000200"}), "T0AAA"))
    await until(lambda: installation(oauth.store, "T0AAA") is None)
    await mention(oauth, LICENSING_Q, "T0AAA", "CAAA")
    await mention(oauth, LICENSING_Q, "T0BBB", "CBBB")  # handled after the one before it
    assert (await reply_in(oauth, "CBBB"))[0] == kept
    assert [c.token for c in oauth.fake.calls if c.token == gone and c.method != "auth.test"] == [gone]
    assert installation(oauth.store, "T0BBB") is not None


async def test_a_forged_or_replayed_state_is_refused_without_a_server_error(oauth: OAuthSlack) -> None:
    visitor = browser(oauth)
    state = await visitor.add_to_slack()
    other = await visitor.add_to_slack()
    never_issued = "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"
    refused = [
        await visitor.get(OAUTH_REDIRECT_PATH, code="T0AAA", state=state),  # not from the browser that began
        await visitor.get(OAUTH_REDIRECT_PATH, cookie=other, code="T0AAA", state=state),  # another's state
        await visitor.get(OAUTH_REDIRECT_PATH, cookie=never_issued, code="T0AAA", state=never_issued),
        await visitor.get(OAUTH_REDIRECT_PATH, cookie="x' OR '1'='1", code="T0AAA", state="x' OR '1'='1"),
        await visitor.get(OAUTH_REDIRECT_PATH, cookie="9" * 5000, code="T0AAA", state="9" * 5000),
        await visitor.get(OAUTH_REDIRECT_PATH, cookie=state, state=state, error="access_denied"),  # cancelled
    ]
    # Bolt's pages: 400 when the browser's cookie does not hold the state, 401 when the state is not one issued.
    assert [status for status, _, _ in refused] == [400, 400, 401, 400, 401, 200]
    assert all("Oops" in page for _, page, _ in refused)
    assert oauth.fake.calls_to("oauth.v2.access") == []
    status, _, _ = await visitor.get(OAUTH_REDIRECT_PATH, cookie=state, code="T0AAA", state=state)
    assert status == 200
    replayed, page, _ = await visitor.get(OAUTH_REDIRECT_PATH, cookie=state, code="T0AAA", state=state)
    assert replayed == 401 and "invalid_state" in page
    # A code Slack refuses (used already) is refused too, and the state it came with is spent.
    fresh = await visitor.add_to_slack()
    status, page, _ = await visitor.get(OAUTH_REDIRECT_PATH, cookie=fresh, code="T0AAA", state=fresh)
    assert status == 401 and "invalid_code" in page
    assert len(oauth.fake.calls_to("oauth.v2.access")) == 2 and len(oauth.fake.installed) == 1


async def test_with_a_bot_token_there_is_nothing_to_install(slack: Slack) -> None:
    async with aiohttp.ClientSession() as http:
        for path in (OAUTH_INSTALL_PATH, OAUTH_REDIRECT_PATH):
            async with http.get(slack.url + path, params={"code": "T0AAA", "state": "x"}) as page:
                assert page.status == 404
    assert slack.fake.calls_to("oauth.v2.access") == []


# What each workspace teaches

async def ask_in(slack: Slack, team: str, question: str, user: str) -> str:
    """`question` asked by `user` in a DM in the workspace `team`: everything the reply shows."""
    slack.fake.team = team
    before = len(slack.fake.calls_to("chat.postMessage"))
    await slack.fake.message(question, user=user, channel=f"D{user}")
    return all_text((await slack.reply(count=before + 1))["blocks"])


async def home_in(slack: Slack, team: str, admin: str) -> dict[str, Any]:
    slack.fake.team = team
    before = len(slack.fake.calls_to("views.publish"))
    await slack.fake.open_home(user=admin)
    return (await slack.reply("views.publish", before + 1))["view"]


async def click_in(slack: Slack, team: str, view: dict[str, Any], action_id: str, admin: str) -> dict[str, Any]:
    slack.fake.team = team
    before = len(slack.fake.calls_to("views.publish"))
    await slack.fake.act_in_view(view, action_id, user=admin)
    return (await slack.reply("views.publish", before + 1))["view"]


async def test_what_a_workspace_teaches_answers_its_own_questions_and_only_its_admins_see_or_undo_it(
        oauth: OAuthSlack) -> None:
    await browser(oauth).install(oauth.fake, "T0AAA")
    await browser(oauth).install(oauth.fake, "T0BBB")
    assert DID_YOU_MEAN in await ask_in(oauth, "T0AAA", UNSURE_Q, "UALICE")
    theirs = await home_in(oauth, "T0BBB", ADMIN_B)
    assert UNSURE_Q not in all_text(theirs["blocks"])  # another workspace's question
    view = await home_in(oauth, "T0AAA", ADMIN_A)
    taught = await click_in(oauth, "T0AAA", view, control(view, UNSURE_Q, blocks.TEACH_MEANS, "llama"), ADMIN_A)
    assert "Taught" in all_text(taught["blocks"])
    assert "LLaMA" in await ask_in(oauth, "T0AAA", UNSURE_Q, "UALICE")
    assert DID_YOU_MEAN in await ask_in(oauth, "T0BBB", UNSURE_Q, "UBOB")  # B answers as before
    assert set(oauth.holder.by_workspace) == {"T0AAA"}  # B shares the FAQ every workspace starts from
    # B's admin sees B's own asking, not what A taught, and with a click forged from A's Home undoes nothing.
    theirs = await home_in(oauth, "T0BBB", ADMIN_B)
    assert f"*1×* {UNSURE_Q}" in all_text(theirs["blocks"])
    with pytest.raises(ValueError):
        undo_beside(theirs, UNSURE_Q, blocks.TEACH_UNDO)
    forged = await click_in(oauth, "T0BBB", taught, undo_beside(taught, UNSURE_Q, blocks.TEACH_UNDO), ADMIN_B)
    assert "Nothing to undo" in all_text(forged["blocks"])
    [kept] = oauth.store.taught(team="T0AAA")
    assert (kept.text, kept.team_id, kept.undone) == (UNSURE_Q, "T0AAA", False)
    assert "LLaMA" in await ask_in(oauth, "T0AAA", UNSURE_Q, "UALICE")
    undone = await click_in(oauth, "T0AAA", taught, undo_beside(taught, UNSURE_Q, blocks.TEACH_UNDO), ADMIN_A)
    assert "Undone" in all_text(undone["blocks"]) and oauth.holder.by_workspace == {}


async def test_serve_http_installs_with_oauth_and_answers_with_each_token_as_a_real_process(
        fake: FakeSlack, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_"))}
    env.update({**OAUTH, "SLACK_API_URL": fake.api_url, "KNOWLEDGE_DIR": str(FIXTURE_FAQ), "DOTENV_PATH": os.devnull,
                "STORE_PATH": str(tmp_path / "store.sqlite3"), "PORT": str(port),
                "LOG_LEVEL": "DEBUG"})  # the client's requests and responses too: never the secret nor a token
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--http", env=env, cwd=ROOT,
                                                   stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        assert await wait_until_healthy(url, process, 30.0)
        fake.send_over_http(url + EVENTS_PATH, SECRET)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            token = await Browser(http, url).install(fake, "T0AAA")
        await mention(fake, LICENSING_Q, "T0AAA", "CAAA")
        assert (await reply_in(fake, "CAAA"))[0] == token
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30.0) == 0
        assert process.stderr is not None
        logged = (await process.stderr.read()).decode()
        assert "installed in workspace T0AAA" in logged and "/slack/install" in logged
        assert CLIENT_SECRET not in logged and token not in logged and "oauth.v2.access" in logged
        assert base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode() not in logged
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


# The settings

OAUTH = {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET, "SLACK_SIGNING_SECRET": SECRET}


def refused(env: dict[str, str], mode: Mode | Literal["if configured"] | None = "if configured") -> tuple[str, ...]:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"STORE_PATH": "/tmp/unused.sqlite3", **env}, mode=mode)
    return error.value.lines


def test_client_id_and_secret_without_a_bot_token_serve_http_with_oauth() -> None:
    settings = Settings.from_env({"STORE_PATH": "/tmp/unused.sqlite3", **OAUTH}, mode="if configured")
    assert settings.slack is not None and settings.slack.mode == "http" and settings.slack.oauth
    assert CLIENT_SECRET not in repr(settings.slack)
    with_token = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": SECRET}, mode="http")
    assert with_token.slack is not None and not with_token.slack.oauth  # nothing changes with a bot token


@pytest.mark.parametrize(("env", "mode", "says"), [
    ({"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_SIGNING_SECRET": SECRET}, "if configured",
     "SLACK_CLIENT_SECRET is not set: installing with OAuth (SLACK_CLIENT_ID) needs the Client Secret too"),
    ({"SLACK_CLIENT_SECRET": CLIENT_SECRET, "SLACK_SIGNING_SECRET": SECRET}, None,
     "SLACK_CLIENT_ID is not set: installing with OAuth (SLACK_CLIENT_SECRET) needs the Client ID too"),
    ({**OAUTH, "SLACK_SIGNING_SECRET": ""}, "if configured",
     "SLACK_SIGNING_SECRET is not set: installing with OAuth (SLACK_CLIENT_ID) serves HTTP"),
    ({**OAUTH, "SLACK_APP_TOKEN": "xapp-1"}, "if configured",
     "installing with OAuth (SLACK_CLIENT_ID) needs HTTP mode, and SLACK_APP_TOKEN or --socket asks for Socket Mode"),
    (OAUTH, "socket", "installing with OAuth (SLACK_CLIENT_ID) needs HTTP mode"),
    ({**OAUTH, "SLACK_BOT_TOKEN": "xoxb-1"}, "http", "SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set"),
    ({**OAUTH, "STORE_ENABLED": "false"}, "http", "STORE_ENABLED=false: installing with OAuth (SLACK_CLIENT_ID) keeps"),
    ({**OAUTH, "SLACK_CLIENT_ID": "my-app"}, "http", "SLACK_CLIENT_ID='my-app' is not a Client ID"),
    ({**OAUTH, "SLACK_CLIENT_SECRET": "not a secret"}, None, "SLACK_CLIENT_SECRET is not 16 to 128 hexadecimal"),
    ({**OAUTH, "SLACK_REDIRECT_URI": "https://bot.example.com/oauth"}, "http",
     "SLACK_REDIRECT_URI='https://bot.example.com/oauth' does not end in /slack/oauth_redirect"),
    ({"SLACK_REDIRECT_URI": "https://bot.example.com/slack/oauth_redirect"}, None,
     "SLACK_REDIRECT_URI is set without SLACK_CLIENT_ID"),
], ids=["id without secret", "secret without id", "no signing secret", "app token", "--socket", "bot token",
        "no store", "malformed id", "malformed secret", "redirect elsewhere", "redirect alone"])
def test_settings_that_do_not_fit_installing_with_oauth_are_refused_one_line_each(
        env: dict[str, str], mode: Mode | None, says: str) -> None:
    lines = refused(env, mode)
    assert len(lines) == 1 and lines[0].startswith(says), lines
    assert CLIENT_SECRET not in lines[0] and "not a secret" not in lines[0]


def test_every_mistake_with_oauth_is_said_in_one_run() -> None:
    lines = refused({"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert [line.split(":")[0] for line in lines] == [
        "SLACK_CLIENT_SECRET is not set", "SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set",
        "installing with OAuth (SLACK_CLIENT_ID) needs HTTP mode, and SLACK_APP_TOKEN or --socket asks for Socket "
        "Mode", "SLACK_SIGNING_SECRET is not set"]


def test_an_install_asks_for_the_bot_scopes_of_the_manifest() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    assert sorted(INSTALL_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])


async def test_the_pages_say_try_again_when_the_database_cannot_be_reached(
        fake: FakeSlack, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nothing listens on: connections to it are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder(Store(f"postgresql+psycopg://bot:secret@127.0.0.1:{port}/bot"), b"a-test-key-of-16-chars")
    config = replace(make_config(fake), bot_token="", app_token=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    holder = KnowledgeHolder(kb)
    runner, url = await start_http(create_app(config, holder, recorder=recorder), holder, SECRET, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            state = "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"
            for path, params in ((OAUTH_INSTALL_PATH, {}), (OAUTH_REDIRECT_PATH, {"code": "T0AAA", "state": state})):
                async with http.get(url + path, params=params, headers={"Cookie": f"{COOKIE}={state}"}) as page:
                    assert (page.status, page.headers.get("Retry-After")) == (503, "30")
        failed = [r.getMessage() for r in caplog.records if r.name == "bot.adapter.aiohttp"]
        assert failed and all("could not be reached" in line and "secret" not in line for line in failed), failed
    finally:
        await runner.cleanup()
        recorder.close(1.0)
