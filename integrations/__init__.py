"""Conversation Inspector inside an agent platform's own process: no Django here.

- litellm_callback.InspectorCallback: a litellm CustomLogger that ships failed calls (and a sample
  of successful ones) to the inspector's API, in the background.
- guard.InspectorGuard / guard.guard_request: check an outgoing history locally with the pure
  core before the call is spent: report, repair, or refuse with the provider's predicted error.
- client.InspectorClient: the small HTTP client both use.

Installed with the pure core as the `conversation-inspector-core` package (pyproject.toml).
"""
