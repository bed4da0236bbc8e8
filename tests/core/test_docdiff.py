"""The change as it will be written (conversations.history.docdiff): the written document against
the one it replaces, file by file, in the source's own format."""

import json

from conversations.history.docdiff import LINES_MAX, document_diff
from conversations.history.formats import Document


def one_file(name: str, data: bytes) -> Document:
    return Document.from_bytes(name, data)


def test_a_one_line_json_request_is_compared_indented_so_only_the_changed_lines_show():
    before = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    after = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}

    diff = document_diff(
        one_file("r.json", json.dumps(before).encode()), one_file("r.json", json.dumps(after).encode())
    )

    [changed] = diff.files
    assert (changed.name, changed.status) == ("r.json", "changed")
    assert [(k, t.strip()) for k, t in changed.lines if k in "+-"] == [
        ("-", '"content": "hi"'),
        ("+", '"content": "hello"'),
    ]


def test_jsonl_records_are_compared_as_written_one_line_each():
    before = b'{"a": 1}\n{"b": 2}\n{"c": 3}\n'
    after = b'{"a": 1}\n{"b": 20}\n{"c": 3}\n{"d": 4}\n'

    [changed] = document_diff(one_file("s.jsonl", before), one_file("s.jsonl", after)).files

    assert [(k, t) for k, t in changed.lines if k in "+-"] == [("-", '{"b": 2}'), ("+", '{"b": 20}'), ("+", '{"d": 4}')]


def test_files_added_to_a_folder_are_listed_and_unchanged_ones_are_not():
    before = Document(name="s", files={"events/0.json": b"{}", "events/1.json": b"{}"}, is_dir=True)
    after = Document(name="s", files={**before.files, "events/2.json": b'{"id": 2}'}, is_dir=True)

    diff = document_diff(before, after)

    assert [(f.name, f.status) for f in diff.files] == [("events/2.json", "added")]


def test_past_the_limit_the_lines_are_counted_not_shown():
    before = "".join(f'{{"n": {n}}}\n' for n in range(LINES_MAX)).encode()
    after = "".join(f'{{"m": {n}}}\n' for n in range(LINES_MAX)).encode()

    diff = document_diff(one_file("s.jsonl", before), one_file("s.jsonl", after))

    assert sum(len(f.lines) for f in diff.files) == LINES_MAX and diff.hidden_lines > 0


def test_a_change_past_4000_lines_is_counted_not_diffed():
    before = Document(name="log.jsonl", files={"log.jsonl": "".join(f"line {k}\n" for k in range(10)).encode()})
    grown = "".join(f"line {k}\n" for k in range(10)) + "".join(f"new {k}\n" for k in range(5_000))
    after = Document(name="log.jsonl", files={"log.jsonl": grown.encode()})

    [change] = document_diff(before, after).files

    assert change.lines == [("@", "@@ from line 11: 0 lines removed, 5,000 added (too large to show line by line) @@")]


def test_a_small_change_in_a_long_file_is_shown_with_its_own_line_numbers():
    lines = [f"record {k}" for k in range(20_000)]
    before = Document(name="log.jsonl", files={"log.jsonl": "\n".join(lines).encode()})
    lines[15_000] = "record changed"
    after = Document(name="log.jsonl", files={"log.jsonl": "\n".join(lines).encode()})

    [change] = document_diff(before, after).files

    assert change.lines[0] == ("@", "@@ -14999,5 +14999,5 @@")
    assert ("-", "record 15000") in change.lines and ("+", "record changed") in change.lines
