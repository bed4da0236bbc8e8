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

MARKER = b"[REDACTED]"

# Keys whose string value is a credential. "_hash" keys (litellm's user_api_key_hash) are digests,
# not secrets, and "max_tokens"/"total_tokens" are numbers, so neither matches a string rule.
_SECRET_KEY = (
    rb"(?:[A-Za-z0-9_-]*(?:api[_-]?key|apikey|secret(?:[_-]?access)?[_-]?key|client[_-]?secret|password"
    rb"|passwd|session[_-]?token|access[_-]?token|refresh[_-]?token|auth[_-]?token|bearer[_-]?token"
    rb"|private[_-]?key)|authorization|proxy-authorization|x-api-key|api-key|cookie|set-cookie"
    rb"|x-goog-api-key|x-amz-security-token)"
)
_KEYED = re.compile(
    rb'"(?P<key>' + _SECRET_KEY + rb')"(?P<sep>\s*:\s*)"(?P<value>(?:[^"\\]|\\.)*)"',
    re.IGNORECASE,
)

_SHAPES: list[tuple[str, re.Pattern[bytes]]] = [
    ("anthropic-key", re.compile(rb"sk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai-key", re.compile(rb"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("aws-access-key-id", re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github-token", re.compile(rb"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{40,}")),
    ("google-api-key", re.compile(rb"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("slack-token", re.compile(rb"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("bearer-token", re.compile(rb"Bearer\s+[A-Za-z0-9._~+/=-]{16,}")),
]
# One cheap scan decides whether the slower patterns need to run at all.
_PREFILTER = re.compile(rb"sk-|AKIA|ASIA|gh[pousr]_|github_pat_|AIza|xox|Bearer|" + _SECRET_KEY, re.IGNORECASE)


@dataclass(frozen=True)
class Redaction:
    kind: str
    file: str
    line: int
    key: str | None = None

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "file": self.file, "line": self.line}
        if self.key:
            d["key"] = self.key
        return d


def redact(data: bytes, file: str = "") -> tuple[bytes, list[Redaction]]:
    """(data with secrets replaced by MARKER, what was redacted). Values already redacted, empty
    values and placeholders such as "<secret_hidden>" are left alone, so redacting twice is a no-op."""
    if not _PREFILTER.search(data):
        return data, []
    found: list[Redaction] = []

    def line_of(pos: int) -> int:
        return data.count(b"\n", 0, pos) + 1

    def keyed(m: re.Match[bytes]) -> bytes:
        value = m.group("value")
        if _is_placeholder(value):
            return m.group(0)
        found.append(Redaction("keyed", file, line_of(m.start()), m.group("key").decode(errors="replace")))
        return b'"' + m.group("key") + b'"' + m.group("sep") + b'"' + MARKER + b'"'

    out = _KEYED.sub(keyed, data)
    for kind, pattern in _SHAPES:
        if not pattern.search(out):
            continue
        source = out

        def shaped(m: re.Match[bytes], kind: str = kind, source: bytes = source) -> bytes:
            found.append(Redaction(kind, file, source.count(b"\n", 0, m.start()) + 1))
            return MARKER

        out = pattern.sub(shaped, out)
    return out, found


def _is_placeholder(value: bytes) -> bool:
    v = value.strip()
    return (not v or v == MARKER or v.startswith(b"<") and v.endswith(b">") or set(v) <= set(b"*")
            or v.lower() in (b"null", b"none", b"redacted", b"[redacted]"))
