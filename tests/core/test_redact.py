"""Secrets are replaced in the raw bytes; everything else stays byte for byte."""

import json

import pytest

from conversations.history.redact import MARKER, redact, redact_text
from tests.support import FIXTURES, V1_FIXTURE


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


# --- secrets inside JSON-encoded strings ----------------------------------------------------------


def openai_tool_call(arguments: dict) -> bytes:
    """An OpenAI assistant message whose tool call's arguments are, as always, a JSON string."""
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "http", "arguments": json.dumps(arguments)}}
        ],
    }
    return json.dumps({"model": "gpt-4o", "messages": [message]}, indent=2).encode()


def test_secrets_in_a_tool_calls_arguments_are_replaced_and_every_other_byte_kept():
    data = openai_tool_call(
        {
            "url": "https://api.example.com/v1/items",
            "api_key": "k-1234567890abcdef",
            "password": "hunter2-hunter2",
            "headers": {"Authorization": "Token 0123456789abcdef", "Accept": "application/json"},
        }
    )

    out, found = redact(data)

    # The raw bytes of each secret (escaped as the encoded string holds them) and nothing else.
    expected = data
    for secret in (b"k-1234567890abcdef", b"hunter2-hunter2", b"Token 0123456789abcdef"):
        assert data.count(secret) == 1
        expected = expected.replace(secret, MARKER)
    assert out == expected
    arguments = json.loads(json.loads(out)["messages"][0]["tool_calls"][0]["function"]["arguments"])
    assert arguments["api_key"] == arguments["password"] == arguments["headers"]["Authorization"] == "[REDACTED]"
    assert arguments["headers"]["Accept"] == "application/json"
    assert sorted(r.key for r in found) == ["Authorization", "api_key", "password"]


def test_a_secret_two_encodings_deep_is_replaced_with_its_escapes_kept_around_it():
    inner = json.dumps({"password": 'p@ss "quoted" \\ word', "user": "ana"})
    data = json.dumps({"arguments": json.dumps({"body": inner, "note": "caf\u00e9"})}).encode()

    out, found = redact(data)

    body = json.loads(json.loads(json.loads(out)["arguments"])["body"])
    assert body == {"password": "[REDACTED]", "user": "ana"}
    assert [r.key for r in found] == ["password"]
    # Everything before and after the secret's bytes is the input's.
    start = data.index(b"p@ss")
    assert out.startswith(data[:start] + MARKER)
    assert out.endswith(data[data.index(b" word") + 5 :])


def test_unicode_escapes_before_a_nested_secret_keep_the_replacement_in_place():
    data = json.dumps({"arguments": json.dumps({"note": "\u00e9\u4e2d\U0001f600", "api_key": "abcdef123456"})}).encode()

    out, _ = redact(data)

    assert json.loads(json.loads(out)["arguments"]) == {"note": "\u00e9\u4e2d\U0001f600", "api_key": "[REDACTED]"}


# --- keys, header lists, URLs, V1 state -----------------------------------------------------------


def test_bare_token_and_secret_keys_are_credentials():
    data = b'{"token": "abc123xyz", "secret": "s3cr3t-value", "client_secret": "cs-1", "token_type": "bearer"}'

    out, found = redact(data)

    assert json.loads(out) == {
        "token": "[REDACTED]",
        "secret": "[REDACTED]",
        "client_secret": "[REDACTED]",
        "token_type": "bearer",
    }
    assert len(found) == 3


def test_header_lists_of_pairs_and_of_name_value_objects_are_redacted():
    data = json.dumps(
        {
            "headers": [["Authorization", "Basic dXNlcjpwYXNz"], ["Accept", "*/*"]],
            "extra_headers": [{"name": "x-api-key", "value": "k-abcdef"}, {"name": "Accept", "value": "text/plain"}],
        }
    ).encode()

    out, _ = redact(data)

    assert json.loads(out) == {
        "headers": [["Authorization", "[REDACTED]"], ["Accept", "*/*"]],
        "extra_headers": [{"name": "x-api-key", "value": "[REDACTED]"}, {"name": "Accept", "value": "text/plain"}],
    }


def test_the_password_of_a_urls_userinfo_is_redacted_and_the_rest_of_the_url_kept():
    data = json.dumps(
        {
            "api_base": "https://proxy-user:pr0xy-pass@llm.example.com/v1",
            "note": "connect to postgres://app:db-Pa55@db.internal:5432/shop then",
            "plain": "https://example.com/docs?q=1 and ssh://git@github.com/x",
        }
    ).encode()

    out, found = redact(data)

    assert json.loads(out) == {
        "api_base": "https://proxy-user:[REDACTED]@llm.example.com/v1",
        "note": "connect to postgres://app:[REDACTED]@db.internal:5432/shop then",
        "plain": "https://example.com/docs?q=1 and ssh://git@github.com/x",
    }
    assert [r.kind for r in found] == ["url-password", "url-password"]


def test_an_openhands_v1_base_state_loses_its_llm_key_its_secret_registry_and_its_mcp_env():
    state = json.loads((V1_FIXTURE / "base_state.json").read_bytes())
    state["agent"]["llm"]["api_key"] = "sk-ant-api03-0123456789abcdefghijklmnop"
    state["agent"]["mcp_config"] = {
        "mcpServers": {"github": {"command": "npx", "args": ["gh-mcp"], "env": {"GH_PAT": "gh-pat-value-1"}}}
    }
    state["secret_registry"] = {
        "secret_sources": {
            "DEPLOY": {"kind": "StaticSecret", "value": "deploy-value-2"},
            "VAULT": {"kind": "LookupSecret", "url": "https://vault/x", "headers": {"X-Vault-Token": "hvs.value3"}},
        }
    }
    data = json.dumps(state, indent=2).encode()

    out, _ = redact(data, "base_state.json")

    for secret in (b"sk-ant-api03", b"gh-pat-value-1", b"deploy-value-2", b"hvs.value3"):
        assert secret not in out
    back = json.loads(out)
    assert back["agent"]["mcp_config"]["mcpServers"]["github"]["command"] == "npx"
    assert back["secret_registry"]["secret_sources"]["DEPLOY"]["kind"] == "StaticSecret"
    assert back["agent"]["llm"]["model"] == state["agent"]["llm"]["model"]


# --- free text ----------------------------------------------------------------------------------------

ENV_DUMP = (
    "SHELL=/bin/bash\n"
    "PWD=/home/ana/src/shop-api\n"
    "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
    "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    "DATABASE_URL=postgres://shop:Sh0p-db-pw@db.internal:5432/shop\n"
    "GITHUB_TOKEN=gho_notashape_butnamed\n"
    "STRIPE_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc\n"
    "HF_HOME=/home/ana/.cache/huggingface\n"
    "HUGGING_FACE_HUB_TOKEN=hf_abcdefghijklmnopqrstuvwxyz0123456789\n"
    "MAX_TOKENS=4096\n"
)
ENV_SECRETS = (
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "Sh0p-db-pw",
    "gho_notashape_butnamed",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "hf_abcdefghijklmnopqrstuvwxyz0123456789",
)


def test_a_claude_code_bash_result_of_env_loses_its_secrets_and_keeps_the_rest():
    record = {
        "type": "user",
        "message": {
            "role": "user",
            "content": [{"tool_use_id": "toolu_01", "type": "tool_result", "content": ENV_DUMP, "is_error": False}],
        },
        "toolUseResult": {"stdout": ENV_DUMP, "stderr": "", "interrupted": False},
    }
    data = json.dumps(record, separators=(",", ":")).encode() + b"\n"

    out, found = redact(data, "session.jsonl")

    text = json.loads(out)["message"]["content"][0]["content"]
    for secret in ENV_SECRETS:
        assert secret not in text and secret.encode() not in out
    for kept in ("SHELL=/bin/bash", "PWD=/home/ana/src/shop-api", "HF_HOME=/home/ana", "MAX_TOKENS=4096"):
        assert kept in text
    assert "AWS_SECRET_ACCESS_KEY=[REDACTED]" in text
    assert "DATABASE_URL=postgres://shop:[REDACTED]@db.internal:5432/shop" in text
    assert len(found) == 2 * len(ENV_SECRETS)


@pytest.mark.parametrize(
    "text, secret",
    [
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----",
            "b3Blbn",
        ),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7x\n-----END RSA PRIVATE KEY-----", "MIIEpAIB"),
        ("curl -s -u admin:adm1n-pw https://ci.example.com/api", "adm1n-pw"),
        ("curl https://ci.example.com/api --user admin:adm1n-pw -X POST", "adm1n-pw"),
        ("authorization: bearer abcdefghijklmnop0123", "abcdefghijklmnop0123"),
        ("Authorization: Basic YWRtaW46YWRtMW4tcHc=", "YWRtaW46YWRtMW4tcHc="),
        ("stripe test key sk_test_4eC39HqLyjWDarjtT1zdp7dc here", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
        ("export OPENAI_API_KEY='not-a-known-shape-123'", "not-a-known-shape-123"),
    ],
)
def test_free_text_shapes_are_redacted_in_a_message(text, secret):
    data = json.dumps({"messages": [{"role": "user", "content": text}]}).encode()

    out, found = redact(data)

    assert secret.encode() not in out
    assert found
    assert json.loads(out)["messages"][0]["content"].count("[REDACTED]") == 1


def test_a_certificate_is_not_a_private_key():
    text = "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----"
    data = json.dumps({"content": text}).encode()

    assert redact(data) == (data, [])


ORDINARY = [
    "The bearer of this letter is my friend; ask-building-interactive-tools-for-the-agent-sdk",
    "Set max_tokens=4096 and token_count = len(tokens); the secret is to sleep well.",
    "def login(user, password):\n    return check(user, password)  # password is hashed",
    'const token = await getToken(); headers["Authorization"] = `Bearer ${token}`;',
    "See https://docs.python.org/3/library/re.html and git@github.com:org/repo.git",
    "risk-assessment-for-the-new-deployment-pipeline went fine; task-1 done",
    "KEY_BINDINGS=vim and PRIMARY=1; a URL http://localhost:8000/?next=/admin/",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_sentences_and_code_are_left_alone(text):
    data = json.dumps({"messages": [{"role": "user", "content": text}]}).encode()

    assert redact(data) == (data, [])


@pytest.mark.parametrize("path", sorted(p for p in (FIXTURES / "real").rglob("*") if p.is_file()), ids=lambda p: p.name)
def test_the_real_logs_hold_no_secret_and_are_kept_byte_for_byte(path):
    data = path.read_bytes()

    assert redact(data, path.name) == (data, [])


def test_a_litellm_payload_loses_its_proxy_password_and_its_tool_call_key():
    record = json.loads((FIXTURES / "formats" / "litellm-standard-logging-failure.json").read_bytes())
    record["api_base"] = "https://litellm:pr0xy-Pa55@proxy.internal/v1"
    record["messages"].append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "deploy", "arguments": json.dumps({"env": "prod", "api_key": "dep-key-99"})},
                }
            ],
        }
    )
    data = json.dumps(record, indent=1).encode()

    out, found = redact(data)

    assert b"pr0xy-Pa55" not in out and b"dep-key-99" not in out
    assert out == data.replace(b"pr0xy-Pa55", MARKER).replace(b"dep-key-99", MARKER)
    assert sorted(r.kind for r in found) == ["keyed", "url-password"]


def test_redact_text_redacts_an_error_message():
    assert redact_text("401 from https://u:p4ss@h/v1: invalid key sk-proj-abcdefghij0123456789xyz") == (
        "401 from https://u:[REDACTED]@h/v1: invalid key [REDACTED]"
    )
