"""The canonical history as storage keeps it: to_dict, JSON and from_dict give back the same
history, a stored dict with keys a later version added still reads, and a repair's working copy
shares nothing a strategy changes with the history it was copied from."""

import json

import pytest

from conversations.history import formats
from conversations.history.formats import load_path
from conversations.history.model import Block, History, Message, SourceRef
from conversations.history.repair.work import clone
from tests.support import log_documents

DOCUMENTS = log_documents("seed", "samples", "formats")


def histories(path):
    return formats.read(load_path(path))


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_fixture_reads_back_from_its_stored_form_unchanged(path):
    for history in histories(path):
        stored = json.loads(json.dumps(history.to_dict()))
        assert History.from_dict(stored) == history
        assert History.from_dict(stored).to_dict() == history.to_dict()


def test_a_stored_dict_with_keys_no_field_names_still_reads():
    """A revision written by a later version, with a key this one does not know."""
    message = Message.from_dict(
        {
            "role": "user",
            "blocks": [{"type": "text", "text": "hi", "later": 1}],
            "later": {"x": 1},
            "source": {"path": "$.messages[0]", "later": True},
        }
    )
    assert message == Message(
        role="user", blocks=[Block.text_block("hi", source=SourceRef())], source=SourceRef(path="$.messages[0]")
    )


def test_a_minimal_stored_block_gets_the_defaults():
    block = Block.from_dict(
        {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "ok"}]}
    )
    assert block.source == SourceRef() and block.extra == {} and block.cache_control is None
    assert block.content == [Block.text_block("ok")]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_the_working_copy_is_equal_and_changing_it_leaves_the_original(path):
    for history in histories(path):
        before = history.to_dict()
        copy = clone(history)
        assert copy == history
        for message in copy.messages:
            message.extra["touched"] = True
            message.blocks.append(Block.text_block("added"))
            for block in message.blocks:
                block.extra["touched"] = True
                if isinstance(block.content, list):
                    block.content.append(Block.text_block("added"))
        assert history.to_dict() == before
