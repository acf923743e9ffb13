"""Short replies are read against the question just asked; typed titles count as buttons."""

from __future__ import annotations

import pytest

from bot.language.replies import (
    DialogueContext,
    Option,
    declined_topics,
    declines_phone,
    ends_without_saying_so,
    match_option,
    parse_payload,
    read_reply,
    steering_intent,
)

AGE_Q = DialogueContext(requested_slot="age_status", active_loop="intake_form")
OFFER = DialogueContext(requested_slot="recommendation_done", active_loop="intake_form")
NICKNAME = DialogueContext(requested_slot="nickname", active_loop="callback_form")
CONSENT = DialogueContext(
    requested_slot="consent",
    active_loop="callback_form",
    options=(
        Option("はい（要約だけ）", "/affirm"),
        Option("はい（会話も見てよい）", '/affirm{"share":"yes"}'),
        Option("いいえ", "/deny"),
    ),
)


@pytest.mark.parametrize(
    "text,ctx,intent",
    [
        # decline words at a question are a skip, at an offer a no — never a restart
        ("なし", AGE_Q, "skip"),
        ("なしで", NICKNAME, "skip"),
        ("特にないです", AGE_Q, "skip"),
        ("ないです", NICKNAME, "skip"),
        ("大丈夫です", AGE_Q, "skip"),
        ("いまはいい", OFFER, "deny"),
        ("今回は大丈夫です", OFFER, "deny"),
        ("結構です。", OFFER, "deny"),
        ("けっこうです", NICKNAME, "skip"),
        ("もうええです", OFFER, "deny"),
        ("言いたくないです", AGE_Q, "skip"),
        ("わからん", AGE_Q, "dont_know"),
        ("はい", OFFER, "affirm"),
        ("いいえ", OFFER, "deny"),
        # explicit restart words only
        ("最初からやり直したい", AGE_Q, "start_over"),
        ("やり直し", NICKNAME, "start_over"),
        # steering phrases anywhere in a message
        ("担当の方から電話で折り返しをお願いできますか", AGE_Q, "request_callback"),
        ("兄が45歳で、ひきこもっています。折り返しをお願いしたいです", DialogueContext(), "request_callback"),
        ("電話してもらえますか", DialogueContext(), "request_callback"),
        ("職員さんと直接話せますか", AGE_Q, "request_human"),
        ("相談員さんに代わってもらえますか", DialogueContext(), "request_human"),
        ("人と話したいです", AGE_Q, "request_human"),
        ("どこに相談したらいいですか", AGE_Q, "ask_where_to_go"),
        ("行けるところはありますか", DialogueContext(), "ask_where_to_go"),
        # closed classes that need no question to be read: yes, no, not knowing, greetings, leaving
        ("もちろんです", DialogueContext(), "affirm"),
        ("かまわんよ", OFFER, "affirm"),
        ("了解しました。", DialogueContext(), "affirm"),
        ("そうではないです", DialogueContext(), "deny"),
        ("ダメです", OFFER, "deny"),
        ("ノー", OFFER, "deny"),
        ("よう覚えとらん", AGE_Q, None),  # dialect the closed class does not list: DIET decides
        ("もう覚えてないです", AGE_Q, "dont_know"),
        ("記憶があいまいです", AGE_Q, "dont_know"),
        ("何とも言えません", DialogueContext(), "dont_know"),
        ("それは今は言えません", AGE_Q, "skip"),
        ("こんばんは。夜分遅くにすみません", DialogueContext(), "greet"),
        ("はじめまして よろしくお願いします", DialogueContext(), "greet"),
        ("今日はこのへんで", AGE_Q, "stop"),
        ("キャンセルします", NICKNAME, "stop"),
        ("thank you", DialogueContext(), "thanks"),
        ("今日は本当にありがとうございました", OFFER, "thanks"),
        ("おおきに", DialogueContext(), "thanks"),
        ("いいえ、そういうわけではありません", DialogueContext(), "deny"),
        ("いらんよ", OFFER, "deny"),
    ],
)
def test_readings(text, ctx, intent):
    reading = read_reply(text, ctx)
    assert (reading.intent if reading else None) == intent


@pytest.mark.parametrize(
    "text,ctx",
    [
        ("なし", DialogueContext()),  # no question open: DIET decides
        ("大丈夫です", DialogueContext(crisis_active=True, requested_slot="age_status")),  # a reassurance
        ("電話でお願いします", DialogueContext(active_loop="callback_form", requested_slot="contact_method")),
        ("/affirm", OFFER),  # a real button payload is Rasa's
        ("息子が家から出てきません", AGE_Q),
        ("失礼します", DialogueContext()),  # a greeting or a goodbye: DIET decides
        ("どうも", DialogueContext()),  # hello or thanks
        ("こんにちは、息子のことで相談です", DialogueContext()),  # a greeting with information in it
        ("いいです", OFFER),  # yes or no: only the context of DIET's reading can tell
        # the situation, not a request for a person or for windows
        ("人と話すのが怖くて、買い物にも行けません", DialogueContext()),
        ("本人は人と話したくないと言っています", AGE_Q),
        ("人に相談できずに一人で抱えてきました", DialogueContext()),
        ("夜中に出て行って、どこに行ったのかわかりません", DialogueContext()),
    ],
)
def test_left_to_diet(text, ctx):
    assert read_reply(text, ctx) is None


def test_typed_button_titles_count_as_the_button():
    assert read_reply("はい（会話も見てよい）", CONSENT).entities == (("share", "yes"),)
    assert read_reply("はい 会話も見てよい", CONSENT).intent == "affirm"
    assert read_reply("会話も見てよい", CONSENT).entities == (("share", "yes"),)
    assert read_reply("いいえ", CONSENT).intent == "deny"
    # 「はい」 alone fits both はい-buttons: not a typed option, but still an affirm
    assert read_reply("はい", CONSENT).intent == "affirm"


def test_match_option_normalises_width_space_and_punctuation():
    options = (Option("いまはいい", "/deny"), Option("折り返しを希望する", "/request_callback"))
    assert match_option("いまは いい。", options).payload == "/deny"
    assert match_option("折り返しを希望する！", options).payload == "/request_callback"
    assert match_option("希望", options) is None


def test_parse_payload():
    r = parse_payload('/inform{"relation": "self", "need": ["work", "ibasho"]}')
    assert r.intent == "inform"
    assert r.entities == (("relation", "self"), ("need", "work"), ("need", "ibasho"))
    assert parse_payload("hello") is None
    assert parse_payload('/inform{"broken"') is None


@pytest.mark.parametrize(
    "text,topics",
    [
        ("自分のことです。年齢は言いたくないです", ("age",)),
        ("歳はちょっと言いたくないです", ("age",)),
        ("年は秘密で", ("age",)),
        ("関係は言いたくない", ("relation",)),
        ("息子は45歳です", ()),
    ],
)
def test_declined_topics(text, topics):
    assert declined_topics(text) == topics


@pytest.mark.parametrize(
    "text,gibberish",
    [
        ("ぽぽぽぽぽ", True),
        ("ｋｓｋｓｋｓ", True),
        ("ふにゃふにゃ", True),
        ("🐈🐈", True),
        ("zxcvbnm qwerty", True),
        ("Nice weather today, isn't it", True),
        ("はいはい", False),
        ("うんうん", False),
        ("どうもどうも", False),
        ("OK", False),
        ("👍", False),
        ("息子が家にいます", False),
        ("45", False),
    ],
)
def test_gibberish_is_not_understood_rather_than_guessed(text, gibberish):
    from bot.language.replies import is_gibberish

    assert is_gibberish(text) is gibberish
    if gibberish:
        assert read_reply(text, AGE_Q).intent == "nlu_fallback"


def test_no_training_example_is_one_diet_never_sees():
    """The reader answers not-language before DIET, so such a training line only teaches DIET
    noise (Latin key-mash once pulled 「ok」-like affirm guesses); it belongs in the rule's table."""
    import re
    from pathlib import Path

    import yaml

    from bot.language.replies import is_gibberish

    unreachable = []
    for path in sorted((Path(__file__).resolve().parents[3] / "data" / "nlu").glob("*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" not in item:
                continue  # lookups and regexes are word classes, not messages
            for line in str(item.get("examples", "")).splitlines():
                if line.strip().startswith("- "):
                    text = re.sub(r"\[([^\]]*)\]\{[^}]*\}", r"\1", line.strip()[2:])
                    if is_gibberish(text):
                        unreachable.append((item.get("intent"), text))
    assert not unreachable, unreachable


# --- issue 18: yes/no at every step, in every style; requests phrased as wishes --------------
CONSENT_Q = DialogueContext(requested_slot="consent")


@pytest.mark.parametrize(
    "text",
    [
        "いいえ",
        "やっぱりやめておきます",
        "今回はいいです",
        "けっこうです",
        "いいえ、けっこうです",
        "やっぱりいいです",
        "いや、いいです",
        "うーん、やめときます",
        "また今度にします",
        "また今度で",
        "せっかくですが、今回は結構です",
        "ありがとうございます、でも今回はいいです",
        "見送ります",
    ],
)
def test_a_polite_no_at_an_offer_is_a_no(text):
    assert read_reply(text, CONSENT_Q).intent == "deny"


@pytest.mark.parametrize(
    "text",
    [
        "ええよ",
        "かまわんよ",
        "ええですよ",
        "それでお願いします",
        "お願いしようかな",
        "ほいじゃあお願いします",
        "そうしてもらえると助かります",
        "はい、お願いします",
    ],
)
def test_a_yes_at_an_offer_is_a_yes(text):
    assert read_reply(text, CONSENT_Q).intent == "affirm"


@pytest.mark.parametrize(
    "text,intent",
    [
        ("できれば声で直接お話しできる方が気持ちが楽なのですが", "request_human"),
        ("本人の話を誰かに聞いてやってほしくて", "request_human"),
        ("親だけでも話を聞いてもらえるのでしょうか", "request_human"),
        ("兄弟からでも相談に乗ってもらえるものなんでしょうか", "request_human"),
        ("そこの人に話を聞いてもらえんかのう", "request_human"),
        ("だれかと話したいです", "request_human"),
        ("家庭訪問していただける体制はありますか", "request_human"),
        ("担当の方からお電話をいただくことは可能でしょうか", "request_callback"),
        ("電話で相談したいです", "request_callback"),
        ("一度電話でお話しさせていただけるとありがたいです", "request_callback"),
        ("電話してもらえんかのう", "request_callback"),
        ("保健所に行けばいいんですかね", "ask_where_to_go"),
        ("昼間に通える場所があれば", "ask_where_to_go"),
        ("家族の集まりって、三原にもありますか", "ask_where_to_go"),
        ("親がいなくなったあとの手立てがあるのか知りたいです", "ask_where_to_go"),
    ],
)
def test_requests_said_as_wishes_or_questions_are_heard(text, intent):
    assert steering_intent(text) == intent


@pytest.mark.parametrize(
    "text",
    [
        "誰にも話を聞いてもらえない",
        "相談に乗ってもらえなかった",
        "話を聞いてもらえませんでした",
        "人と話すのが怖い",
        "電話は苦手です",
        "役所に行けば何とかなると思っていた",
    ],
)
def test_what_happened_is_not_a_request(text):
    assert steering_intent(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "電話は苦手なのでこのままで",
        "でんわは にがてなので ここで もじで やりとり できたら",
        "お電話は結構です、文字でお願いします",
    ],
)
def test_a_preference_against_the_phone_is_information_not_a_request(text):
    assert steering_intent(text) is None
    assert read_reply(text, DialogueContext()).intent == "inform"


def test_a_place_to_be_listened_to_is_a_where_question():
    assert steering_intent("母親の私だけでも話を聞いてもらえるところがあれば知りたいです") == "ask_where_to_go"


# Issue 18 (second step): a reply framed by thanks or an acknowledgement is still that reply.
@pytest.mark.parametrize(
    "text,context,intent",
    [
        ("ありがとうございます。お願いします", OFFER, "affirm"),
        ("今日はこのへんで。ありがとうございました", DialogueContext(), "stop"),
        ("わかりました。家族と相談してみます", DialogueContext(), "stop"),
        ("わかりました。少し考えてみます", OFFER, "deny"),
    ],
)
def test_a_reply_among_thanks_is_read(text, context, intent):
    reading = read_reply(text, context)
    assert reading is not None and reading.intent == intent


@pytest.mark.parametrize(
    "text,intent",
    [
        ("中学生でも相談していいんですか", "ask_where_to_go"),
        ("本人じゃないんですけど、友達の私が相談してもいいんですか", "ask_where_to_go"),
        ("一度、家に様子を見に来ていただくことはできますか", "request_human"),
    ],
)
def test_wishes_said_in_passing_steer(text, intent):
    reading = read_reply(text, DialogueContext())
    assert reading is not None and reading.intent == intent


@pytest.mark.parametrize("text", ["電話に出られない日が多いです", "夜は部屋から出てきます"])
def test_times_of_the_persons_days_are_not_a_booking(text):
    reading = read_reply(text, DialogueContext())
    assert reading is None or reading.intent != "request_callback"


@pytest.mark.parametrize(
    "text,intent",
    [
        ("いちど お話しさせて いただけたらと 思います", "request_human"),
        ("役所に行く前に、電話で少し相談してみたいです", "request_callback"),
        ("親の会のようなところはありますか", "ask_where_to_go"),
        ("もうちょっと考えてから、また連絡します", "stop"),
    ],
)
def test_more_wishes_in_their_own_words(text, intent):
    reading = read_reply(text, DialogueContext())
    assert reading is not None and reading.intent == intent


def test_a_call_time_inside_the_booking_is_the_forms_answer():
    booking = DialogueContext(requested_slot="preferred_slot", active_loop="callback_form")
    reading = read_reply("平日の昼間なら大丈夫です", booking)
    assert reading is None or reading.intent != "request_callback"


def test_when_the_next_ibasho_is_stays_the_schedule():
    reading = read_reply("居場所は次いつありますか", DialogueContext())
    assert reading is not None and reading.intent == "ibasho_schedule"


# Issue 18, batch 4's kinds, in phrasings of our own.
@pytest.mark.parametrize(
    "text,intent",
    [
        ("だれかに でんわで ちょくせつ 聞いてもらえたら うれしいです", "request_human"),
        ("専門の方と明日にでもお話しできませんか", "request_human"),
        ("電話で話を聞いてもらうことって可能ですか", "request_human"),
        ("娘のことで電話したいんですが、ここでいいですか", "request_callback"),
        ("県外に住んどっても、そちらで何かしてもらえるんかのう", "ask_where_to_go"),
        ("こういう時はどこにつなげばいいでしょう", "ask_where_to_go"),
        ("気持ちが落ち着いたら、また連絡させていただきます", "stop"),
        ("了解です きょうは ここまで", "stop"),
        ("それでは、この辺で失礼いたします。ありがとうございました", "stop"),
        ("はい、お願いします。夕方は仕事で出られません", "affirm"),
    ],
)
def test_batch_four_kinds(text, intent):
    reading = read_reply(text, DialogueContext())
    assert reading is not None and reading.intent == intent


def test_a_yes_to_the_offer_of_a_person_books_the_callback():
    offer = DialogueContext(
        options=(Option("折り返しを希望する", "/request_callback"), Option("24時間の電話窓口", "/show_hotlines"))
    )
    for text in (
        "はい",
        "はい、お願いします。昼間は家におります",
        "お願いします。この番号にかけていただければ出られます",
    ):
        reading = read_reply(text, offer)
        assert reading is not None and reading.intent == "request_callback", text


@pytest.mark.parametrize(
    "text", ["土日か夜8時以降だとありがたいです", "昼休みなら電話に出られます", "午前中なら大丈夫です"]
)
def test_a_call_time_answers_the_offer_of_a_callback(text):
    offer = DialogueContext(options=(Option("折り返しを希望する", "/request_callback"),))
    reading = read_reply(text, offer)
    assert reading is not None and reading.intent == "request_callback"
    # With nothing offered it is left to DIET (an answer to the booking's time question, say).
    plain = read_reply(text, DialogueContext())
    assert plain is None or plain.intent != "request_callback"


@pytest.mark.parametrize(
    "text", ["火曜日の午後でお願いします", "また続きをお願いします", "年内の居場所はあと何回ありますか"]
)
def test_labelled_examples_keep_their_reading(text):
    reading = read_reply(text, DialogueContext())
    assert reading is None or reading.intent not in ("stop", "ask_where_to_go")


# Issue 18, batch 5's kinds, in phrasings of our own: later contact in every register, passing it
# on, indirect where-to-go questions, a wish to be heard by phone, home visits.
@pytest.mark.parametrize(
    "text,intent",
    [
        ("わかりました。妻とも話して、また連絡するかもしれません", "stop"),
        ("ほいじゃあ またくるけぇ", "stop"),
        ("承りました。部内で検討のうえ、あらためてご連絡差し上げます", "stop"),
        ("ありがとう。姉に伝えてみます。今日はこれで", "stop"),
        ("夜も眠れんようなんですが、心療内科に連れて行った方がええんじゃろうか", "ask_where_to_go"),
        ("保健所に相談したほうがいいのか、それとも別の所なのか", "ask_where_to_go"),
        ("同じ立場の親が集まる会があるなら、行ってみたいです", "ask_where_to_go"),
        ("親の会があるって聞いたんですが、こちらで分かりますか", "ask_where_to_go"),
        ("弟本人がそちらに直接連絡することもできるんでしょうか", "ask_where_to_go"),
        ("出歩くのがしんどいけぇ、電話で話せるんならありがたいです", "request_callback"),
        ("誰か人と電話で話せますか", "request_human"),
        ("自宅まで来ていただくことはできますか", "request_human"),
        ("ほんなら そろそろ寝ます", "stop"),
        ("おやすみなさい", "stop"),
        ("また相談します、ありがとうございます", "stop"),
        ("ほかに話を聞いてもらえる窓口はないんですか", "ask_where_to_go"),
        ("どっか専門の所に紹介してもらえんかね", "ask_where_to_go"),
        ("だれか職員さんに家まで来てもらうことは可能ですか", "request_human"),
        ("ほんなら またね", "stop"),
        ("それでは失礼いたします", "stop"),
    ],
)
def test_batch_five_kinds(text, intent):
    reading = read_reply(text, DialogueContext())
    assert reading is not None and reading.intent == intent


def test_a_put_off_with_thanks_at_an_offer_is_a_goodbye_and_without_thanks_a_no():
    offer = DialogueContext(requested_slot="consent")
    goodbye = read_reply("家族にも聞いてみます。ありがとうございました", offer)
    assert goodbye is not None and goodbye.intent == "stop"
    no = read_reply("家族にも聞いてみます", offer)
    assert no is not None and no.intent == "deny"


def test_a_bare_shitsurei_shimasu_opens_as_often_as_it_closes_and_is_left_to_diet():
    assert read_reply("失礼します", DialogueContext()) is None


@pytest.mark.parametrize("text", ["わかりました。主人とも話してみます、ありがとうございました", "ほな また今度で"])
def test_leaving_at_an_intake_question_is_a_goodbye_not_a_skip(text):
    reading = read_reply(text, DialogueContext(requested_slot="needs_status"))
    assert reading is not None and reading.intent == "stop"


def test_a_put_off_without_thanks_at_an_intake_question_is_still_a_skip():
    reading = read_reply("ちょっと考えてみます", DialogueContext(requested_slot="needs_status"))
    assert reading is not None and reading.intent == "skip"


# --- issue 18, fourth step: kinds from real-tier batch 6 -------------------------------------------
OFFERED_CALLBACK = DialogueContext(options=(Option("折り返しを希望する", "/request_callback"),))


@pytest.mark.parametrize(
    "text",
    [
        "そうですか。ほんなら 一回 嫁にも 話してみるわ。ありがとね",
        "よう分かりました　今日のところは　これで失礼します　ありがとう",
        "ありがとう。また こんど でんわ します",
        "長々とすみません。書いたらちょっとすっきりしたので、今日はここまでにしときます",
        "じゃあケアマネさんに聞いてみます。ありがとうございました",
        "いえ、やっぱりいったんやめときます。まだ気持ちが追いつかんので",
        "べつに相談したいとかはない。今日はいいや、またくる",
        "父と話してからにします。また改めて",
    ],
)
def test_a_message_of_closing_moves_ends_the_conversation(text):
    """Thanks, an acknowledgement, leaving words or the writer's own next step, in any order and
    any spacing, with nothing asked: the bot says goodbye instead of asking the next question."""
    assert read_reply(text, DialogueContext()).intent == "stop"


@pytest.mark.parametrize(
    "text",
    [
        "ありがとうございます。息子は昼まで寝ています",  # thanks, then information
        "ありがとう。次はどうしたらいいですか",  # a question
        "わかりました、家族と話し合うてみます",  # a put-off with an offer open is read at the offer
    ],
)
def test_thanks_around_information_or_a_question_is_no_goodbye(text):
    reading = read_reply(text, DialogueContext(requested_slot="recommendation_done"))
    assert reading is None or reading.intent != "stop"


def test_a_put_off_at_an_offer_stays_a_no_not_a_goodbye():
    assert read_reply("また今度で", CONSENT_Q).intent == "deny"
    assert read_reply("今回はいいです", CONSENT_Q).intent == "deny"


@pytest.mark.parametrize(
    "text",
    [
        "はい 私の携帯でよろしければ 夕方はたいてい家におります",
        "ありがとうございます それではお願いします 平日の午前なら出られます",
        "ええよ、夜ならおるけぇ",
    ],
)
def test_a_yes_then_details_to_a_callback_offer_starts_the_booking(text):
    assert read_reply(text, OFFERED_CALLBACK).intent == "request_callback"


@pytest.mark.parametrize("text", ["はい、今から自分でかけます", "はい、でも電話は苦手です", "うん、大丈夫"])
def test_a_yes_that_is_no_callback_request_is_not_booked(text):
    reading = read_reply(text, OFFERED_CALLBACK)
    assert reading is None or reading.intent != "request_callback"


def test_after_the_crisis_lines_a_yes_is_checked_not_booked():
    crisis = DialogueContext(crisis_active=True, options=OFFERED_CALLBACK.options)
    reading = read_reply("うん まあ なんとか", crisis)
    assert reading is None or reading.intent != "request_callback"


@pytest.mark.parametrize(
    "text,intent",
    [
        ("なにから はじめたら ええんか わからんのです", "ask_where_to_go"),
        ("様子を見に来てくれるような所ってありますか", "ask_where_to_go"),
        ("誰かと話したいけど電話はむり。文字ならいける", "request_human"),
        ("ここで話したことは残るんですか？残るなら消してほしいです", "delete_data"),
    ],
)
def test_requests_in_the_writers_own_words(text, intent):
    assert steering_intent(text) == intent


def test_thanks_for_being_heard_is_a_goodbye_not_a_request_to_be_heard():
    assert read_reply("よう分かりました　今日はこれで　聞いてもろうて助かりました", DialogueContext()).intent == "stop"
    assert read_reply("話を聞いてもらえますか", DialogueContext()).intent == "request_human"


def test_a_put_off_with_a_reason_at_an_intake_question_is_leaving():
    at_question = DialogueContext(requested_slot="situation_status", active_loop="intake_form")
    text = "よその家のことに口出すのも違う気がするんで、いったんやめときます"
    assert read_reply(text, at_question).intent == "stop"


@pytest.mark.parametrize(
    "text",
    [
        "そちらでは、こういう話も相談できるんでしょうか",
        "近所の者ですが、市役所に知らせてもかまわんのでしょうか",
        "県外に住んでいる私からでも、相談を進めることはできますか",
    ],
)
def test_may_this_be_brought_to_you_is_answered_with_the_windows(text):
    assert steering_intent(text) == "ask_where_to_go"


@pytest.mark.parametrize(
    "text", ["名前を言わなくても相談できるのでしょうか", "家族だけで相談しても大丈夫なんでしょうか"]
)
def test_questions_about_anonymity_or_family_only_stay_faqs(text):
    assert steering_intent(text) is None


# --- issue 18, fifth step: a next step with nothing asked, may I write again --------------------
@pytest.mark.parametrize(
    "text,context",
    [
        # after the windows, nothing asked: the writer's own next step ends it for now
        ("そうですか。それでは息子に、来てもらってもよいか聞いてみてからにします", DialogueContext()),
        # a question on the way out that the goodbye answers, after the crisis lines too
        (
            "わかった。明日先生に話してみる。今夜また何かあったらここに書いてもいい？",
            DialogueContext(crisis_active=True),
        ),
        # they call the line themselves, now
        ("はい、今かけます", DialogueContext(crisis_active=True, options=OFFERED_CALLBACK.options)),
        ("これから警察に電話します", DialogueContext(crisis_active=True)),
    ],
)
def test_a_next_step_with_nothing_asked_is_a_goodbye(text, context):
    reading = read_reply(text, context)
    assert reading is not None and reading.intent == "stop"


@pytest.mark.parametrize(
    "text",
    [
        "息子に話してみますが、どう言えばいいですか",  # a real question stays a question
        "また書いてもいいですか。息子が昨日から部屋から出てこないんです",  # and then information
    ],
)
def test_a_next_step_beside_a_question_or_information_is_no_goodbye(text):
    reading = read_reply(text, DialogueContext())
    assert reading is None or reading.intent != "stop"


def test_a_service_they_could_use_asks_where_to_go():
    assert steering_intent("私のような年の者でも 使える制度のようなものは あるのでしょうか") == "ask_where_to_go"
    assert steering_intent("息子が使える支援ってありますか") == "ask_where_to_go"
    assert steering_intent("利用できるサービスは全部使っています") is None


@pytest.mark.parametrize(
    "text",
    [
        "ここって学生でも送っていいとこ?",
        "これ匿名のままで使えるやつですか",
        "夜中でも返事くるの?",
    ],
)
def test_a_question_that_names_no_ending_never_ends_or_erases(text):
    assert ends_without_saying_so(text)


@pytest.mark.parametrize(
    "text",
    ["今日はもう終わりにしてもいいですか", "書いたこと消してもらえますか", "話した記録って残るんですか", "やめます"],
)
def test_an_ending_or_a_record_said_in_so_many_words_is_left_to_the_reader(text):
    assert not ends_without_saying_so(text)


@pytest.mark.parametrize("text", ["そろそろ寝る ありがとね", "もう寝よ", "ほいじゃ寝るわ"])
def test_going_to_bed_is_a_goodbye(text):
    reading = read_reply(text, DialogueContext())
    assert reading is not None and reading.intent == "stop"


@pytest.mark.parametrize(
    "text",
    [
        "親戚でもないんですが、わたしらから話を持っていってもかまいませんか",
        "家族じゃなくても相談って受けてもらえますか",
        "身内じゃのうても連絡してええんかのう",
    ],
)
def test_may_someone_outside_the_family_bring_it_asks_where_to_go(text):
    assert steering_intent(text) == "ask_where_to_go"


@pytest.mark.parametrize(
    "text, intent",
    [
        ("家庭訪問とかしてもらえるんでしょうか", "request_human"),
        ("市の方で何か支援してもらえることってありますか", "ask_where_to_go"),
        ("そちらから何か手助けしてもらえるんですか", "ask_where_to_go"),
    ],
)
def test_a_visit_or_help_from_the_city_asked_after(text, intent):
    assert steering_intent(text) == intent


@pytest.mark.parametrize("text", ["これ以上は話したくないです", "もう何も書きたくない"])
def test_wanting_to_say_no_more_ends_it(text):
    reading = read_reply(text, DialogueContext())
    assert reading is not None and reading.intent == "stop"


@pytest.mark.parametrize("text", ["電話で話すのはまだちょっと怖いです", "電話なんかはええです", "電話とかはいらない"])
def test_a_phone_call_said_to_be_unwanted_is_declined(text):
    assert declines_phone(text)


@pytest.mark.parametrize("text", ["電話で話したいです", "電話で相談させてください", "お電話をいただけますか"])
def test_a_phone_call_asked_for_is_not_declined(text):
    assert not declines_phone(text)


@pytest.mark.parametrize("text", ["ほんならそれで", "じゃあそれでええです", "それでいいよ"])
def test_yes_to_what_was_offered(text):
    reading = read_reply(text, CONSENT)
    assert reading is not None and reading.intent == "affirm"


@pytest.mark.parametrize("text", ["ようわかりました 今夜はもう寝ます", "ありがと 今日はこれで寝るね"])
def test_going_to_bed_tonight_is_a_goodbye(text):
    reading = read_reply(text, DialogueContext())
    assert reading is not None and reading.intent == "stop"


def test_where_asked_with_the_topic_first():
    assert steering_intent("こういう相談ってどこですればいいですか") == "ask_where_to_go"
