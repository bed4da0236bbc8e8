"""How an OpenHands V1 (openhands-sdk) conversation folder is laid out on disk: which files are
the conversation, which are the SDK's own sidecars. Names from the SDK's
`conversation/persistence_const.py` and `event_store.py` (docs/formats-openhands-v1.md).

    <conversation_id hex>/base_state.json
    <conversation_id hex>/events/event-{idx:05d}-{event_id}.json
    <conversation_id hex>/events/.eventlog.lock           the EventLog's flock
    <conversation_id hex>/events/.eventlog-len-N.marker   its length marker (N = event count)

Shared by document.py (loading a folder), the format module and the write-back service; it
imports nothing of ours, so document.py can import it without a cycle.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

BASE_STATE = "base_state.json"
EVENTS_DIR = "events"
LOCK_FILE = f"{EVENTS_DIR}/.eventlog.lock"
# The SDK's EVENT_NAME_RE: 5 digits minimum, no cap; the id is the event's own id.
EVENT_NAME = re.compile(r"^event-(?P<idx>\d{5,})-(?P<event_id>[0-9a-fA-F\-]{8,})\.json$")
EVENT_FILE = re.compile(r"^events/event-(?P<idx>\d{5,})-(?P<event_id>[0-9a-fA-F\-]{8,})\.json$")
MARKER = re.compile(r"^events/\.eventlog-len-(?P<length>\d+)\.marker$")


def event_file_name(index: int, event_id: str) -> str:
    """The document name of an event file, as the SDK's EVENT_FILE_PATTERN writes it."""
    return f"{EVENTS_DIR}/event-{index:05d}-{event_id}.json"


def marker_name(length: int) -> str:
    return f"{EVENTS_DIR}/.eventlog-len-{length}.marker"


def is_sidecar(rel: str) -> bool:
    """A dotfile of events/ (the lock, the length marker): the SDK's own, never an event. Its
    name is kept in a Document (as an empty entry), its bytes are never read or parsed."""
    return rel.startswith(f"{EVENTS_DIR}/.")


def is_v1_file(rel: str) -> bool:
    """Whether a file of a V1 folder is part of the conversation (what load_path reads and a
    writer owns): base_state.json and the files directly in events/. The rest (observations/,
    the workspace's own files) is the agent's, never read."""
    if rel == BASE_STATE:
        return True
    head, _, name = rel.partition("/")
    return head == EVENTS_DIR and bool(name) and "/" not in name


def is_v1_dir(path: str | os.PathLike[str]) -> bool:
    """A folder holding base_state.json and at least one events/event-<digits>-<id>.json."""
    folder = Path(path)
    if not (folder / BASE_STATE).is_file() or (folder / EVENTS_DIR).is_symlink():
        return False  # a symlinked events/ is never followed
    try:
        names = os.listdir(folder / EVENTS_DIR)
    except OSError:
        return False
    return any(EVENT_NAME.match(name) for name in names)
