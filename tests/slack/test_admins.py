"""Admins by Slack user group (ADMIN_USERGROUP), through signed requests and the fake Slack: a member of the group
gets the admin App Home and teaches; anyone else's forged click is refused; the members are read once for many checks
(`usergroups.users.list`, a handle found with `usergroups.list`), again once the cache expires, and a read that fails
keeps the members known (none at first: then only ADMIN_USER_IDS are admins)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.admins import CACHE_SECONDS, RETRY_SECONDS, Admins
from bot.config import Config, ConfigError
from bot.fakeslack import FakeSlack
from bot.recorder import Recorder
from bot.store import Store
from knowledge import KnowledgeBase

from .slackkit import SECRET, Slack, all_text, start_slack, until
from .test_teaching import UNSURE_Q, control

KEEPER, MALLORY, ADMIN = "UKEEPER", "UMALLORY", "UADMIN"
GROUP_ID, HANDLE = "S0KEEPERS", "faq-keepers"
ADMINS_ONLY = "Last 7 days (admins only)"
READS = ("usergroups.list", "usergroups.users.list")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A SQLite store alone (conftest's `recorder` records into it): who is an admin does not depend on the store."""
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    yield store
    store.close()


@pytest.fixture
def keepers(fake: FakeSlack) -> FakeSlack:
    """The fake Slack with a user group faq-keepers of one member, KEEPER, and another group."""
    fake.usergroups[GROUP_ID] = {"handle": HANDLE, "users": [KEEPER]}
    fake.usergroups["S0OTHERS"] = {"handle": "others", "users": [MALLORY]}
    return fake


async def serve(fake: FakeSlack, kb: KnowledgeBase, recorder: Recorder, **config: Any) -> Slack:
    return await start_slack(fake, kb, recorder, **config)


async def home_of(slack: Slack, user: str) -> dict[str, Any]:
    """The App Home `user` gets on opening it."""
    before = len(slack.fake.calls_to("views.publish"))
    await slack.fake.open_home(user=user)
    return (await slack.reply("views.publish", before + 1))["view"]


def reads(fake: FakeSlack) -> list[int]:
    return [len(fake.calls_to(method)) for method in READS]


@pytest.mark.parametrize("usergroup", [HANDLE, GROUP_ID])
async def test_a_member_of_the_user_group_gets_the_admin_home_and_can_teach(
        keepers: FakeSlack, kb: KnowledgeBase, recorder: Recorder, store: Store, usergroup: str) -> None:
    slack = await serve(keepers, kb, recorder, admin_usergroup=usergroup)
    try:
        await keepers.mention(UNSURE_Q)
        await slack.reply()
        view = await home_of(slack, KEEPER)
        assert ADMINS_ONLY in all_text(view["blocks"])
        await keepers.act_in_view(view, control(view, UNSURE_Q, blocks.TEACH_MEANS, "llama"), user=KEEPER)
        home = (await slack.reply("views.publish", 2))["view"]
        assert f"Taught: “{UNSURE_Q}”" in all_text(home["blocks"])
        [taught] = store.taught()
        assert (taught.text, taught.entry_id, taught.taught_by) == (UNSURE_Q, "llama", KEEPER)
        # Two checks, one read of the group (a handle is found in the list first; an id needs no list).
        assert reads(keepers) == [1 if usergroup == HANDLE else 0, 1]
        [members] = keepers.calls_to("usergroups.users.list")
        assert members.args["usergroup"] == GROUP_ID and members.args["team_id"] == keepers.team
    finally:
        await slack.runner.cleanup()


async def test_someone_not_in_the_group_gets_the_home_for_everyone_and_their_forged_click_is_refused(
        keepers: FakeSlack, kb: KnowledgeBase, recorder: Recorder, store: Store,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    slack = await serve(keepers, kb, recorder, admin_usergroup=HANDLE, admin_user_ids=frozenset({ADMIN}))
    try:
        await keepers.mention(UNSURE_Q)
        await slack.reply()
        assert ADMINS_ONLY not in all_text((await home_of(slack, MALLORY))["blocks"])  # in another group only
        keeper_view = await home_of(slack, KEEPER)
        assert ADMINS_ONLY in all_text((await home_of(slack, ADMIN))["blocks"])  # ADMIN_USER_IDS still count
        # A correctly signed click, with ids copied from the keeper's Home, by someone who is not an admin.
        means_llama = control(keeper_view, UNSURE_Q, blocks.TEACH_MEANS, "llama")
        await keepers.act_in_view(keeper_view, means_llama, user=MALLORY)
        await until(lambda: "refused: not in ADMIN_USER_IDS or ADMIN_USERGROUP" in caplog.text)
        assert MALLORY in caplog.text
        assert store.taught(include_undone=True) == []
        assert len(keepers.calls_to("views.publish")) == 3  # nothing drawn for the refused click
        assert reads(keepers) == [1, 1]
    finally:
        await slack.runner.cleanup()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client(keepers: FakeSlack) -> AsyncWebClient:
    """A Web API client of the fake Slack, as Bolt gives a listener."""
    return AsyncWebClient(token="xoxb-test", base_url=keepers.api_url)


async def test_the_members_are_read_once_for_many_checks_and_again_once_the_cache_expires(
        keepers: FakeSlack, client: AsyncWebClient) -> None:
    clock = Clock()
    admins = Admins(usergroup=HANDLE, clock=clock)
    checks = await asyncio.gather(*(admins.check(client, keepers.team, user)
                                    for user in [KEEPER, MALLORY, "UNOBODY"] * 10))
    assert checks == [True, False, False] * 10
    assert reads(keepers) == [1, 1]  # thirty checks at once, one read
    keepers.usergroups[GROUP_ID]["users"] = [MALLORY]  # KEEPER leaves the group, MALLORY joins it
    clock.now += CACHE_SECONDS - 1
    assert await admins.check(client, keepers.team, KEEPER) and not await admins.check(client, keepers.team, MALLORY)
    assert reads(keepers) == [1, 1]
    clock.now += 2  # the cache has expired: read again
    assert not await admins.check(client, keepers.team, KEEPER)
    assert await admins.check(client, keepers.team, MALLORY)
    assert reads(keepers) == [2, 2]
    # Each workspace has its own members.
    assert await admins.check(client, "T0OTHER", MALLORY)
    assert reads(keepers) == [3, 3] and keepers.calls_to("usergroups.list")[-1].args["team_id"] == "T0OTHER"


async def test_a_failed_read_keeps_the_members_known_and_logs_one_line(
        keepers: FakeSlack, client: AsyncWebClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.admins")
    clock = Clock()
    admins = Admins(usergroup=GROUP_ID, clock=clock)
    assert await admins.check(client, keepers.team, KEEPER)
    clock.now += CACHE_SECONDS + 1
    keepers.fail("usergroups.users.list", "ratelimited")
    assert await admins.check(client, keepers.team, KEEPER)  # the members known stand
    [line] = caplog.messages
    assert line.startswith(f"admins: the members of ADMIN_USERGROUP {GROUP_ID} could not be read in workspace "
                           f"{keepers.team} (Slack said ratelimited)")
    assert "the 1 read before are admins meanwhile" in line
    # Not tried again at every check: after RETRY_SECONDS.
    assert await admins.check(client, keepers.team, KEEPER)
    assert len(keepers.calls_to("usergroups.users.list")) == 2 and len(caplog.messages) == 1
    clock.now += RETRY_SECONDS + 1
    keepers.usergroups[GROUP_ID]["users"] = []
    assert not await admins.check(client, keepers.team, KEEPER)
    assert len(keepers.calls_to("usergroups.users.list")) == 3 and len(caplog.messages) == 1


async def test_with_no_members_known_only_admin_user_ids_are_admins(
        keepers: FakeSlack, client: AsyncWebClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.admins")
    admins = Admins(frozenset({ADMIN}), HANDLE, clock=Clock())
    keepers.fail("usergroups.list", "missing_scope")
    assert not await admins.check(client, keepers.team, KEEPER)
    assert await admins.check(client, keepers.team, ADMIN)
    [line] = caplog.messages
    assert "(Slack said missing_scope); none of them is an admin until they can be" in line


async def test_a_group_slack_does_not_have_makes_nobody_an_admin(
        keepers: FakeSlack, client: AsyncWebClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.admins")
    for group in ("no-such-group", "S0GONE"):
        assert not await Admins(usergroup=group).check(client, keepers.team, KEEPER)
    assert caplog.messages == [
        f"admins: no user group has the handle 'no-such-group' in workspace {keepers.team}: nobody is an admin by "
        "ADMIN_USERGROUP there",
        f"admins: there is no user group S0GONE in workspace {keepers.team}: nobody is an admin by ADMIN_USERGROUP "
        "there"]


async def test_without_a_user_group_slack_is_not_asked(keepers: FakeSlack, client: AsyncWebClient) -> None:
    admins = Admins(frozenset({ADMIN}))
    assert await admins.check(client, keepers.team, ADMIN)
    assert not await admins.check(client, keepers.team, KEEPER)
    assert not await admins.check(client, keepers.team, None)
    assert reads(keepers) == [0, 0]


BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": SECRET}


@pytest.mark.parametrize(("raw", "read"), [("faq-keepers", "faq-keepers"), ("@faq-keepers", "faq-keepers"),
                                           ("S0123ABCD", "S0123ABCD"), ("ml.team_2", "ml.team_2"), ("", None)])
def test_a_user_group_handle_or_id_is_read(raw: str, read: str | None) -> None:
    assert Config.from_env("http", {**BASE, "ADMIN_USERGROUP": raw}).admin_usergroup == read


@pytest.mark.parametrize("raw", ["FAQ Keepers", "faq keepers", "<!subteam^S0123ABCD>", "#faq", "Faq-Keepers"])
def test_a_malformed_user_group_is_named_with_what_to_do(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env("http", {**BASE, "ADMIN_USERGROUP": raw})
    assert str(caught.value) == (
        f"ADMIN_USERGROUP={raw!r} is not a user group's handle or id: set it to the handle Slack shows (e.g. "
        "faq-keepers, lower case) or the group's id (e.g. S0123ABCD), or unset it")


def test_every_mistake_in_the_new_settings_is_said_in_one_run() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.check_env({"ADMIN_USERGROUP": "FAQ Keepers", "METRICS_PORT": "x", "ADMIN_USER_IDS": "alice"})
    assert [line.split("=")[0].split()[0] for line in caught.value.lines] == [
        "ADMIN_USER_IDS", "ADMIN_USERGROUP", "METRICS_PORT"]
