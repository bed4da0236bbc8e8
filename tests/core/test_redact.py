"""Secrets are replaced in the raw bytes; everything else stays byte for byte."""

import json

from conversations.history.redact import MARKER, redact


def test_a_credential_under_a_credential_key_is_replaced():
    data = b'{"api_key": "abc123def456", "model": "gpt-4o"}'

    out, found = redact(data, "log.json")

    assert out == b'{"api_key": "[REDACTED]", "model": "gpt-4o"}'
    assert [(r.kind, r.key, r.line) for r in found] == [("keyed", "api_key", 1)]


def test_headers_are_matched_whatever_their_case():
    data = b'{"headers": {"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz", "X-Api-Key": "k-123"}}'

    out, found = redact(data)

    assert json.loads(out) == {"headers": {"Authorization": "[REDACTED]", "X-Api-Key": "[REDACTED]"}}
    assert len(found) == 2


def test_a_key_pasted_into_a_message_is_replaced_where_it_stands():
    text = "my key is sk-ant-api03-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345 please use it"
    data = json.dumps({"messages": [{"role": "user", "content": text}]}).encode()

    out, found = redact(data)

    assert json.loads(out)["messages"][0]["content"] == "my key is [REDACTED] please use it"
    assert found[0].kind == "anthropic-key"


def test_aws_and_github_credentials_are_recognised():
    data = b'{"log": "AKIAIOSFODNN7EXAMPLE then ghp_' + b"a" * 36 + b'"}'

    out, found = redact(data)

    assert sorted(r.kind for r in found) == ["aws-access-key-id", "github-token"]
    assert b"AKIAIOSFODNN7EXAMPLE" not in out


def test_digests_numbers_and_placeholders_are_not_secrets():
    data = (
        b'{"user_api_key_hash": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b", '
        b'"max_tokens": 4096, "access_token": "<secret_hidden>", "password": "", "api_key": null}'
    )

    out, found = redact(data)

    assert out == data
    assert found == []


def test_redacting_twice_changes_nothing_more():
    data = b'{"api_key": "abc123def456", "note": "sk-proj-abcdefghijklmnopqrstuvwxyz"}'
    once, _ = redact(data)

    twice, found = redact(once)

    assert twice == once
    assert found == []
    assert once.count(MARKER) == 2


def test_line_numbers_point_at_the_secret():
    data = b'{\n  "a": 1,\n  "api_key": "abcdef123456"\n}'

    _, [found] = redact(data)

    assert found.line == 3
