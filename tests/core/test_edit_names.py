"""An edit names the records or events a message came from, whatever the format, so a person can
find in the log what a repair removes or changes."""

from conversations.history.edits import source_of
from conversations.history.formats import load_path
from conversations.history.formats import read as read_doc
from conversations.history.model import Block, Message, SourceRef
from conversations.history.repair.work import Work
from tests.support import FIXTURES


def test_an_openhands_message_is_named_by_its_event_and_what_the_event_is():
    (history,) = read_doc(load_path(FIXTURES / "formats" / "openhands-events"))
    assert source_of(history.messages[0]) == "event 1, the message action"
    assert source_of(history.messages[2]) == "event 6, the run observation"
    # A parallel response: the events of its actions.
    assert source_of(history.messages[3]) == "events 7 and 9, the read and run actions"


def test_a_claude_code_message_is_named_by_its_lines():
    (history,) = read_doc(load_path(FIXTURES / "formats" / "claude-code-session.jsonl"))
    merged = next(m for m in history.messages if m.role == "assistant" and len({b.source.line for b in m.blocks}) > 1)
    lines = sorted({b.source.line for b in merged.blocks} | {merged.source.line})
    assert source_of(merged) == f"lines {lines[0]}-{lines[-1]}"


def test_a_message_whose_source_names_no_record_is_named_by_its_index_alone():
    message = Message(role="user", blocks=[Block.text_block("hi")])
    assert source_of(message) == ""
    assert source_of(Message(role="user", source=SourceRef(line=3))) == "line 3"
    assert source_of(Message(role="user", source=SourceRef(line=3)), lines=False) == ""


def test_the_repair_names_a_message_with_its_source_and_a_one_line_log_without_it():
    (history,) = read_doc(load_path(FIXTURES / "formats" / "openhands-events"))
    work = Work(history)
    assert work.name(work.history.messages[2]) == "message 2 (event 6, the run observation)"
    (log,) = read_doc(load_path(FIXTURES / "formats" / "litellm-standard-logging-failure.json"))
    work = Work(log)
    assert work.name(work.history.messages[0]) == "message 0"
