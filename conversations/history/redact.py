"""Secrets out before anything is stored.

litellm logs carry request headers and metadata, OpenHands events carry tokens in tool output,
and people paste keys into chats. We replace each secret value in the raw bytes with a marker
and keep every other byte as it was, so the stored original is the input minus its secrets and
still parses the same way. The revision lists what was redacted (kind and place), never the value.

What is found, each as a span of the raw bytes (the spans are then replaced, one pass):
- a string value under a key that names a credential ("api_key", "Authorization", "x-api-key",
  a bare "token" or "secret"...), a header list (`[["Authorization", "Bearer x"]]`,
  `{"name": "x-api-key", "value": ...}`), and every value of an object that holds secrets by
  design (OpenHands V1's `secret_registry`, an MCP server's `env`);
- the same inside JSON-encoded strings, at any depth (an OpenAI tool call's `arguments` is such a
  string): the string is decoded with a map back to its raw bytes, searched, and only the secret's
  raw bytes are replaced (the marker needs no escaping at any depth);
- a value shaped like a known credential anywhere, in free text too (sk-..., AKIA..., Bearer ...,
  ghp_..., hf_..., sk_live_..., a PEM private key, `NAME_SECRET=value` as `env` prints it, the
  password of a URL's userinfo, `curl -u user:pass`).

Every pattern is linear: no nested or overlapping quantifiers, each bounded where it could run
on, and tried only where a literal it needs occurs.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MARKER = b"[REDACTED]"

# Keys whose string value is a credential. "_hash" keys (litellm's user_api_key_hash) are digests,
# not secrets, and "max_tokens"/"total_tokens" are numbers, so neither matches a string rule.
_SECRET_KEY = re.compile(
    rb"[a-z0-9_.-]*(?:api[_-]?key|apikey|secret(?:[_-]?access)?[_-]?key|client[_-]?secret|password"
    rb"|passwd|session[_-]?token|access[_-]?token|refresh[_-]?token|auth[_-]?token|bearer[_-]?token"
    rb"|id[_-]token|(?:github|gh|gitlab|hf|huggingface|slack|bot|npm|pypi|security|oauth|jwt)[_-]?token"
    rb"|private[_-]?key)|authorization|proxy-authorization|x-api-key|api-key|cookie|set-cookie"
    rb"|x-goog-api-key|x-amz-security-token|token|secret|[a-z0-9_.-]*[_.-]secret"
)
# Every "key": "string value" pair. Scanning pairs left to right keeps the match aligned with the
# JSON structure (a value swallows any key-like text inside it), and the key test runs in Python
# only on the short key, so the scan stays linear in the document.
_PAIR = re.compile(rb'"([A-Za-z0-9_.-]{1,100})"(\s*:\s*)"([^"\\]*(?:\\.[^"\\]*)*)"')
# A header list's entry: ["Authorization", "Bearer x"] or {"name": "x-api-key", "value": "..."}.
_HEADER_PAIR = re.compile(rb'\[\s*"([A-Za-z0-9_.-]{1,100})"\s*,\s*"([^"\\]*(?:\\.[^"\\]*)*)"\s*\]')
_HEADER_NAMED = re.compile(
    rb'"name"\s*:\s*"([A-Za-z0-9_.-]{1,100})"\s*,\s*"value"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"', re.IGNORECASE
)
# Objects whose every string value is a secret: the V1 secret registry, an MCP server's env.
_SECRET_HOLDER = re.compile(rb'"(secret_registry|secret_sources|env)"\s*:\s*\{')
_STRING_OR_BRACE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}]')
# A JSON string literal (to decode one that holds JSON of its own).
_STRING = re.compile(rb'"([^"\\]*(?:\\.[^"\\]*)*)"')
_ESCAPE = re.compile(rb"\\(?:u[0-9a-fA-F]{4}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {
    b'"': b'"',
    b"\\": b"\\",
    b"/": b"/",
    b"b": b"\b",
    b"f": b"\f",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
}
# Words that must appear somewhere for a keyed secret to be possible at all.
_KEY_HINTS = (b"key", b"token", b"secret", b"passw", b"authorization", b"cookie", b"env")
# A quoted name at some depth of escaping that could be a credential's key (or a header's name,
# or a secret holder's): only a string holding one is decoded and searched.
_ESCAPED_KEY = re.compile(
    rb'\\"[A-Za-z0-9_.-]{0,60}(?i:key|token|secret|passw|auth|cookie|env)[A-Za-z0-9_.-]{0,60}\\+"'
)
# How deep JSON-encoded strings are decoded (a tool call's arguments holding a JSON string...).
MAX_NESTING = 6

# Where a word starts: after a non-word character, or after an escaped newline or tab (`\\n` in a
# JSON string, where `\b` sees the "n" as part of the word). Tested after the word's first
# character (a lookbehind two bytes wide): a pattern that opens with a literal or a class is
# scanned for it in C, where one that opens with a lookbehind is tried at every offset (the env
# pattern took 12 ms on a 160 KB log that way, 2 ms this way).
_STARTED = rb"(?:(?<![A-Za-z0-9_].)|(?<=\\[nrt].))"


def _word(first: bytes, rest: bytes) -> re.Pattern[bytes]:
    """A pattern that matches only where a word starts, `first` its first character."""
    return re.compile(first + _STARTED + rest)


# An environment variable as `env` or a .env file prints it: an upper-case name that ends like a
# credential's, "=", the value up to a space, a quote or a backslash (the escape of a newline).
_ENV_NAME_END = re.compile(
    rb"(?:^|_)(?:KEY|APIKEY|SECRET|TOKEN|PASSWORD|PASSWD|PASS|CREDENTIALS?)$|^(?:KEY|TOKEN|SECRET)$"
)
_ENV = re.compile(rb"([A-Z]" + _STARTED + rb"[A-Z0-9_]{1,100})=('?)([^\s\"'\\]{1,4096})")
# What must occur for _ENV to find anything: its name ends like a credential's, then "=".
_ENV_HINTS = (b"KEY=", b"SECRET=", b"TOKEN=", b"PASS", b"CREDENTIAL")
# scheme://user:password@host, and scheme://long-token@host: the password (or the token) only.
_URL_USERINFO = re.compile(rb"\b[A-Za-z][A-Za-z0-9+.-]{0,20}://([^\s:/?#@\"'\\<>]{0,256})(:[^\s/?#@\"'\\<>]{1,256})?@")
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,60})-----([^-]{1,65536})-----END ")
# `-u user:password` of a curl command: the option is found first, then "curl" looked for before it
# on its line (a lazy scan from every "curl" to its option would be quadratic on "curl curl ...").
_CURL_USER = re.compile(rb"\s(?:-u|--user)[ =]+'?([^\s:'\"\\]{1,256}):([^\s'\"\\]{1,256})")
_CURL_REACH = 300

# (kind, literals one of which must occur for the pattern to be tried, pattern, which group is the
# secret: 0 for the whole match)
_SHAPES: list[tuple[str, tuple[bytes, ...], re.Pattern[bytes], int]] = [
    ("anthropic-key", (b"sk-ant-",), _word(b"s", rb"k-ant-[A-Za-z0-9_-]{20,}"), 0),
    ("openai-key", (b"sk-",), _word(b"s", rb"k-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"), 0),
    ("stripe-key", (b"k_live_", b"k_test_"), _word(b"[sr]", rb"k_(?:live|test)_[A-Za-z0-9]{10,}"), 0),
    ("huggingface-token", (b"hf_",), _word(b"h", rb"f_[A-Za-z0-9]{30,}"), 0),
    ("aws-access-key-id", (b"AKIA", b"ASIA"), _word(b"A", rb"(?:KIA|SIA)[0-9A-Z]{16}\b"), 0),
    (
        "github-token",
        (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
        _word(b"g", rb"(?:h[pousr]_[A-Za-z0-9]{36}\b|ithub_pat_[A-Za-z0-9_]{40,})"),
        0,
    ),
    ("google-api-key", (b"AIza",), _word(b"A", rb"Iza[0-9A-Za-z_-]{35}\b"), 0),
    ("slack-token", (b"xox",), _word(b"x", rb"ox[abposr]-[A-Za-z0-9-]{10,}"), 0),
    ("bearer-token", (b"earer", b"EARER"), re.compile(rb"(?i:bearer)\s+([A-Za-z0-9._~+/=-]{16,})"), 1),
    ("basic-auth", (b"asic", b"ASIC"), re.compile(rb"(?i:authorization:\s*basic)\s+([A-Za-z0-9+/=]{8,})"), 1),
]

# A span of the raw bytes to replace: (start, end, kind, key).
Span = tuple[int, int, str, str | None]


@dataclass(frozen=True)
class Redaction:
    kind: str
    file: str
    line: int
    key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "file": self.file, "line": self.line}
        if self.key:
            d["key"] = self.key
        return d


def redact(data: bytes, file: str = "") -> tuple[bytes, list[Redaction]]:
    """(data with secrets replaced by MARKER, what was redacted). Values already redacted, empty
    values and placeholders such as "<secret_hidden>" are left alone, so redacting twice is a no-op."""
    spans = _merged(list(_keyed_spans(data, 0)) + list(_shaped_spans(data)))
    if not spans:
        return data, []
    lines = _LineCounter(data)
    found = [Redaction(kind, file, lines.at(start), key) for start, _, kind, key in spans]
    out: list[bytes] = []
    at = 0
    for start, end, _, _ in spans:
        out += [data[at:start], MARKER]
        at = end
    out.append(data[at:])
    return b"".join(out), found


def redact_text(text: str) -> str:
    """A text (an error message, a log line) with its secrets replaced by the marker."""
    out, _ = redact(text.encode("utf-8", "surrogatepass"))
    return out.decode("utf-8", "surrogatepass")


def _merged(spans: list[Span]) -> list[Span]:
    """In order, without overlaps: a span met inside an earlier one (a Bearer token under an
    Authorization key) is part of it; keyed spans come first, so they name the redaction."""
    spans.sort(key=lambda s: (s[0], -s[1]))
    kept: list[Span] = []
    for span in spans:
        if kept and span[0] < kept[-1][1]:
            last = kept[-1]
            kept[-1] = (last[0], max(last[1], span[1]), last[2], last[3])
            continue
        kept.append(span)
    return kept


# --- secrets found by their key ------------------------------------------------------------------


def _keyed_spans(data: bytes, depth: int) -> Iterator[Span]:
    if not _has_key_hint(data):
        return
    for m in _PAIR.finditer(data):
        if _is_secret_key(m[1]) and not _is_placeholder(m[3]):
            yield m.start(3), m.end(3), "keyed", m[1].decode()
    for pattern in (_HEADER_PAIR, _HEADER_NAMED):
        for m in pattern.finditer(data):
            if _is_secret_key(m[1]) and not _is_placeholder(m[2]):
                yield m.start(2), m.end(2), "keyed", m[1].decode()
    yield from _holder_spans(data)
    if depth < MAX_NESTING:
        yield from _nested_spans(data, depth)


def _is_secret_key(key: bytes) -> bool:
    return _SECRET_KEY.fullmatch(key.lower()) is not None


def _holder_spans(data: bytes) -> Iterator[Span]:
    """Every string value (but a "kind") of a secret_registry or an env object, at any depth in it."""
    resume = 0
    for m in _SECRET_HOLDER.finditer(data):
        if m.start() < resume:
            continue  # inside a holder already redacted
        end = _object_end(data, m.end())
        resume = end
        for pair in _PAIR.finditer(data, m.end(), end):
            if pair[1] != b"kind" and not _is_placeholder(pair[3]):
                yield pair.start(3), pair.end(3), "keyed", f"{m[1].decode()}.{pair[1].decode()}"


def _object_end(data: bytes, start: int) -> int:
    """The offset of the brace that closes the object opened just before `start` (strings are
    skipped whole, so braces inside them do not count); the end of data if it never closes."""
    depth = 1
    for token in _STRING_OR_BRACE.finditer(data, start):
        if token[0] == b"{":
            depth += 1
        elif token[0] == b"}":
            depth -= 1
            if depth == 0:
                return token.start()
    return len(data)


def _nested_spans(data: bytes, depth: int) -> Iterator[Span]:
    """Keyed secrets inside JSON-encoded strings: each string that holds an escaped quote and a
    key word is decoded (with a map of where each decoded byte came from) and searched in turn."""
    for m in _STRING.finditer(data):
        raw = m[1]
        if b'\\"' not in raw or not _ESCAPED_KEY.search(raw):
            continue
        decoded, to_raw = _unescape(raw)
        base = m.start(1)
        for start, end, kind, key in _keyed_spans(decoded, depth + 1):
            yield base + to_raw(start), base + to_raw(end), kind, key


def _unescape(raw: bytes) -> tuple[bytes, Callable[[int], int]]:
    """The bytes a JSON string's content stands for, and a function from a decoded offset (one
    that starts or ends a decoded escape, as a found value always does) to the raw offset.
    \\uXXXX becomes its UTF-8 bytes (a lone surrogate: its surrogatepass bytes)."""
    out: list[bytes] = []
    # One entry a piece: (decoded offset where it starts, its raw offset, copied as is: offsets
    # inside it map one to one).
    pieces: list[tuple[int, int, bool]] = []
    d = r = 0
    for m in _ESCAPE.finditer(raw):
        if m.start() > r:
            pieces.append((d, r, True))
            out.append(raw[r : m.start()])
            d += m.start() - r
        escape = m[0][1:]
        if escape[:1] == b"u":
            piece = chr(int(escape[1:], 16)).encode("utf-8", "surrogatepass")
        else:
            piece = _SIMPLE_ESCAPES.get(escape, escape)
        pieces.append((d, m.start(), False))
        out.append(piece)
        d += len(piece)
        r = m.end()
    pieces.append((d, r, True))
    out.append(raw[r:])
    starts = [p[0] for p in pieces]

    def to_raw(offset: int) -> int:
        decoded_start, raw_start, as_is = pieces[bisect.bisect_right(starts, offset) - 1]
        return raw_start + offset - decoded_start if as_is else raw_start

    return b"".join(out), to_raw


# --- secrets found by their shape ----------------------------------------------------------------


def _shaped_spans(data: bytes) -> Iterator[Span]:
    """Shapes match through any depth of JSON escaping: none of them takes a quote or a backslash."""
    for kind, literals, pattern, group in _SHAPES:
        if any(literal in data for literal in literals):
            for m in pattern.finditer(data):
                yield m.start(group), m.end(group), kind, None
    if any(hint in data for hint in _ENV_HINTS):
        for m in _ENV.finditer(data):
            if _ENV_NAME_END.search(m[1]) and not _is_placeholder(m[3]):
                yield m.start(3), m.end(3), "environment-variable", m[1].decode()
    if b"://" in data:
        for m in _URL_USERINFO.finditer(data):
            if m[2] is not None and not _is_placeholder(m[2][1:]):
                yield m.start(2) + 1, m.end(2), "url-password", None
            elif m[2] is None and len(m[1]) >= 20 and m[1] != MARKER:
                yield m.start(1), m.end(1), "url-token", None
    if b"curl" in data:
        for m in _CURL_USER.finditer(data):
            before = data[max(0, m.start() - _CURL_REACH) : m.start()]
            line = before[max(before.rfind(b"\n"), before.rfind(b"\\n")) + 1 :]
            if b"curl" in line and not _is_placeholder(m[2]):
                yield m.start(2), m.end(2), "curl-password", None
    if b"-----BEGIN " in data:
        for m in _PEM.finditer(data):
            if b"PRIVATE KEY" in m[1] and m[2].strip(b"\\n\r ") != MARKER:
                yield m.start(2), m.end(2), "private-key", None


class _LineCounter:
    """The line number of each match, counting on from the previous match: spans come in order,
    and counting from the start of the file each time made redaction quadratic (a 1.4 MB log
    holding 20,000 keys took 40 s)."""

    def __init__(self, data: bytes):
        self.data, self.offset, self.line = data, 0, 1

    def at(self, offset: int) -> int:
        if offset < self.offset:
            self.offset, self.line = 0, 1
        self.line += self.data.count(b"\n", self.offset, offset)
        self.offset = offset
        return self.line


def _has_key_hint(data: bytes, step: int = 1 << 20) -> bool:
    """Whether any credential-like key word occurs, case-insensitively, looking at 1 MB at a time
    (a lowered copy of a 50 MB log would double the memory of an ingest for a yes/no answer)."""
    overlap = max(len(h) for h in _KEY_HINTS)
    for start in range(0, len(data), step):
        window = data[start : start + step + overlap].lower()
        if any(hint in window for hint in _KEY_HINTS):
            return True
    return False


def _is_placeholder(value: bytes) -> bool:
    v = value.strip()
    return (
        not v
        or v == MARKER
        or v.startswith(b"<")
        and v.endswith(b">")
        or set(v) <= set(b"*")
        or v.lower() in (b"null", b"none", b"redacted", b"[redacted]")
        or v.startswith(b"os.environ/")  # a litellm config's reference to a variable, not its value
    )
