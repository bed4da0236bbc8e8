"""What a reader left out is counted whole and listed up to a cap, each with a known reason."""

import pytest

from conversations.history.leftoff import MAX_ITEMS, LeftOff, left_off_meta


def test_it_counts_every_item_by_reason_and_lists_them_in_order():
    meta = left_off_meta(
        [
            LeftOff("line 3", "bookkeeping", kind="file-history-snapshot"),
            LeftOff("line 9", "abandoned branch", kind="assistant", detail="rewound at line 8"),
            LeftOff("line 12", "bookkeeping", kind="queue-operation"),
        ]
    )
    assert meta["count"] == 3
    assert meta["by_reason"] == {"bookkeeping": 2, "abandoned branch": 1}
    assert [i["where"] for i in meta["items"]] == ["line 3", "line 9", "line 12"]
    assert meta["items"][1] == {
        "where": "line 9",
        "reason": "abandoned branch",
        "kind": "assistant",
        "detail": "rewound at line 8",
    }


def test_a_long_list_is_capped_but_still_counted():
    meta = left_off_meta([LeftOff(f"line {n}", "bookkeeping") for n in range(MAX_ITEMS + 20)])
    assert meta["count"] == MAX_ITEMS + 20 and len(meta["items"]) == MAX_ITEMS


def test_an_unknown_reason_is_refused():
    with pytest.raises(ValueError, match="unknown left-off reason"):
        LeftOff("line 1", "lost")
