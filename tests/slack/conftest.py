from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.fakeslack import FakeSlack
from bot.recorder import Recorder
from bot.store import Store
from knowledge import KnowledgeBase, Thresholds

from .slackkit import FIXTURE_FAQ, STORE_KEY, Slack, start_slack


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_FAQ)


@pytest.fixture(scope="session")
def shipped_kb() -> KnowledgeBase:
    """The shipped FAQ, for behaviour that needs its entries (near misses, answerability)."""
    return KnowledgeBase.load()


@pytest.fixture(scope="session")
def unsure_kb() -> KnowledgeBase:
    """Never confident: every match with candidates becomes a suggestion."""
    return KnowledgeBase.load(FIXTURE_FAQ, thresholds=Thresholds(answer=1.01, suggest=0.0))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A question store of the test's own: a SQLite file, then a database on a real PostgreSQL server."""
    store = Store(store_url)
    yield store
    store.close()


@pytest.fixture
async def recorder(store: Store) -> AsyncIterator[Recorder]:
    recorder = Recorder(store, STORE_KEY)
    yield recorder
    recorder.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.close()


@pytest.fixture
async def slack(fake: FakeSlack, kb: KnowledgeBase) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, kb)
    yield slack
    await slack.runner.cleanup()


@pytest.fixture
async def shipped_slack(fake: FakeSlack, shipped_kb: KnowledgeBase) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, shipped_kb)
    yield slack
    await slack.runner.cleanup()


@pytest.fixture
async def unsure_slack(fake: FakeSlack, unsure_kb: KnowledgeBase) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, unsure_kb)
    yield slack
    await slack.runner.cleanup()
