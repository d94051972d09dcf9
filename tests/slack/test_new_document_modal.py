"""A document a maintainer adds under seeds/ is offered in the admin Home's "New entry" modal (the passages closest
to the question, by the embedding model, out of every document the knowledge base loaded), and an entry written in
the modal can cite it: through signed requests and the fake Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from repo_paths import FIXTURE_FAQ
from test_new_document import FILE, with_document

from bot.entries import NEW_IN_HOME
from bot.entry_views import QUESTION
from bot.fakemodals import Filled, dispatch, latest_view
from bot.fakeslack import FakeSlack
from bot.recorder import Recorder
from bot.store import Store
from knowledge import KnowledgeBase
from knowledge.content.written import NewEntry

from .slackkit import Slack, all_text, start_slack, until
from .test_entries import ADMIN, admin_home, filled, open_modal, passage_keys, write_entry

ASKED = "how much memory does a quantized 7b model need"
PASSAGE = ("Quantization stores each weight of a model in fewer bits, so that a seven billion parameter model fits in "
           "about four gigabytes of memory instead of fourteen.")


@pytest.fixture(scope="module")
def kb_with_a_fifth_document(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    _, seeds = with_document(tmp_path_factory.mktemp("fifth"), entry="")
    return KnowledgeBase.load(FIXTURE_FAQ, seeds)


@pytest.fixture
async def slack(fake: FakeSlack, kb_with_a_fifth_document: KnowledgeBase, recorder: Recorder
                ) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, kb_with_a_fifth_document, recorder, admin_user_ids=frozenset({ADMIN}))
    yield slack
    await slack.runner.cleanup()


async def test_the_added_document_s_passages_are_offered_and_can_be_cited(slack: Slack, store: Store) -> None:
    home = await admin_home(slack)
    modal = await open_modal(slack, home, NEW_IN_HOME, updates=0)
    await dispatch(slack.fake, modal, filled(modal, **{QUESTION: ASKED}), QUESTION, ADMIN)  # Enter in the question
    await slack.fake.wait_for("views.update")
    listed = latest_view(slack.fake)
    assert listed is not None
    assert f"*1.* {PASSAGE}" in all_text(listed["blocks"])  # the closest of all five documents' passages

    values: dict[str, Filled] = {QUESTION: ASKED, "passages": passage_keys(listed, 1)}
    status, answer = await write_entry(slack, listed, ADMIN, **values)
    assert status == 200 and answer is not None and answer["response_action"] == "update"
    await until(lambda: len(store.written()) == 1)
    [record] = store.written()
    assert isinstance(record.item, NewEntry) and [doc for doc, _ in record.item.sources] == [FILE]
