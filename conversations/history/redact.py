"""Secrets out before anything is stored.

litellm logs carry request headers and metadata, OpenHands events carry tokens in tool output,
and people paste keys into chats. We replace each secret value in the raw bytes with a marker
and keep every other byte as it was, so the stored original is the input minus its secrets and
still parses the same way. The revision lists what was redacted (kind and place), never the value.

Two kinds of match, both inside JSON string values so the document stays valid JSON:
- a value under a key that names a credential ("api_key", "Authorization", "x-api-key", ...);
- a value shaped like a known credential anywhere (sk-..., AKIA..., Bearer ..., ghp_..., AIza...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MARKER = b"[REDACTED]"

# Keys whose string value is a credential. "_hash" keys (litellm's user_api_key_hash) are digests,
# not secrets, and "max_tokens"/"total_tokens" are numbers, so neither matches a string rule.
_SECRET_KEY = re.compile(
    rb"[a-z0-9_.-]*(?:api[_-]?key|apikey|secret(?:[_-]?access)?[_-]?key|client[_-]?secret|password"
    rb"|passwd|session[_-]?token|access[_-]?token|refresh[_-]?token|auth[_-]?token|bearer[_-]?token"
    rb"|private[_-]?key)|authorization|proxy-authorization|x-api-key|api-key|cookie|set-cookie"
    rb"|x-goog-api-key|x-amz-security-token"
)
# Every "key": "string value" pair. Scanning pairs left to right keeps the match aligned with the
# JSON structure (a value swallows any key-like text inside it), and the key test runs in Python
# only on the short key, so the scan stays linear in the document.
_PAIR = re.compile(rb'"([A-Za-z0-9_.-]{1,100})"(\s*:\s*)"([^"\\]*(?:\\.[^"\\]*)*)"')
# Words that must appear somewhere for a keyed secret to be possible at all.
_KEY_HINTS = (b"key", b"token", b"secret", b"passw", b"authorization", b"cookie")

# (kind, literals one of which must occur for the pattern to be tried, pattern)
_SHAPES: list[tuple[str, tuple[bytes, ...], re.Pattern[bytes]]] = [
    ("anthropic-key", (b"sk-ant-",), re.compile(rb"sk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai-key", (b"sk-",), re.compile(rb"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("aws-access-key-id", (b"AKIA", b"ASIA"), re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "github-token",
        (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
        re.compile(rb"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{40,}"),
    ),
    ("google-api-key", (b"AIza",), re.compile(rb"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("slack-token", (b"xox",), re.compile(rb"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("bearer-token", (b"Bearer",), re.compile(rb"Bearer\s+[A-Za-z0-9._~+/=-]{16,}")),
]


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
    found: list[Redaction] = []
    out = data
    if _has_key_hint(data):
        lines = _LineCounter(data)
        out = _PAIR.sub(lambda m: _keyed(m, lines=lines, found=found, file=file), data)
    for kind, literals, pattern in _SHAPES:
        if not any(literal in out for literal in literals):
            continue
        lines = _LineCounter(out)

        def shaped(m: re.Match[bytes], kind: str = kind, lines: _LineCounter = lines) -> bytes:
            found.append(Redaction(kind, file, lines.at(m.start())))
            return MARKER

        out = pattern.sub(shaped, out)
    return out, found


class _LineCounter:
    """The line number of each match, counting on from the previous match: re.sub finds them
    in order, and counting from the start of the file each time made redaction quadratic (a
    1.4 MB log holding 20,000 keys took 40 s)."""

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


def _keyed(m: re.Match[bytes], *, lines: _LineCounter, found: list[Redaction], file: str) -> bytes:
    key, value = m.group(1), m.group(3)
    if not _SECRET_KEY.fullmatch(key.lower()) or _is_placeholder(value):
        return m.group(0)
    found.append(Redaction("keyed", file, lines.at(m.start()), key.decode()))
    return b'"' + key + b'"' + m.group(2) + b'"' + MARKER + b'"'


def _is_placeholder(value: bytes) -> bool:
    v = value.strip()
    return (
        not v
        or v == MARKER
        or v.startswith(b"<")
        and v.endswith(b">")
        or set(v) <= set(b"*")
        or v.lower() in (b"null", b"none", b"redacted", b"[redacted]")
    )
