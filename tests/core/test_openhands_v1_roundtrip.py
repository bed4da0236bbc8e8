"""The property the V1 writer owes the product: for any conversation a run of the SDK can leave
(parallel calls, results missing on the branch, calls abandoned by a process that died), the
repaired history, written into the folder and read back, gets exactly the verdict the repair
reported."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.history import formats
from conversations.history.check import check
from conversations.history.formats import Document
from conversations.history.repair import repair
from tests.v1_folders import random_log

TARGETS = ("anthropic", "openai", "bedrock", "gemini")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.sampled_from(TARGETS), st.booleans())
def test_repaired_written_and_read_back_a_conversation_gets_the_verdict_the_repair_reported(rng, target, legacy):
    log = random_log(rng)
    doc = log.document(leaf=log.leaf)
    if legacy:  # as SDKs before 1.31 wrote it: no parent_id, no leaf_event_id, file order
        doc = without_tree(doc)
    (history,) = formats.read(doc)
    result = repair(history, target=target, include_warnings=True, build_request=False)

    out = formats.write(result.history, doc)

    (back,) = formats.read(out)
    assert [check(back, target=target, build_request=False).to_dict()] == [v.to_dict() for v in result.after]
    assert not [f for v in result.after for f in v.findings if f.rule == "abandoned-tool-call"]


def without_tree(doc: Document) -> Document:
    files = dict(doc.files)
    for name in [n for n in files if n.startswith("events/event-")]:
        event = json.loads(files[name])
        event.pop("parent_id", None)
        files[name] = json.dumps(event).encode()
    state = json.loads(files["base_state.json"])
    state.pop("leaf_event_id", None)
    files["base_state.json"] = json.dumps(state).encode()
    return Document(name=doc.name, files=files, is_dir=True)
