"""The revision diff: the messages that differ, each as a line diff; past 4,000 lines or 2 MB of
difference on either side, a summary in counts that costs linear time."""

from conversations.history.diff import histories_diff
from conversations.history.model import Block, History, Message


def history(texts: list[str]) -> History:
    return History(format="openai", messages=[Message(role="user", blocks=[Block(type="text", text=t)]) for t in texts])


def test_one_changed_message_in_a_long_history_is_diffed_line_by_line():
    texts = [f"line {k}\n" * 40 for k in range(3_000)]  # 120,000 lines the two sides share
    changed = [*texts[:1_500], "a new message", *texts[1_500:]]

    diff = histories_diff(history(texts), history(changed))

    assert not diff["summarised"] and diff["changed_messages"] == 1
    [hunk] = diff["hunks"]
    assert hunk["title"] == "added message 1500 (user)" and hunk["b_index"] == 1500


def test_a_difference_of_more_than_4000_lines_is_summarised_in_counts():
    old = history([f"old {k}\nshared\n" for k in range(3_000)])
    new = history([f"new {k}\nshared\n" for k in range(3_000)])

    diff = histories_diff(old, new)

    assert diff["summarised"] and diff["hunks"] == []
    assert (diff["a_messages"], diff["b_messages"], diff["changed_messages"]) == (3_000, 3_000, 3_000)
    # In each message's JSON the text is one line: the rest of the JSON is the same on both sides.
    assert (diff["added_lines"], diff["removed_lines"]) == (3_000, 3_000)


def test_a_difference_of_more_than_2_mb_on_one_side_is_summarised():
    diff = histories_diff(history(["short"]), history(["x" * (2 * 1024 * 1024 + 1)]))

    assert diff["summarised"] and (diff["added_lines"], diff["removed_lines"]) == (1, 1)


def test_a_small_difference_is_not_summarised():
    diff = histories_diff(history(["a\nb"]), history(["a\nc"]))

    assert not diff["summarised"] and diff["changed_messages"] == 1
