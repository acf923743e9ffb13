"""The person steers, over REST against the real stack: the README's second conversation and the
kinds of failure issue #11 found (each written as a user would notice it)."""

from __future__ import annotations

import uuid

import pytest

from tests.stack import buttons, custom, texts

pytestmark = pytest.mark.stack


def new_sender() -> str:
    return f"steer-{uuid.uuid4().hex[:10]}"


def slots(stack, sender: str) -> dict:
    from bot.security.pseudonym import pseudonymize_with

    key = (stack.workdir / "sender.key").read_bytes().strip()
    return stack.tracker(pseudonymize_with(key, "rest", sender))["slots"]


def test_readme_second_conversation_correction_then_callback_mid_intake(stack):
    s = new_sender()
    assert "年齢" in texts(stack.say(s, "夜分にすみません　息子のことで相談です"))
    stack.say(s, "４５歳です。もう十年ほど部屋から出てきません")
    stack.say(s, "いえ、すみません、５４歳でした")
    assert slots(stack, s)["age_min"] == 54
    reply = stack.say(s, "担当の方から電話で折り返しをお願いできますか")
    assert "要約" in texts(reply)  # the booking starts on this turn, with consent first
    assert "ご本人の年齢を教えて" not in texts(reply) and "いまの様子" not in texts(reply)
    assert "ご連絡の方法" in texts(stack.say(s, "はい（要約だけ）"))  # a typed button title
    assert slots(stack, s)["relation"] == "family"


def test_a_refusal_by_name_is_heard_and_never_asked_again(stack):
    s = new_sender()
    replies = [stack.say(s, "自分のことです。年齢は言いたくないです")]
    replies += [stack.say(s, t) for t in ("はい", "特にないです", "よくわかりません")]
    assert all("ご本人の年齢" not in texts(r) for r in replies)


def test_short_replies_are_read_against_the_question_and_never_restart(stack):
    s = new_sender()
    stack.say(s, "母です。娘のことで")
    for reply in (stack.say(s, "なしで"), stack.say(s, "結構です"), stack.say(s, "いまはいい")):
        assert "最初からはじめますね" not in texts(reply)
    assert slots(stack, s)["relation"] == "family"  # nothing was forgotten


def test_plain_openings_do_not_fall_back_and_where_to_go_gives_windows(stack):
    s = new_sender()
    assert "うまく受け取れ" not in texts(stack.say(s, "妹のことで相談したいです"))
    reply = stack.say(s, "どこに相談したらいいですか")
    assert custom(reply, "windows")


def test_not_understood_twice_gives_a_way_forward_not_the_same_apology(stack):
    s = new_sender()
    first = stack.say(s, "ｑｑｑｑｑ")
    second = stack.say(s, "🎵🎵")
    assert "うまく受け取れなかった" in texts(first)
    assert texts(second) != texts(first)
    assert custom(second, "windows") and custom(second, "hotlines")
    assert "ご連絡ありがとうございます" not in texts(second)  # the greeting came once


def test_declining_the_callback_offer_is_not_a_crisis_reply(stack):
    s = new_sender()
    stack.say(s, "息子が30歳で家から出ません。どこに相談すればいいですか")
    reply = stack.say(s, "今回は大丈夫です")
    assert not custom(reply, "crisis_lines") and "折り返しを希望する" not in buttons(reply)
