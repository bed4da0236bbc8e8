"""The inspector's pages, one module per feature; urls.py names them from here."""

from conversations.views.detail import conversation_detail, conversation_json, error_explain, route_check
from conversations.views.listing import conversation_list
from conversations.views.records import message_raw, wire_request
from conversations.views.repairs import (
    conversation_repair,
    conversation_resume_view,
    revision_download,
    revision_restore_view,
    revision_writeback,
)
from conversations.views.revisions import revision_diff
from conversations.views.upload import upload

__all__ = [
    "conversation_list",
    "conversation_detail",
    "conversation_json",
    "route_check",
    "error_explain",
    "message_raw",
    "wire_request",
    "revision_diff",
    "upload",
    "conversation_repair",
    "conversation_resume_view",
    "revision_restore_view",
    "revision_writeback",
    "revision_download",
]
