"""Repairs of cache markers: none where a deployment has no prompt caching, at most the allowed
number, none on a synthetic error result, longer TTLs first."""

import json

from conversations.history import formats
from conversations.history.formats import Document, load_path
from conversations.history.model import History
from conversations.history.repair import repair
from tests.support import FIXTURES

CACHE_ON_TOOL = FIXTURES / "seed" / "openhands-6852-cache-on-tool-message.json"
PROXY_CONFIG = FIXTURES / "seed" / "proxy-config.yaml"
GROUP = "claude-3-5-sonnet-20241022"
MARK = {"type": "ephemeral"}


def read(obj) -> History:
    (history,) = formats.read(Document.from_bytes("request.json", json.dumps(obj).encode()), "openai")
    return history


def marked(history: History) -> list[str]:
    return [where for where, _ in history.cache_markers()]


def findings(verdicts, severity) -> list[str]:
    return [f.rule for v in verdicts for f in v.findings if f.severity == severity]


def test_the_seed_marker_on_the_synthetic_error_result_moves_onto_the_tool_call_before_it():
    doc = load_path(CACHE_ON_TOOL)
    (history,) = formats.read(doc, "openai")
    result = repair(history, target="anthropic", include_warnings=True)

    assert "cache-on-synthetic-error" in findings(result.before, "warning")
    assert findings(result.after, "warning") == []
    assert len(marked(result.history)) == len(marked(history)) == 4  # moved, not lost
    assert result.history.messages[6].cache_control is None
    assert result.history.messages[5].blocks[-1].cache_control is not None  # the tool call it answers
    assert [e.op for e in result.edits] == ["move-cache-marker"]
    assert result.edits[0].message_index == 6

    written = json.loads(formats.write(result.history, doc).single[1])
    original = json.loads(CACHE_ON_TOOL.read_bytes())
    assert "cache_control" not in written["messages"][7]
    assert written["messages"][6]["tool_calls"][0]["cache_control"] == MARK
    untouched = [i for i in range(len(original["messages"])) if i not in (6, 7)]
    assert [written["messages"][i] for i in untouched] == [original["messages"][i] for i in untouched]


def test_a_warning_alone_is_left_as_it_is_unless_warnings_are_included():
    (history,) = formats.read(load_path(CACHE_ON_TOOL), "openai")
    result = repair(history, target="anthropic")
    assert result.edits == [] and result.accepted
    assert marked(result.history) == marked(history)


def test_a_route_whose_deployment_has_no_prompt_caching_loses_every_marker():
    config = {
        "model_list": [
            {
                "model_name": GROUP,
                "litellm_params": {"model": "bedrock/invoke/anthropic.claude-3-5-sonnet-20241022-v2:0"},
                "model_info": {"supports_prompt_caching": False},
            },
            {"model_name": "fallback", "litellm_params": {"model": "anthropic/claude-3-5-sonnet-20241022"}},
        ],
        "router_settings": {"fallbacks": [{GROUP: ["fallback"]}]},
    }
    (history,) = formats.read(load_path(CACHE_ON_TOOL), "openai")
    result = repair(history, route=(config, GROUP))

    assert "bedrock-no-explicit-caching" in findings(result.before, "error")
    assert result.accepted and len(result.after) == 2
    assert marked(result.history) == []
    removed = [e for e in result.edits if e.op == "remove-cache-marker"]
    assert len(removed) == 4 and all("no explicit prompt caching" in e.description for e in removed)


def test_the_seed_route_loses_the_markers_its_bedrock_deployment_cannot_take():
    # Whether the Bedrock deployment refuses them or litellm drops them on the way, the fix is the
    # same: no markers on this route.
    (history,) = formats.read(load_path(CACHE_ON_TOOL), "openai")
    result = repair(history, route=(PROXY_CONFIG, GROUP), include_warnings=True)
    assert "remove-cache-markers" in [f.fix for f in result.before[0].findings]
    assert result.accepted and marked(result.history) == []
    assert [v.provider for v in result.after] == ["bedrock", "anthropic"]


def test_more_than_four_markers_keep_the_last_four():
    history = read(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 512,
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "You help.", "cache_control": MARK}]},
                {"role": "user", "content": [{"type": "text", "text": "a", "cache_control": MARK}]},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": [{"type": "text", "text": "c", "cache_control": MARK}]},
                {"role": "assistant", "content": "d"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "e", "cache_control": MARK},
                        {"type": "text", "text": "f", "cache_control": MARK},
                    ],
                },
            ],
        }
    )
    result = repair(history, target="anthropic")
    assert "cache-control-too-many" in findings(result.before, "error")
    assert result.accepted
    assert marked(result.history) == [
        "messages[0].blocks[0]",
        "messages[2].blocks[0]",
        "messages[4].blocks[0]",
        "messages[4].blocks[1]",
    ]
    assert [e.description for e in result.edits] == [
        "removed the cache marker on block 0 of the system prompt (more than 4 in the request; the last ones stay)"
    ]


def test_a_one_hour_marker_after_a_five_minute_one_gets_five_minutes():
    history = read(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 512,
            "messages": [
                {
                    "role": "system",
                    "content": [
                        {"type": "text", "text": "You help.", "cache_control": {"type": "ephemeral", "ttl": "5m"}}
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
                },
            ],
        }
    )
    result = repair(history, target="anthropic")
    assert "cache-ttl-order" in findings(result.before, "error")
    assert result.accepted
    assert result.history.messages[0].blocks[0].cache_control.ttl == "5m"
    assert history.messages[0].blocks[0].cache_control.ttl == "1h"  # the input is untouched
