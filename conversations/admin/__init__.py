"""The admin, for the people who run the inspector: conversations, revisions, findings, sources,
background jobs and the audit log. Every row links to its conversation's inspector page.

Bulk actions on conversations (on a selection, or on everything the current filter matches with
Django's "select all N"), each a confirmation page first and then a background job
(conversations.jobs) whose page shows live progress:

    re-check                 conversations.change_conversation
    dry-run repair           the repairer role (conversations.roles.can_repair: the repair
    repair                     permission, or staff), as on the pages and in the API
    repair and write back
    export repaired files
    delete (soft)            conversations.delete_conversation

Django's own delete_selected is removed: it would delete rows for good, past the audit log and
the retention period (`manage.py prune` does that, later). Revisions, findings, sources and the
audit log are read-only here: ingest, repairs and jobs write them.

One module per area, each registering its own admins: conversations (with the bulk actions),
records (revisions, findings, sources), jobs, audit, routes (route configs and mapping rules), tokens
(API tokens).
"""

from conversations.admin import audit, conversations, jobs, records, routes, tokens  # noqa: F401  (each registers its admins)
