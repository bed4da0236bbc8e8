"""Hostile documents for the property tests: every fixture mutated (bytes flipped, cut at every
kind of place, keys and lines deleted or doubled, every field given the wrong type, other
encodings, NUL bytes, OpenHands event files with bad names), as hypothesis strategies, and how
long the property tests run (FUZZ, a settings profile chosen by FUZZ_PROFILE: "ci", the default,
400 examples a test; "dev", 20; "long", 5,000).

Used by the readers' fuzz tests (tests/core/test_fuzz_readers.py, also run as a script under
atheris: this module imports nothing from Django) and by the database's (tests/test_faults.py)."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from conversations.history.formats import Document, load_path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MUTATED_DIRS = ("formats", "seed", "samples")
# The OpenHands V1 conversation the SDK wrote, mutated as one document.
V1_FIXTURE = FIXTURES / "formats" / "openhands-v1" / "4f7c2a9e1b3d4e8a9c6f2d5b8e1a7c30"

settings.register_profile(
    "fuzz-ci",
    max_examples=400,
    deadline=timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("fuzz-dev", settings.get_profile("fuzz-ci"), max_examples=20)
settings.register_profile("fuzz-long", settings.get_profile("fuzz-ci"), max_examples=5000)
FUZZ = settings.get_profile("fuzz-" + os.environ.get("FUZZ_PROFILE", "ci"))


def fixture_documents() -> list[Document]:
    """Every fixture file of the mutated folders (logs, and the .md/.yaml beside them: hostile
    input too), and the OpenHands event directory and V1 conversation folder as one document each."""
    docs = []
    for folder in MUTATED_DIRS:
        for path in sorted((FIXTURES / folder).rglob("*")):
            if path.is_file() and not {"openhands-events", V1_FIXTURE.name} & set(path.parts):
                docs.append(load_path(path))
    docs.append(load_path(FIXTURES / "formats" / "openhands-events"))
    docs.append(load_path(V1_FIXTURE))
    return docs


DOCUMENTS = fixture_documents()
V1_DOC = next(d for d in DOCUMENTS if d.name == str(V1_FIXTURE))
EVENTS_DIR = next(d for d in DOCUMENTS if d.is_dir)

# Values that are the wrong type for some field, wherever they land.
WRONG_VALUES = (
    None,
    True,
    False,
    0,
    -1,
    2**63,
    1.5,
    float("inf"),
    "",
    " ",
    "x",
    "<script>alert(1)</script>",
    "\u0000",
    "\ud800",
    [],
    {},
    [None],
    [[]],
    [{}],
    {"type": None},
    {"role": []},
    {"type": "text"},
    {"type": "tool_use"},
    {"type": "tool_result"},
    "9" * 5000,
)
# Where truncation cuts: every kind of place a reader may stop in the middle of.
CUT_AFTER = (b"{", b"[", b'"', b":", b",", b"\n", b"\\", b"}", b"]", b"\xe2", b"\xc3")
BAD_EVENT_NAMES = (
    "events/abc.json",
    "events/-1.json",
    "events/1.5.json",
    "events/01.json",
    "events/.json",
    "events/3",
    "events/sub/4.json",
    "events/ 4.json",
    "events/\u0663.json",
    "events/1e3.json",
    "events/99999999999999999999999999.json",
    "events/4.JSON",
    "events/4.json.bak",
    "event_cache/0-25.json",
    "metadata.json",
)
ENCODINGS = ("latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig")


def with_file(doc: Document, name: str, data: bytes | None) -> Document:
    files = dict(doc.files)
    if data is None:
        files.pop(name, None)
    else:
        files[name] = data
    return Document(name=doc.name, files=files, is_dir=doc.is_dir)


def position(draw, data: bytes) -> int:
    return draw(st.integers(0, max(len(data), 0)))


def flip_bytes(draw, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8)) if out else 0):
        out[draw(st.integers(0, len(out) - 1))] ^= draw(st.integers(1, 255))
    return bytes(out)


def truncate(draw, data: bytes) -> bytes:
    marker = draw(st.sampled_from((None, *CUT_AFTER)))
    if marker is None:
        return data[: position(draw, data)]
    places = [i for i in range(len(data)) if data.startswith(marker, i)]
    if not places:
        return data[: position(draw, data)]
    at = draw(st.sampled_from(places))
    # Right after the marker, or on it (a multi-byte character cut in its middle).
    return data[: at + draw(st.integers(0, len(marker)))]


def delete_span(draw, data: bytes) -> bytes:
    start = position(draw, data)
    return data[:start] + data[start + draw(st.integers(1, 400)) :]


def duplicate_span(draw, data: bytes) -> bytes:
    start = position(draw, data)
    return data[:start] + data[start : start + draw(st.integers(1, 400))] + data[start:]


def insert_bytes(draw, data: bytes) -> bytes:
    at = position(draw, data)
    junk = draw(
        st.one_of(
            st.just(b"\x00"),
            st.just(b"\x00" * 64),
            st.binary(min_size=1, max_size=16),
            st.sampled_from((b"\xff\xfe", b"\xef\xbb\xbf", b"\r", b"\n\n", b"\x1b[2J")),
        )
    )
    return data[:at] + junk + data[at:]


def reencode(draw, data: bytes) -> bytes:
    """The same text in another encoding (with some non-ASCII in it, so it differs)."""
    text = data.decode("utf-8", errors="replace")
    at = draw(st.integers(0, len(text)))
    text = text[:at] + draw(st.sampled_from(("é", "ünïcode", "✓", "😀", "日本"))) + text[at:]
    return text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")


def lines_mutated(draw, data: bytes) -> bytes:
    """JSONL damage: a line deleted, doubled, moved, cut short, blanked, or garbage in between."""
    lines = data.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    op = draw(st.sampled_from(("delete", "duplicate", "swap", "cut", "blank", "garbage", "crlf")))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "swap":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "cut":
        lines[i] = lines[i][: draw(st.integers(0, max(len(lines[i]) - 1, 0)))]
    elif op == "blank":
        lines.insert(i, draw(st.sampled_from((b"", b"   ", b"\t", b"\r"))))
    elif op == "garbage":
        lines.insert(i, draw(st.sampled_from((b"null", b"[]", b"42", b'"text"', b"{", b"}", b"{}", b"not json"))))
    else:
        return data.replace(b"\n", b"\r\n")
    return b"\n".join(lines)


BYTE_OPS = (flip_bytes, truncate, delete_span, duplicate_span, insert_bytes, reencode, lines_mutated)


# JSON-level mutations: a path into the value, then one change there.
SPLICE = "\u0001splice\u0001"


def json_mutated(draw, value):
    """The value with one change at a random place, and the raw JSON text to splice in where
    SPLICE is (json.dumps cannot write a duplicated key, nor nest deeper than its own limit)."""
    if isinstance(value, dict) and value and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(value)))
        inner, splice = json_mutated(draw, value[key])
        out = dict(value)
        out[key] = inner
        op = draw(st.sampled_from(("descend", "delete", "rename", "duplicate")))
        if op == "delete":
            del out[key]
        elif op == "rename":
            out[draw(st.sampled_from(("", key.upper(), key + " ", "_" + key)))] = out.pop(key)
        elif op == "duplicate" and splice is None:
            other = json.dumps(draw(st.sampled_from(WRONG_VALUES)))
            splice = (
                "{"
                + ",".join(
                    [json.dumps(key) + ":" + other] + [json.dumps(k) + ":" + json.dumps(v) for k, v in value.items()]
                )
                + "}"
            )
            return SPLICE, splice
        return out, splice
    if isinstance(value, list) and value and draw(st.integers(0, 3)):
        i = draw(st.integers(0, len(value) - 1))
        inner, splice = json_mutated(draw, value[i])
        out = list(value)
        op = draw(st.sampled_from(("descend", "delete", "duplicate", "reverse")))
        if op == "delete":
            del out[i]
        elif op == "duplicate":
            out.insert(i, value[i])
        elif op == "reverse":
            out.reverse()
        else:
            out[i] = inner
        return out, splice
    op = draw(st.sampled_from(("wrong", "wrong", "nest", "string")))
    if op == "wrong":
        return draw(st.sampled_from(WRONG_VALUES)), None
    if op == "nest":
        # Written as text: json.dumps itself stops at its recursion limit.
        depth = draw(st.sampled_from((2, 50, 900, 5000)))
        opening, closing = draw(st.sampled_from((("[", "]"), ('{"a": ', "}"), ('[{"content": ', "}]"))))
        return SPLICE, opening * depth + dumped(value, None).decode() + closing * depth
    return draw(st.text(max_size=40)), None


def dumped(value, splice: str | None) -> bytes:
    text = json.dumps(value)
    if splice is not None:
        text = text.replace(json.dumps(SPLICE), splice, 1)
    return text.encode()


def json_file_mutated(draw, data: bytes) -> bytes:
    """One change inside the JSON of a file, or of one line of a JSONL file."""
    try:
        whole = json.loads(data)
    except (ValueError, RecursionError):
        pass
    else:
        return dumped(*json_mutated(draw, whole))
    lines = data.split(b"\n")
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append((i, json.loads(line)))
        except (ValueError, RecursionError):
            pass
    if not rows:
        return flip_bytes(draw, data)
    i, value = draw(st.sampled_from(rows))
    lines[i] = dumped(*json_mutated(draw, value))
    return b"\n".join(lines)


@st.composite
def mutants(draw) -> Document:
    """A fixture with one to three changes to one or more of its files."""
    doc = draw(st.sampled_from(DOCUMENTS))
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(doc.files)))
        data = doc.files[name]
        if draw(st.booleans()):
            new = json_file_mutated(draw, data)
        else:
            new = draw(st.sampled_from(BYTE_OPS))(draw, data)
        doc = with_file(doc, name, new)
    return doc


@st.composite
def event_directories(draw) -> Document:
    """The OpenHands event directory with events renamed, removed, doubled or added under bad
    names, junk files beside them, and its files mutated."""
    doc = EVENTS_DIR
    events = sorted(n for n in doc.files if n.startswith("events/"))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("rename", "remove", "double", "add", "mutate", "junk")))
        name = draw(st.sampled_from(events))
        if op == "rename":
            bad = draw(
                st.one_of(
                    st.sampled_from(BAD_EVENT_NAMES), st.text(min_size=1, max_size=12).map(lambda s: f"events/{s}.json")
                )
            )
            doc = with_file(with_file(doc, name, None), bad, doc.files.get(name, b"{}"))
        elif op == "remove":
            doc = with_file(doc, name, None)
        elif op == "double":
            doc = with_file(doc, f"events/{draw(st.integers(0, 40))}.json", doc.files.get(name, b"{}"))
        elif op == "add":
            doc = with_file(
                doc,
                draw(st.sampled_from(BAD_EVENT_NAMES)),
                draw(st.sampled_from((b"", b"{}", b"[]", b"null", b"\x00", b'{"id": "x"}'))),
            )
        elif op == "mutate" and name in doc.files:
            doc = with_file(doc, name, json_file_mutated(draw, doc.files[name]))
        elif op == "junk":
            doc = with_file(
                doc, draw(st.sampled_from(("events/README.md", "agent_state.pkl", "events/.DS_Store"))), b"\x80\x04junk"
            )
    return doc


@st.composite
def v1_folders(draw) -> Document:
    """The OpenHands V1 conversation with its tree bent: events removed or renamed, a parent_id
    or the leaf_event_id pointing anywhere (a missing event, itself, a later event: cycles), an
    event file doubled under another index."""
    doc = V1_DOC
    events = sorted(n for n in doc.files if n.startswith("events/event-"))
    ids = [n.split("-", 2)[2].removesuffix(".json") for n in events]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("remove", "rename", "parent", "leaf", "double")))
        name = draw(st.sampled_from(events))
        target = draw(st.sampled_from((*ids, "missing", "__root__", None)))
        if op == "remove":
            doc = with_file(doc, name, None)
        elif op == "rename":
            doc = with_file(with_file(doc, name, None), name.replace("event-0", "event-"), doc.files.get(name, b"{}"))
        elif op == "parent" and name in doc.files:
            event = json.loads(doc.files[name])
            event["parent_id"] = target
            doc = with_file(doc, name, json.dumps(event).encode())
        elif op == "leaf":
            state = json.loads(doc.files["base_state.json"])
            state["leaf_event_id"] = target
            doc = with_file(doc, "base_state.json", json.dumps(state).encode())
        elif op == "double" and name in doc.files:
            doc = with_file(doc, f"events/event-{len(events):05d}-{ids[0]}.json", doc.files[name])
    return doc
