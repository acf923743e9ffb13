"""What people volunteer in their own words is picked up, and nothing else."""

from __future__ import annotations

import pytest

from bot.language.profile import detect_relation, duration_years, extract_profile


@pytest.mark.parametrize(
    "text,relation,detail",
    [
        ("母です", "family", "母"),
        ("父親として相談したい", "family", "父親"),
        ("うちの息子のことで", "family", "親"),
        ("娘が部屋から出てきません", "family", "親"),
        ("兄が家にいます", "family", "きょうだい"),
        ("民生委員をしています", "other", "民生委員"),
        ("近所の方のことで", "other", "近所の人"),
        ("自分のことです", "self", None),
        ("本人です", "self", None),
        ("ぼくは外に出られない", "self", None),
        ("私は30代で家にいます", "self", None),
        ("自分の息子が家にいます", "family", "親"),
        ("天気はどう", None, None),
    ],
)
def test_relation(text, relation, detail):
    assert detect_relation(text) == (relation, detail)


@pytest.mark.parametrize(
    "text,years",
    [
        ("仕事をやめてから10年家にいます", 10.0),
        ("二十年近く部屋から出てきません", 20.0),
        ("半年くらい学校に行っていません", 0.5),
        ("3ヶ月前から外に出られない", 0.2),
        ("平成10年から家にいます", None),
        ("高校2年の娘です", None),
        ("45歳です", None),
    ],
)
def test_duration_only_in_context(text, years):
    assert duration_years(text) == years


def test_long_family_message_fills_everything():
    u = extract_profile(
        "夜分にすみません ７８歳の母です 息子が４５歳で仕事をやめてから十年 家から出られません "
        "家族会のようなところに行きたいです"
    )
    assert u.relation == "family" and u.relation_detail == "母"
    assert (u.age_min, u.age_max) == (55, 55)  # 45 when it began, ten years ago
    assert u.duration_years == 10.0
    assert "離職" in u.status and "外出が難しい" in u.status
    assert "family" in u.needs and u.situation_text


def test_story_words_are_not_needs_unless_wished_for():
    u = extract_profile("仕事をやめてから家にいます")
    assert "work" not in u.needs
    assert "work" in extract_profile("そろそろ働きたいと言っています").needs
    assert "work" in extract_profile("仕事", requested_slot="needs_status").needs


def test_bare_number_is_an_age_only_after_the_age_question():
    assert extract_profile("45").age_min is None
    assert extract_profile("45", requested_slot="age_status").age_min == 45


def test_free_text_is_the_situation_only_after_that_question():
    assert extract_profile("なんとなくつらい").situation_text is None
    assert extract_profile("なんとなくつらい", requested_slot="situation_status").situation_text == "なんとなくつらい"


def test_dieted_entities_are_used_when_the_lexicon_is_silent():
    u = extract_profile("ええと", [{"entity": "relation", "value": "other", "start": 0, "end": 3}])
    assert u.relation == "other"


def test_button_payloads_are_not_read_as_text():
    assert extract_profile('/inform{"relation":"self"}').empty


# Issue 18, second step: kinds of writer reading, each with phrasings of our own.
@pytest.mark.parametrize(
    "text",
    [
        "部屋にこもったままの日が続いています。妻は「無理しないで」と言ってくれますが、このままでいいのか",
        "仕事を辞めてから家におります。夫は何も言わずにいてくれますが申し訳なくて",
    ],
)
def test_a_spouse_who_only_looks_after_a_withdrawn_writer_is_not_taken_as_the_person(text):
    assert extract_profile(text).relation != "family"


@pytest.mark.parametrize(
    "text,relation",
    [
        ("就職できないまま、弟が今年で35になります", "family"),  # the subject comes after the predicate
        ("家にこもっているのは高校生の娘です", "family"),  # a cleft
        ("二年近く外に出ていない甥がいます", "family"),  # a relative clause on the relative
        ("うちは息子が不登校です", "family"),  # うちは + kin
        ("長男が小学校に行けていません。友達ができないのが原因みたいです", "family"),  # a friend later does not win
        ("以前から無断欠勤が続いていた社員が、今週は一度も出社していません", "other"),  # 以前から is not the past
    ],
)
def test_whose_days_are_told_decides_who_writes(text, relation):
    assert extract_profile(text).relation == relation


def test_a_relative_only_mentioned_is_not_said_back_as_stated():
    from bot.language.facts import Strength

    u = extract_profile("母とはもう何年も口をきいていません。弟は心配して声をかけてくれます")
    assert u.relation is None or u.relation_strength < Strength.STATED
    stated = extract_profile("息子が部屋から出てきません")
    assert stated.relation == "family" and stated.relation_strength >= Strength.STATED


def test_ones_own_life_told_from_inside_is_the_writer():
    u = extract_profile("会社を辞めてから半年、就職活動もうまくいかず、病院でうつと診断されました")
    assert u.relation == "self"


# A self-introduction says who writes, not who is concerned (issue 18: writers who introduce
# themselves first); hearsay, quotes and a role framed as the subject tell someone else's days.
@pytest.mark.parametrize(
    "text,relation",
    [
        ("六十五の女です。四十になる娘が、勤めをやめてから家にこもっております", "family"),
        ("利用者さんのことでご相談です。最近デイにも来られなくなって、部屋から出ないそうです", "other"),
        ("店長をしています。アルバイトの子が二週間、連絡もなく来ていません", "other"),
        ("七十二の 男 です。 妻に 先立たれ 一人で 暮らして おります。 誰とも 話さない 日が 続きます", "self"),
    ],
)
def test_an_introduction_gives_way_to_whose_days_are_told(text, relation):
    assert extract_profile(text).relation == relation


def test_words_quoted_from_someone_else_are_not_who_writes():
    text = "近所の方の話です。お隣の奥さんが「うちの子は働かんで家におる」とこぼしておられました"
    assert extract_profile(text).relation != "family"


def test_reported_days_are_not_the_writers():
    text = "四十代の男です。昔の同僚から電話があり、ここ数年はずっと家にこもっていたそうです"
    assert extract_profile(text).relation != "self"


def test_vague_self_description_is_not_hearsay():
    text = "短い時間だけ働いてますが、休みの日はずっと家にいて、半分ひきこもりみたいな感じです"
    assert extract_profile(text).relation == "self"


@pytest.mark.parametrize(
    "text",
    [
        "こうこう2ねんの秋から がっこう行ってない 親はなんも言わなくなった",
        "バイトやめてから外でてない 友達のLINEも返してない",
    ],
)
def test_plain_speech_told_from_inside_is_the_writers_own(text):
    assert extract_profile(text).relation == "self"


def test_plain_speech_about_a_named_relative_stays_family():
    assert extract_profile("弟がずっと学校いってない 親もどうしていいかわかんないみたい").relation == "family"


def test_whoever_died_is_not_whose_days_are_told():
    assert extract_profile("妻が 亡くなって から 家を 出られなく なりました").relation != "family"
    assert extract_profile("母が亡くなってから、弟はずっと家にこもっています").relation == "family"


@pytest.mark.parametrize(
    "text,relation",
    [
        ("妻のことでご相談させてください。41歳で、会社員です", "family"),  # 会社員 is not a 社員 role
        ("仕事をやめてから、母以外とは誰とも話していません。31です", "self"),  # 母以外: not whose days
        ("バイト先の後輩のこと。あの子ずっとシフト入ってなくて連絡もつかない", "other"),  # no particle
    ],
)
def test_occupations_exceptions_and_dropped_particles(text, relation):
    assert extract_profile(text).relation == relation


def test_a_story_in_its_own_words_is_information_not_a_misunderstanding():
    from bot.language.profile import volunteers_facts

    assert volunteers_facts("昨日は少しだけ笑ってくれました。このまま様子を見ていていいのか迷っています")
    assert not volunteers_facts("今日は何曜日ですか？")


# Issue 18, batch 5: in-laws named through the spouse are family, whatever the form; a relative
# or a friend named in passing by someone telling their own days is no reason to guess.
@pytest.mark.parametrize(
    "text",
    ["主人のお姉さんのことで相談です。二十年ほど家から出ていません", "妻の弟さんが、もう何年も部屋にこもっていて"],
)
def test_a_spouses_relative_is_family(text):
    assert extract_profile(text).relation == "family"


@pytest.mark.parametrize(
    "text,entity",
    [
        ("会社を辞めて半年、仕事もありません。昔の友達にも会えていません", "other"),
        ("実家で両親と暮らしていて、働いていません。父の背中が小さくなった気がします", "family"),
    ],
)
def test_diets_guess_for_someone_named_in_passing_is_not_said_back(text, entity):
    update = extract_profile(text, [{"entity": "relation", "value": entity}])
    assert update.relation in (None, "self")


def test_a_start_with_how_long_it_lasted_gives_the_age_now_even_as_the_answer_to_the_age_question():
    answer = "高2の夏に学校に行かなくなって、そのまま中退しました。それから6年、ほとんど家にいます"
    update = extract_profile(answer, requested_slot="age_status")
    assert (update.age_min, update.age_max) == (22, 23)
    assert (extract_profile("中2です", requested_slot="age_status").age_min or 0) in (13, 14)


# --- issue 18, fourth step -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "うちの息子の同級生のことなんですが、聞いてもらえますか",
        "娘の彼氏がもう半年家から出てこないらしくて",
        "彼女と先週から連絡がとれなくなりました",
        "付き合ってる人が仕事を辞めてから部屋にこもってる",
    ],
)
def test_a_relatives_friend_or_ones_partner_is_someone_else(text):
    """The person concerned is the friend or the partner: the writer is not their family."""
    assert extract_profile(text).relation == "other"


@pytest.mark.parametrize("text", ["彼女もいないし仕事もない", "彼女が欲しいけど家から出られない"])
def test_no_partner_said_of_oneself_is_not_someone_else(text):
    assert extract_profile(text).relation != "other"


@pytest.mark.parametrize(
    "text",
    [
        "主人のことで聞いていただけますか　６８の主婦です",
        "50代の会社員です。実家の兄が20年以上家から出ていません",
        "60代の主婦です。息子が家から出ません",
    ],
)
def test_the_writers_own_introduction_is_not_the_persons_age(text):
    update = extract_profile(text)
    assert update.relation == "family"
    assert update.age_owner == "writer"  # merged away: the reflection never says it of the person


@pytest.mark.parametrize(
    "text,relation",
    [
        ("三十八になる次男が　もう十年　奥の部屋に　籠っております", "family"),  # 籠る in kanji
        ("おさななじみがもう半年学校にきてない", "other"),
        ("クラスの友達のことでつらくて、腕を切るようになった。学校も休みがち", "self"),  # a cause
        ("30代の主婦です。子どもが3人いますが、ここ数年ほとんど家から出ない生活です", "self"),
        ("息子が一人おりますが、もう8年部屋から出てきません", "family"),
    ],
)
def test_whose_days_are_told(text, relation):
    assert extract_profile(text).relation == relation


def test_a_withdrawn_parents_age_is_the_persons_and_the_writers_own_is_not():
    update = extract_profile(
        "私は40代前半の一人娘です。母は70代後半で、父が亡くなってから、母は家にこもって誰とも会いません。"
    )
    assert update.relation == "family" and (update.age_min, update.age_max) == (76, 79)
    assert extract_profile("近所の息子さんがずっと家にいます。80代のお母さんも最近見かけません").age_min is None


# --- issue 18, fifth step ----------------------------------------------------------------------------
def test_an_age_said_of_the_known_relative_is_theirs_whoever_else_has_one():
    """夫がうつで… then 「夫は46、私は44です。子どもは中学生がひとり」: 46, never the child's 12–15."""
    update = extract_profile(
        "夫は46、私は44です。子どもは中学生がひとり", known_relation="family", known_concerned="夫"
    )
    assert (update.age_min, update.age_max, update.age_owner) == (46, 46, "concerned")
    later = extract_profile(
        "息子は５１で わしと二人で団地におります もう五十を過ぎとるのに いまだに子どもみとうに思えてのう",
        known_relation="family",
        known_concerned="息子",
    )
    assert (later.age_min, later.age_max) == (51, 51)


def test_of_two_relatives_in_one_phrase_the_head_is_the_person():
    assert extract_profile("主人の兄のことで相談できますか").concerned == "兄"
    assert extract_profile("娘の夫が家から出ません").concerned == "夫"


@pytest.mark.parametrize(
    "text",
    [
        "７８の年寄りです 息子のことで ちょっと聞いてもらいたいんじゃが",
        "60代の男です。学生時代の友人から連絡がありました。ここ5年ほどは完全に家にこもっていたそうです。",
        "主人が一昨年、63歳で勤め先を退職しました。それからは一日中横になっています。(59歳・妻)",
    ],
)
def test_the_writers_introduction_or_signature_is_not_the_persons_age(text):
    update = extract_profile(text)
    assert update.age_min is None or update.age_owner == "writer"


def test_an_age_now_after_the_start_is_the_writers_own_when_they_write_of_themselves():
    update = extract_profile("中2の途中から行けなくなって、いま25になります")
    assert (update.age_min, update.age_max) == (25, 25)


@pytest.mark.parametrize(
    "text", ["40を過ぎると、ひきこもりの支援は受けられないんでしょうか。", "40歳以上は対象外と言われました"]
)
def test_an_age_in_general_is_nobodys(text):
    assert extract_profile(text).age_min is None


def test_an_age_past_which_the_person_still_is_theirs():
    update = extract_profile("息子は40を過ぎても家にいます")
    assert (update.age_min, update.age_max) == (40, 44)


def test_a_relative_said_not_to_exist_is_nobodys_relation():
    """頼れる身内も友人もいない: DIET tags 友人, but nobody is there to be whom the message is about."""
    text = "50歳手前の男です。アパートを出ることになり、仕事もありません。頼れる身内も友人もいない一人きりの身です。"
    at = text.index("友人")
    update = extract_profile(text, [{"entity": "relation", "value": "other", "start": at, "end": at + 2}])
    assert update.relation == "self"


@pytest.mark.parametrize(
    "text",
    [
        "弟のことです。30代半ばで仕事を辞めてから、ほとんど外に出ず、就労支援も断ってきました。",
        "息子のことでご相談します。二十歳を過ぎてから家にこもるようになりました。",
    ],
)
def test_the_age_it_began_at_is_not_the_age_now(text):
    """When it began, with no word of how long ago: the bot asks rather than say an old age."""
    assert extract_profile(text).age_min is None


def test_an_opening_courtesy_is_no_correction_and_the_start_plus_the_years_gives_the_age():
    update = extract_profile("夜分にすみません ７８歳の母です 息子が４５歳で仕事をやめてから十年 家から出られません")
    assert not update.correction
    assert (update.age_min, update.age_max) == (55, 55)


@pytest.mark.parametrize(
    "text",
    [
        # one's own age glued to the end of one's days
        "専門やめてからずっと家でなんもしてない22です。親はもうあきらめてる感じ",
        # one's own parents seen from inside, a neighbour only avoided
        "バイトやめて一年、実家で何もしていません。父親の背中見るとしんどい。近所の人と顔を合わせるのがこわくて夕方まで出られない",
        # a withdrawal with no subject, the writer as topic, no relative anywhere
        "外に出なくなってもう4年です。同級生がときどき誘ってくれたけど、わたしは一度も行けませんでした",
    ],
)
def test_ones_own_days_told_from_inside_are_the_writers(text):
    assert detect_relation(text)[0] == "self"


@pytest.mark.parametrize("text", ["34になる子のことで相談させてください", "二十歳の子のことなんですが"])
def test_a_child_named_by_age_is_the_writers_own(text):
    assert detect_relation(text)[0] == "family"


def test_someone_elses_words_reported_without_brackets_are_not_the_writer():
    # 「俺」 inside what the son says is the son, not the writer
    text = "夜中に起きてきて 俺なんかどうせ誰にも相手にされん言うて また部屋に戻るんです"
    assert detect_relation(text)[0] != "self"


@pytest.mark.parametrize(
    "text",
    [
        "ヘルパーで伺っているお宅のことです。ご主人は70代で、息子さん2人がずっと家から出ていません",
        "担当の方は90近いおばあちゃんで、同居の孫が二人とも部屋にこもっています",
    ],
)
def test_an_age_said_of_someone_other_than_who_has_withdrawn_is_not_the_persons(text):
    update = extract_profile(text, requested_slot="age_status")
    assert update.age_min is None


@pytest.mark.parametrize(
    "text, writer",
    [
        # someone named as the subject is whom the next sentence is about, too
        ("付き合ってる人が春から家を出てない。LINEしても既読だけで部屋から出てこないみたい", {None, "other"}),
        # the frame said in dialect or casually
        ("中学のときの同級生のことなんだけど、卒業してからずっと家にいるらしい", {"other"}),
        # relayed by one's own relative: the writer is family
        ("姪の美咲のことです。妹から相談されて、代わりに連絡しました。もう二年学校に行っていません", {"family"}),
        # a parent's worry beside the other parent
        (
            "私の育て方が悪かったのかと毎日思います。辞めてから3年、誰とも会わずに家にいます。夫は甘やかすなと言います",
            {"family"},
        ),
        # dialect: school not attended, one's own parents
        ("専門学校よう行かんようになって半年。親には言うとらん", {"self"}),
    ],
)
def test_who_writes_from_how_they_write(text, writer):
    assert detect_relation(text)[0] in writer
