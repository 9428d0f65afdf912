"""Reply -> Block Kit: text sections within Slack's limits, buttons with commands as values."""

from __future__ import annotations

from bot.core.reply import Button, Reply
from bot.handlers.slack.render import blocks_for, command_of, escape, fallback_text, split_text
from tests.fakes.slack_api import check_blocks


def test_buttons_become_actions_rows_with_unique_ids_and_commands() -> None:
    reply = Reply("크레딧 5개를 지급할까요?", buttons=[
        [Button("확인", "/ops confirm tok1"), Button("취소", "/ops cancel tok1")],
        [Button("도움말", "/ops help"), Button("문서", url="https://example.org/runbook")],
    ])
    blocks = blocks_for(reply)
    check_blocks(blocks)  # what Slack would accept
    assert blocks[0] == {"type": "section", "text": {"type": "plain_text", "text": "크레딧 5개를 지급할까요?", "emoji": True}}
    rows = [b["elements"] for b in blocks if b["type"] == "actions"]
    assert [[e.get("value") for e in row] for row in rows] == [["/ops confirm tok1", "/ops cancel tok1"],
                                                                ["/ops help", None]]
    assert [e.get("style") for e in rows[0]] == ["primary", "danger"]
    assert rows[1][1]["url"] == "https://example.org/runbook"
    ids = [e["action_id"] for row in rows for e in row]
    assert len(set(ids)) == 4 and all(i.startswith(("ops_btn_", "ops_url_")) for i in ids)


def test_long_text_is_cut_at_line_ends_into_sections_slack_accepts() -> None:
    lines = [f"{i:04d} " + "가" * 90 for i in range(120)]  # ~11,400 characters
    blocks = blocks_for(Reply("\n".join(lines)))
    check_blocks(blocks)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) > 3 and all(len(s) <= 3000 for s in sections)
    assert "\n".join(sections).split("\n") == lines  # nothing lost, no line split in two


def test_one_huge_line_is_hard_cut() -> None:
    assert [len(p) for p in split_text("x" * 7000)] == [3000, 3000, 1000]


def test_button_labels_are_cut_to_slacks_limit() -> None:
    blocks = blocks_for(Reply("t", buttons=[[Button("긴" * 100, "/ops help")]]))
    check_blocks(blocks)
    assert len(blocks[1]["elements"][0]["text"]["text"]) == 75


def test_fallback_text_escapes_mrkdwn_control_characters() -> None:
    assert escape("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    assert fallback_text(Reply("<!channel> 경보")) == "&lt;!channel&gt; 경보"


def test_command_of_pressed_values() -> None:
    assert command_of("/ops confirm abc") == "confirm abc"
    assert command_of("/ops") == ""
    assert command_of("/tarot three") is None
    assert command_of("/opsx") is None
