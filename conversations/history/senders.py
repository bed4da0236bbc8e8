"""Who sends the request: a provider judges the body a particular client builds (issue 17 part 2).

    litellm      litellm's transformation (SDK or proxy) of the OpenAI-shaped history
    claude-code  the Anthropic body Claude Code builds on resume: it always carries a system
                 prompt and a definition for every tool the history calls, and its resume does
                 what the version in the log does with parallel results (docs/formats.md s.2)
    openhands    OpenHands V0 ConversationMemory / the V1 SDK's view, sent through litellm
    direct       the logged body as it is: only for a request body in the target's own wire
                 format (an anthropic request to anthropic or bedrock-invoke, an openai
                 request to openai)

Pure: no Django, no litellm.
"""

from __future__ import annotations

from .errors import HistoryError
from .model import History
from .targets import Target

SENDERS = ("litellm", "claude-code", "openhands", "direct")

# The client that sent what each format logs (README, "Senders").
DEFAULT_SENDERS: dict[str, str] = {
    "claude-code": "claude-code",
    "openhands": "openhands",
    "openhands-v1": "openhands",
    "openhands-output": "openhands",
    "litellm-log": "litellm",
    "openai": "litellm",
    "anthropic": "direct",
}

# Which request-body format `direct` can send to which target wire format.
DIRECT_WIRES = {"anthropic": "anthropic", "openai": "openai"}


class UnknownSender(HistoryError):
    """A sender name that is not one of SENDERS."""


def check_name(sender: str) -> str:
    if sender not in SENDERS:
        raise UnknownSender(f"unknown sender {sender!r}; known senders: {', '.join(SENDERS)}")
    return sender


def default_sender(history: History) -> str:
    return DEFAULT_SENDERS.get(history.format, "litellm")


def not_applicable(sender: str, history: History, target: Target) -> str | None:
    """Why `sender` cannot send `history` to `target` (None: it can). Only `direct` is limited:
    a logged body goes as it is only to a provider that speaks its wire format, and straight to
    it (a route's deployment always goes through litellm)."""
    if sender != "direct":
        return None
    wire = DIRECT_WIRES.get(history.format)
    if wire is None:
        return f"direct: not applicable (the {history.format} log is not a request body)"
    if wire != target.wire_format or target.label != target.name:
        return f"direct: not applicable (the {history.format} request body is not what {target.label} takes)"
    return None


def sends_natively(sender: str, history: History, target: Target) -> bool:
    """Whether the body goes to the provider as the client built it, without litellm: `direct`,
    or Claude Code's own Anthropic body to Anthropic or Bedrock InvokeModel."""
    if target.label != target.name:
        return False
    if sender == "direct":
        return not_applicable(sender, history, target) is None
    return sender == "claude-code" and target.wire_format == "anthropic"
