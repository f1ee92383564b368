"""The scripted conversations (tests/e2e/conversations/conversations.yml) against the real
stack: web chat and signed SMS, each ending in the database state it expects."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conversations.runner import ConversationRunner, load_conversations, summary
from tests.support.stack import Stack

CONVERSATIONS = load_conversations()


@pytest.fixture(scope="module")
def runner(stack: Stack) -> ConversationRunner:
    """One runner (and one stack) for every conversation."""
    return ConversationRunner(stack)


def _case(conversation: dict[str, Any]) -> Any:
    known = conversation.get("known_failure")
    marks = [pytest.mark.xfail(reason=known, strict=True)] if known else []
    return pytest.param(conversation, id=conversation["id"], marks=marks)


@pytest.mark.parametrize("conversation", [_case(c) for c in CONVERSATIONS])
def test_conversation_reaches_its_end_state(
    runner: ConversationRunner, stack: Stack, conversation: dict[str, object]
) -> None:
    outcome = runner.run(conversation)
    assert outcome.passed, "\n".join(outcome.failures + outcome.transcript)


def test_there_are_at_least_forty_conversations() -> None:
    assert len(CONVERSATIONS) >= 40, summary([])
