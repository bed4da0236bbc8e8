"""The JSON API: token-authenticated endpoints over the same storage and checks as the pages.

Its own views, never the pages' (conversations.views): agent platforms and the litellm callback
(integrations.litellm_callback) depend on these URLs and shapes; openapi.py describes them.
"""
