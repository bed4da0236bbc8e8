"""Hostile logs: every reader, fed every fixture mutated (bytes flipped, cut at every kind of
place, keys and lines deleted or doubled, every field given the wrong type, other encodings, NUL
bytes, OpenHands event files with bad names) and pathological documents (nesting deeper than the
parser goes, 10 MB strings, 200,000 tiny messages), ends in a correct history or a FormatError:
never another exception, a hang or memory that grows without bound. A history that comes out can
be written in every writable format (or the writer says FormatError).

How long the property tests run is a hypothesis settings profile chosen by FUZZ_PROFILE:
"ci" (the default: 400 examples a test, a few seconds in all), "dev" (20) or "long" (5,000 a
test, a few minutes). `python tests/core/test_fuzz_readers.py [SECONDS [LIBFUZZER FLAGS]]` runs
the same property under atheris (coverage-guided, libFuzzer) for a bounded time instead; given
the path of a crashing input libFuzzer kept, it runs that input alone and prints its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script (the atheris run): put the project root on the path, and import the pure
    # core under atheris's instrumentation before anything else imports it.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import atheris

    with atheris.instrument_imports(include=["conversations"]):
        import conversations.history.formats  # noqa: F401

import codecs
import copy
import json
import os
import re
import subprocess
import time
import tracemalloc
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conversations.history import formats
from conversations.history.errors import FormatError
from conversations.history.formats import FORMAT_NAMES, Document
from conversations.history.formats.document import MAX_DEPTH, json_indent
from conversations.history.model import History
from conversations.history.redact import redact
from tests.mutations import (
    DOCUMENTS,
    ENCODINGS,
    EVENTS_DIR,
    FUZZ,
    event_directories,
    mutants,
    truncate,
    v1_folders,
    with_file,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WRITABLE = tuple(name for name in FORMAT_NAMES if formats.module(name).WRITABLE)


# --- the property ------------------------------------------------------------------------------


def copy_of(doc: Document) -> Document:
    """A fresh Document (readers cache parse trees on the one they read)."""
    return Document(name=doc.name, files=dict(doc.files), is_dir=doc.is_dir)


def read_or_refuse(doc: Document, fmt: str | None) -> list[History] | None:
    """The histories, or None for a FormatError; any other exception fails the test."""
    try:
        histories = formats.read(copy_of(doc), fmt)
    except FormatError as exc:
        assert str(exc).strip(), "a FormatError must say what is wrong"
        return None
    assert isinstance(histories, list) and all(isinstance(h, History) for h in histories)
    return histories


def assert_correct_history(history: History) -> None:
    """What the rest of the product relies on: storable as JSON and read back the same, and
    shallow enough to copy (resume and repair deep-copy histories)."""
    copy.deepcopy(history)
    text = json.dumps(history.to_dict())
    assert json.dumps(History.from_dict(json.loads(text)).to_dict()) == text
    # Any role string is kept as read (a rule, not the reader, says a provider rejects it).
    assert all(isinstance(m.role, str) for m in history.messages)
    assert_declared_types(history)


def assert_declared_types(history: History) -> None:
    """The string fields the pages, the database and the rules use hold a string or None,
    whatever type the log had there."""

    def text_or_none(owner, *names):
        for name in names:
            value = getattr(owner, name)
            assert value is None or isinstance(value, str), f"{type(owner).__name__}.{name} = {value!r:.80}"

    text_or_none(history, "model", "provider", "external_id", "title", "started_at", "ended_at", "error")
    for message in history.messages:
        text_or_none(message, "name", "model", "timestamp", "id")
    for _, _, block in history.blocks():
        text_or_none(block, "type", "id", "name", "tool_use_id")
    for tool in history.tools:
        text_or_none(tool, "name", "kind")
    if history.usage is not None:
        assert history.usage.to_dict()


def assert_writes_or_refuses(history: History, original: Document) -> None:
    for fmt in WRITABLE:
        # Into its own format on top of the original (write-back), else as a fresh document.
        base = copy_of(original) if fmt == history.format else None
        try:
            written = formats.write(history, base, format=fmt)
        except FormatError:
            continue
        assert isinstance(written, Document) and written.files
        assert all(isinstance(data, bytes) for data in written.files.values())


def assert_reads_cleanly(doc: Document) -> None:
    """Detected and forced to every format name: histories or FormatError, and every history
    out writes or refuses cleanly."""
    for fmt in (None, *FORMAT_NAMES):
        for history in read_or_refuse(doc, fmt) or ():
            assert_correct_history(history)
            assert_writes_or_refuses(history, doc)


# --- the property on mutants -----------------------------------------------------------------------


@FUZZ
@given(mutants())
def test_a_mutated_fixture_reads_into_histories_or_a_format_error(doc):
    assert_reads_cleanly(doc)


@FUZZ
@given(event_directories())
def test_an_event_directory_with_bad_names_reads_or_is_refused(doc):
    assert_reads_cleanly(doc)


@FUZZ
@given(v1_folders())
def test_an_openhands_v1_folder_with_its_tree_bent_reads_or_is_refused(doc):
    assert_reads_cleanly(doc)


@FUZZ
@given(st.sampled_from(DOCUMENTS), st.data())
def test_a_fixture_truncated_anywhere_reads_or_is_refused(doc, data):
    if doc.is_dir:
        name = data.draw(st.sampled_from(sorted(doc.files)))
    else:
        name = doc.single[0]
    assert_reads_cleanly(with_file(doc, name, truncate(data.draw, doc.files[name])))


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_refused_or_read(data):
    assert_reads_cleanly(Document.from_bytes("random.json", data))


def test_every_unmutated_fixture_still_reads():
    """The baseline the mutants start from: each log fixture reads as its detected format."""
    logs = [d for d in DOCUMENTS if d.is_dir or d.single[0].endswith((".json", ".jsonl"))]
    for doc in logs:
        histories = formats.read(copy_of(doc))
        assert histories, doc.name
        for history in histories:
            assert_correct_history(history)
            assert_writes_or_refuses(history, doc)


# --- pathological documents --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, line",
    [
        ("[" * 100_000 + "]" * 100_000, None),
        (
            '{"model": "gpt-4o", "messages": [{"role": "user", "content": '
            + '{"a": ' * 50_000
            + "1"
            + "}" * 50_000
            + "}]}",
            None,
        ),
        (
            '{"type":"user","uuid":"u1","sessionId":"s","message":{"role":"user","content":"hi"}}\n'
            + '{"a":' * 50_000
            + "1"
            + "}" * 50_000,
            2,
        ),
    ],
    ids=["top-level", "message-content", "jsonl-line"],
)
def test_json_nested_deeper_than_the_parser_goes_is_refused_by_name(text, line):
    doc = Document.from_bytes("deep.json", text.encode())
    assert_reads_cleanly(doc)
    with pytest.raises(FormatError, match="nested too deeply") as refused:
        formats.read(copy_of(doc))
    assert refused.value.file == "deep.json" and refused.value.line == line


def test_tool_arguments_nested_deeper_than_the_parser_goes_are_kept_as_written():
    arguments = "[" * 50_000 + "]" * 50_000
    text = (
        '{"model": "gpt-4o", "messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c1", '
        '"type": "function", "function": {"name": "f", "arguments": "' + arguments + '"}}]}]}'
    )
    doc = Document.from_bytes("deep.json", text.encode())
    assert_reads_cleanly(doc)
    (history,) = formats.read(doc)
    (call,) = history.messages[0].tool_uses()
    assert call.input is None and call.arguments == arguments


def test_json_deeper_than_the_limit_is_refused_even_where_python_could_parse_it():
    """300 levels parse, but a history that deep could not be copied or repaired afterwards."""
    assert MAX_DEPTH < 300
    text = (
        '{"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "x": '
        + "[" * 300
        + "]" * 300
        + "}]}]}"
    )
    with pytest.raises(FormatError, match="nested too deeply"):
        formats.read(Document.from_bytes("deep.json", text.encode()))


def test_tool_arguments_nested_past_the_limit_are_kept_as_written_not_parsed():
    arguments = "[" * 300 + "]" * 300
    text = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            ],
        }
    )
    (history,) = formats.read(Document.from_bytes("deep.json", text.encode()))
    (call,) = history.messages[1].tool_uses()
    assert call.input is None and call.arguments == arguments
    assert_correct_history(history)


def test_a_deep_openhands_event_is_refused_with_its_file_named():
    deep = (
        '{"id": 3, "source": "user", "action": "message", "args": {"content": ' + "[" * 50_000 + "]" * 50_000 + "}}"
    ).encode()
    doc = with_file(EVENTS_DIR, "events/3.json", deep)
    assert_reads_cleanly(doc)
    with pytest.raises(FormatError, match="nested too deeply"):
        formats.read(copy_of(doc))


def test_a_number_longer_than_python_parses_is_a_format_error():
    with pytest.raises(FormatError, match="invalid JSON"):
        formats.read(Document.from_bytes("long.json", b'{"messages": [], "model": ' + b"9" * 10_000 + b"}"))
    assert_reads_cleanly(Document.from_bytes("long.json", b"9" * 10_000))


def test_a_lone_surrogate_escape_reads_and_writes_back_escaped():
    """JavaScript slices strings by UTF-16 unit, so logs can hold half a surrogate pair."""
    doc = Document.from_bytes(
        "half.json", b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "caf\xc3\xa9 \\ud83d"}]}'
    )
    (history,) = formats.read(copy_of(doc))
    assert history.messages[0].text == "caf\u00e9 \ud83d"
    written = formats.write(history, copy_of(doc))
    assert json.loads(written.single[1]) == json.loads(doc.single[1])
    assert_reads_cleanly(doc)


def test_a_trajectory_with_a_lone_surrogate_is_written_back_after_a_repair():
    from conversations.history.repair import repair

    events = json.loads((FIXTURES / "formats/openhands-trajectory.json").read_bytes())[:-1]  # the lost observation
    events[1]["message"] = events[1]["args"]["content"] = "caf\u00e9 \ud83d"
    text = json.dumps(events, indent=2, ensure_ascii=False).replace("\ud83d", "\\ud83d")
    doc = Document.from_bytes("trajectory.json", text.encode())
    (history,) = formats.read(copy_of(doc))
    result = repair(history, target="openai")
    assert result.edits
    written = formats.write(result.history, copy_of(doc))
    assert json.loads(written.single[1])[1]["message"] == "caf\u00e9 \ud83d"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b" ",
        b"\n\n\n",
        b"\t \r\n",
        b"\xef\xbb\xbf",
        b"\xef\xbb\xbf  \n",
        b"\x00",
        b"\x00" * 1000,
        codecs.BOM_UTF16_LE,
        codecs.BOM_UTF16_LE + b"{\x00",
        codecs.BOM_UTF16_BE + b"\x00{\x00",
        b"\xff" * 10,
    ],
    ids=repr,
)
def test_empty_blank_and_binary_files_are_format_errors(data):
    for fmt in (None, *FORMAT_NAMES):
        with pytest.raises(FormatError):
            formats.read(Document.from_bytes("empty.json", data), fmt)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    "fixture", ["formats/openai-request.json", "formats/claude-code-session.jsonl", "samples/hostile-content.json"]
)
def test_other_encodings_are_read_for_what_they_say_or_refused(fixture, encoding):
    """UTF-16 with a BOM and UTF-8 with one are text we read; latin-1, UTF-16 without a BOM and
    UTF-32 are refused with a clear error. Whatever is read is what the bytes mean: never a
    history misread from a wrong guess at the encoding."""
    text = re.sub(
        r'"content": ?"', lambda m: m[0] + "caf\u00e9 \u2713 ", (FIXTURES / fixture).read_text("utf-8"), count=1
    )
    data = text.encode(encoding, errors="replace")
    assert_reads_cleanly(Document.from_bytes(Path(fixture).name, data))
    try:
        histories = formats.read(Document.from_bytes(Path(fixture).name, data))
    except FormatError:
        assert encoding not in ("utf-16", "utf-8-sig"), f"{encoding} with a BOM should read"
        return
    meant = data.decode(encoding).encode("utf-8")
    expected = formats.read(Document.from_bytes(Path(fixture).name, meant))
    assert [h.to_dict() for h in histories] == [h.to_dict() for h in expected]


def test_nul_bytes_in_a_file_are_refused_with_the_line_named():
    data = (FIXTURES / "formats/claude-code-session.jsonl").read_bytes().split(b"\n")
    data[4] = data[4][:30] + b"\x00" + data[4][30:]
    with pytest.raises(FormatError, match="NUL") as caught:
        formats.read(Document.from_bytes("session.jsonl", b"\n".join(data)))
    assert caught.value.line == 5


# --- huge strings and very many messages --------------------------------------------------------


def _cc_line(i: int, role: str, content, parent: str | None) -> dict:
    return {
        "parentUuid": parent,
        "isSidechain": False,
        "type": role,
        "sessionId": "s-1",
        "uuid": f"u-{i}",
        "timestamp": "2025-08-13T09:14:02.118Z",
        "message": {"role": role, "content": content},
    }


def generated(fmt: str, count: int, first_text: str = "hi") -> Document:
    """A `fmt` document of `count` alternating user/assistant messages, the first one saying
    `first_text`: the shape each reader expects, at any size."""

    def text(i: int) -> str:
        return first_text if i == 0 else ("q" if i % 2 == 0 else "a")

    def role(i: int) -> str:
        return "user" if i % 2 == 0 else "assistant"

    if fmt in ("openai", "anthropic", "litellm-log"):
        messages = [{"role": role(i), "content": text(i)} for i in range(count)]
        if fmt == "anthropic":
            messages[0]["content"] = [{"type": "text", "text": text(0)}]
            body = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": "be brief", "messages": messages}
        elif fmt == "openai":
            body = {"model": "gpt-4o", "messages": messages}
        else:
            base = json.loads((FIXTURES / "formats/litellm-standard-logging-failure.json").read_bytes())
            body = {**base, "messages": messages}
        return Document.from_bytes(f"big-{fmt}.json", json.dumps(body).encode())
    if fmt == "claude-code":
        rows = [
            json.dumps(
                _cc_line(
                    i,
                    role(i),
                    text(i) if role(i) == "user" else [{"type": "text", "text": text(i)}],
                    f"u-{i - 1}" if i else None,
                )
            )
            for i in range(count)
        ]
        return Document.from_bytes("big.jsonl", ("\n".join(rows) + "\n").encode())
    if fmt == "openhands":
        events = [
            {
                "id": i,
                "timestamp": "2025-07-14T08:02:05",
                "source": "user" if i % 2 == 0 else "agent",
                "message": text(i),
                "action": "message",
                "args": {"content": text(i)},
            }
            for i in range(count)
        ]
        return Document.from_bytes("big-trajectory.json", json.dumps(events).encode())
    raise AssertionError(fmt)


READABLE = ("openai", "anthropic", "litellm-log", "claude-code", "openhands")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", READABLE)
def test_a_10_mb_string_is_read_whole_and_written_back(fmt):
    huge = "x" * 10_000_000
    doc = generated(fmt, 4, first_text=huge)
    assert formats.detect(copy_of(doc)) == fmt
    (history,) = formats.read(copy_of(doc))
    assert history.messages[0].text == huge
    if fmt in WRITABLE:
        written = formats.write(history, copy_of(doc))
        assert huge in written.files[next(iter(written.files))].decode()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", READABLE)
def test_200000_tiny_messages_read_in_bounded_time(fmt):
    doc = generated(fmt, 200_000)
    started = time.monotonic()
    (history,) = formats.read(copy_of(doc))
    elapsed = time.monotonic() - started
    assert len(history.messages) == 200_000
    # A bound against a hang or a quadratic walk (a few seconds each today), loose enough for a
    # busy CI machine.
    assert elapsed < 120, f"{fmt}: {elapsed:.1f} s for 200,000 messages"


def realistic_turn(fmt: str, i: int) -> str:
    """One user request, the tool call it got and the call's result, as `fmt` text (for OpenAI:
    three messages of a list, comma-separated; for Claude Code: three JSONL lines)."""
    if fmt == "openai":
        return ",".join(
            json.dumps(m)
            for m in (
                {"role": "user", "content": "word " * 200},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": "bash", "arguments": json.dumps({"command": "ls " * 50})},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": f"call_{i}", "content": "out " * 300},
            )
        )
    use = {"type": "tool_use", "id": f"toolu_{i}", "name": "Bash", "input": {"command": "ls " * 50}}
    result = {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "out " * 300}
    turn = (("user", "word " * 200), ("assistant", [use]), ("user", [result]))
    return "\n".join(
        json.dumps(_cc_line(3 * i + k, role, content, f"u-{3 * i + k - 1}" if i or k else None))
        for k, (role, content) in enumerate(turn)
    )


def realistic_log(fmt: str, size: int) -> tuple[bytes, int]:
    """A log of at least `size` bytes made of realistic turns, and how many turns it holds."""
    count = size // len(realistic_turn(fmt, 0)) + 1
    turns = (realistic_turn(fmt, i) for i in range(count))
    if fmt == "openai":
        return ('{"model": "gpt-4o", "messages": [' + ",".join(turns) + "]}").encode(), count
    return ("\n".join(turns) + "\n").encode(), count


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["openai", "claude-code"])
def test_reading_a_50_mb_log_peaks_under_5_times_its_size(fmt):
    """What reading a 50 MB log allocates, on top of its bytes, stays under five times their size."""
    data, turns = realistic_log(fmt, 50 * 1024 * 1024)
    doc = Document.from_bytes("big.jsonl" if fmt == "claude-code" else "big.json", data)
    tracemalloc.start()
    try:
        (history,) = formats.read(doc)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert history.tool_call_count == turns
    assert peak < 5 * len(data), f"peak {peak / len(data):.1f}x the {len(data) / 1e6:.0f} MB read"


# --- found while hunting the atheris crash (its traceback was lost): the inputs that escaped ----
# --- as another exception, a memory blow-up or a wrong history, and their kin ------------------


def test_an_indentation_no_formatter_writes_is_not_copied_onto_every_line():
    """A 40 KB request whose second line is indented by 20,000 spaces: writing it back in its
    "own layout" put 20,000 spaces per level on each of its 6,000 lines (267 MB, 530 MB peak)."""
    body = (
        b'{"model": "gpt-4o",\n'
        + b" " * 20_000
        + b'"messages": [{"role": "user", "content": "hi"}], "x": ['
        + b"[]," * 6_000
        + b"[]]}"
    )
    doc = Document.from_bytes("request.json", body)
    (history,) = formats.read(copy_of(doc))
    tracemalloc.start()
    try:
        written = formats.write(history, copy_of(doc)).single[1]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(written) < 2 * len(body) and peak < 50 * len(body)  # was 14,000 times its size
    assert json.loads(written)["x"] == [[]] * 6_001


def test_a_trajectory_indented_like_no_formatter_is_written_in_a_plain_layout():
    events = json.loads((FIXTURES / "formats/openhands-trajectory.json").read_bytes())
    text = json.dumps(events, indent=4).replace("\n    {", "\n" + " " * 5_000 + "{", 1)
    doc = Document.from_bytes("trajectory.json", text.encode())
    (history,) = formats.read(copy_of(doc))
    history.messages[0].blocks[0].text = "changed, so the file is written again"
    written = formats.write(history, copy_of(doc)).single[1]
    assert len(written) < len(text)
    assert json.loads(written)[1]["args"]["content"] == "changed, so the file is written again"


@pytest.mark.parametrize(
    "text, indent",
    [
        ('{"a": 1}', None),
        ('{\n  "a": 1\n}', 2),
        ('{\n    "a": 1\n}', 4),
        ('{\n\t"a": 1\n}', "\t"),
        ('{\n\t\t "a": 1\n}', "\t"),
        ("{\n" + " " * 9 + '"a": 1\n}', 2),
        ("{\n" + " " * 30_000 + '"a": 1}', 2),
    ],
    ids=["one-line", "2", "4", "tab", "tabs", "9-spaces", "30000-spaces"],
)
def test_the_layout_copied_is_one_a_formatter_writes(text, indent):
    assert json_indent(text) == indent


def test_an_openhands_usage_without_counts_is_no_usage():
    """A model_response `usage` holding no token count read as an empty Usage, which is stored as
    {} and read back from storage as no usage at all: the stored history was not the one read."""
    event = json.loads(EVENTS_DIR.files["events/5.json"])
    event["tool_call_metadata"]["model_response"]["usage"] = {"prompt_tokens": "7412", "total_tokens": None}
    doc = with_file(EVENTS_DIR, "events/5.json", json.dumps(event).encode())
    assert_reads_cleanly(doc)
    (history,) = formats.read(copy_of(doc))
    assert all(m.usage is None or m.usage.to_dict() for m in history.messages)


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_openhands_event_dated_past_the_calendar_in_local_time_is_written_back(stamp):
    """The writer takes the latest event time as local time: for these two, a time Python cannot
    hold, which escaped the writer as an OverflowError on a document the reader had accepted."""
    event = json.loads(EVENTS_DIR.files["events/3.json"])
    event["timestamp"] = stamp
    doc = with_file(EVENTS_DIR, "events/3.json", json.dumps(event).encode())
    assert_reads_cleanly(doc)
    (history,) = formats.read(copy_of(doc))
    assert formats.write(history, copy_of(doc)).files == doc.files


def test_an_event_cache_page_with_an_id_that_is_a_list_is_only_noted():
    """The event files are what counts; a cache page is compared with them. An id that is a list
    cannot be looked up, which failed the whole session with a TypeError."""
    page = json.dumps([{"id": []}, {"id": True}, json.loads(EVENTS_DIR.files["events/1.json"])]).encode()
    doc = with_file(EVENTS_DIR, "event_cache/0-25.json", page)
    assert_reads_cleanly(doc)
    (history,) = formats.read(copy_of(doc))
    assert history.meta["event_cache_notes"] == [
        "event_cache/0-25.json: event [] is cached but has no events/ file",
        "event_cache/0-25.json: event True is cached but has no events/ file",
    ]


def test_claude_code_fields_of_the_wrong_type_are_not_taken_as_strings():
    lines = (FIXTURES / "formats/claude-code-session.jsonl").read_bytes().split(b"\n")
    number = next(i for i, line in enumerate(lines) if line and json.loads(line)["type"] == "assistant")
    record = json.loads(lines[number])
    record["timestamp"], record["message"]["id"], record["message"]["model"] = {"t": 1}, 5, ["x"]
    lines[number] = json.dumps(record).encode()
    doc = Document.from_bytes("session.jsonl", b"\n".join(lines))
    assert_reads_cleanly(doc)  # assert_declared_types: was Message.timestamp = {'t': 1}


def test_openhands_fields_of_the_wrong_type_are_not_taken_as_strings():
    event = json.loads(EVENTS_DIR.files["events/5.json"])
    event["timestamp"], event["tool_call_metadata"]["function_name"] = [], 7
    event["tool_call_metadata"]["model_response"]["model"] = {"m": 1}
    doc = with_file(EVENTS_DIR, "events/5.json", json.dumps(event).encode())
    assert_reads_cleanly(doc)  # assert_declared_types: was Message.model = {'m': 1}


def test_openhands_metadata_of_the_wrong_types_is_not_used():
    metadata = json.loads(EVENTS_DIR.files["metadata.json"])
    metadata.update(
        title=["not", "a", "title"],
        llm_model={"name": "x"},
        conversation_id=7,
        prompt_tokens=True,
        completion_tokens=[283],
    )
    doc = with_file(EVENTS_DIR, "metadata.json", json.dumps(metadata).encode())
    assert_reads_cleanly(doc)
    (history,) = formats.read(copy_of(doc))
    assert history.title is None and history.usage is None
    assert isinstance(history.model, str) and isinstance(history.external_id, str)


def test_redacting_a_log_full_of_keys_takes_linear_time():
    """Each redaction counted the lines from the start of the file to name its line: 20,000 keys
    in a 1.4 MB log took 40 s, and a 50 MB log full of them would not finish."""
    line = b'{"role": "user", "content": "key sk-abcdefghijklmnopqrstuvwxyz0123", "api_key": "abc"}\n'
    started = time.monotonic()
    _, found = redact(line * 40_000)
    elapsed = time.monotonic() - started
    assert sorted(r.line for r in found) == [n for n in range(1, 40_001) for _ in (0, 1)]
    assert elapsed < 30, f"{elapsed:.1f} s to redact 80,000 keys"  # 2 s today; 170 s before


# --- a bounded atheris run ----------------------------------------------------------------------


def atheris_one_input(data: bytes) -> None:
    """libFuzzer's entry point: the first byte picks a fixture to splice into (or none), the rest
    is the input, as one file or as an OpenHands event."""
    if not data:
        return
    choice, body = data[0], data[1:]
    if choice % 4 == 0:
        doc = Document.from_bytes("input.json", body)
    elif choice % 4 == 1:
        doc = with_file(EVENTS_DIR, "events/3.json", body)
    else:
        base = DOCUMENTS[choice % len(DOCUMENTS)]
        name = sorted(base.files)[0]
        old = base.files[name]
        cut = int.from_bytes(body[:2] or b"\0", "little") % (len(old) + 1)
        doc = with_file(base, name, old[:cut] + body[2:] + old[cut + len(body[2:]) :])
    assert_reads_cleanly(doc)


def run_atheris(seconds: int, flags: Sequence[str] = ()) -> None:
    """FUZZ_CORPUS is the corpus folder, FUZZ_ARTIFACTS where a crashing input is kept (beside
    the corpus unless set), FUZZ_RSS_LIMIT_MB the memory past which libFuzzer calls it a crash;
    `flags` are more libFuzzer flags (-seed=N, -len_control=0...), or a crashing input to rerun."""
    import atheris

    corpus = Path(os.environ.get("FUZZ_CORPUS", "/tmp/inspector-fuzz-corpus"))
    artifacts = Path(os.environ.get("FUZZ_ARTIFACTS", corpus.parent / "artifacts"))
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    # Seeds for each way atheris_one_input reads its input: every fixture file as one file, and
    # every event of the session directory in place of events/3.json.
    for doc in DOCUMENTS:
        if not doc.is_dir:
            (corpus / (Path(doc.name).name + ".seed")).write_bytes(b"\0" + doc.single[1])
    for name, data in EVENTS_DIR.files.items():
        if name.startswith("events/"):
            (corpus / ("event-" + Path(name).name + ".seed")).write_bytes(b"\1" + data)
    rss_limit = int(os.environ.get("FUZZ_RSS_LIMIT_MB", "2048"))
    print(f"atheris: corpus {corpus}, crashing inputs kept in {artifacts}/", file=sys.stderr, flush=True)
    atheris.Setup(
        [
            sys.argv[0],
            f"-max_total_time={seconds}",
            "-max_len=65536",
            f"-rss_limit_mb={rss_limit}",
            "-timeout=60",
            f"-artifact_prefix={artifacts}/",
            *flags,
            *([] if any(Path(f).is_file() for f in flags) else [str(corpus)]),
        ],
        atheris_one_input,
    )
    atheris.Fuzz()


def atheris_findings(stderr: str) -> str:
    """What a failed atheris run found, for the CI log: the Python traceback, libFuzzer's verdict
    and where it kept the input. libFuzzer prints the input itself after the traceback (a 64 KB
    input as some 400 KB of hex, text and base64), so the end of stderr alone loses the traceback."""
    lines = stderr.splitlines()
    kept = [line for line in lines if line.startswith("#")][-1:]  # the last stats line: execs, rss
    in_traceback = False
    for line in lines:
        if "Uncaught Python exception" in line:
            in_traceback = True
        if "ERROR: libFuzzer" in line:
            in_traceback = False
        if in_traceback or "libFuzzer" in line or "Test unit written to" in line or "Python stack" in line:
            kept.append(line[:2000])
    return "\n".join(kept)[-20_000:] or stderr[-4000:]


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("FUZZ_ATHERIS"),
    reason="coverage-guided and random: set FUZZ_ATHERIS=1 "
    "to run it (kept out of CI so a run's result does not depend on luck)",
)
def test_a_short_atheris_run_finds_no_crash(tmp_path):
    """FUZZ_ATHERIS_SECONDS sets how long; a crashing input is kept in FUZZ_ARTIFACTS (default: a
    folder of this test's tmp_path), and the failure says where."""
    pytest.importorskip("atheris")
    seconds = int(os.environ.get("FUZZ_ATHERIS_SECONDS", "20"))
    artifacts = os.environ.get("FUZZ_ARTIFACTS", str(tmp_path / "artifacts"))
    done = subprocess.run(
        [sys.executable, __file__, str(seconds)],
        cwd=Path(__file__).parents[2],
        env={**os.environ, "FUZZ_CORPUS": str(tmp_path / "corpus"), "FUZZ_ARTIFACTS": artifacts},
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    assert done.returncode == 0, f"atheris exit code {done.returncode}:\n{atheris_findings(done.stderr)}"
    assert "Done" in done.stderr, done.stderr[-2000:]


if __name__ == "__main__":
    run_atheris(int(sys.argv[1]) if len(sys.argv) > 1 else 60, sys.argv[2:])
