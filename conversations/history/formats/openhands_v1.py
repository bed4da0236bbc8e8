"""OpenHands V1 (openhands-sdk) conversation folders: base_state.json and
events/event-<index>-<id>.json, the conversation being the branch from leaf_event_id back to the
root. Reference: docs/formats-openhands-v1.md; checked against openhands-sdk 1.58.2 by
tests/oracles/openhands_v1.py.

    openhands_v1_log    the folder as the SDK's EventLog sees it (events, the tree, the branch)
    openhands_v1_read   events -> History, as the SDK sends them
    openhands_v1_write  History -> the files that change, as the SDK would append them
"""

from __future__ import annotations

from ..errors import FormatError
from ..model import History
from . import openhands_v1_read, openhands_v1_write
from .document import Document
from .openhands_v1_log import load
from .v1_layout import BASE_STATE, EVENT_FILE

NAME = openhands_v1_read.NAME
WRITABLE = True


def sniff(doc: Document) -> bool:
    """A folder holding base_state.json and events/event-<digits>-<id>.json."""
    return doc.is_dir and BASE_STATE in doc.files and any(EVENT_FILE.match(name) for name in doc.files)


def read(doc: Document) -> list[History]:
    return [openhands_v1_read.build(load(doc)).history]


def write(history: History, original: Document | None) -> Document:
    if original is None or not original.is_dir:
        raise FormatError(
            "writing an OpenHands V1 conversation needs its folder: new events are appended to "
            "its event log, never generated from scratch"
        )
    if history.format != NAME:
        raise FormatError(
            f"an OpenHands V1 conversation can only be written from a history read from one "
            f"(this one is {history.format}); write it in its own format instead"
        )
    return openhands_v1_write.write(history, original)
