"""Tests for bot.language.age.extract_age: the age band of the person concerned."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.language.age import AgeMatch, extract_age
from bot.language.normaliser import normalize

Band = tuple[int, int] | None

# (message, expecting_age, expected (min, max) or None)
AGE_CASES: list[tuple[str, bool, Band]] = [
    # --- exact ages, any script -------------------------------------------------------
    ("45歳", False, (45, 45)),
    ("４５歳", False, (45, 45)),
    ("四十五歳", False, (45, 45)),
    ("45才", False, (45, 45)),
    ("４５才です", False, (45, 45)),
    ("45さい", False, (45, 45)),
    ("６０さい", False, (60, 60)),
    ("二十歳", False, (20, 20)),
    ("満45歳", False, (45, 45)),
    ("息子(45歳)", False, (45, 45)),
    ("むすこはよんじゅうごさいです", False, (45, 45)),
    ("むすめはさんじゅうはっさい", False, (38, 38)),
    ("まごはじゅっさい", False, (10, 10)),
    ("むすめははたちです", False, (20, 20)),
    # --- approximate / relative markers -----------------------------------------------
    ("45歳くらい", False, (43, 47)),
    ("45歳位", False, (43, 47)),
    ("45才ぐらい", False, (43, 47)),
    ("45歳前後", False, (43, 47)),
    ("45歳ごろです", False, (43, 47)),
    ("約45歳", False, (43, 47)),
    ("40歳過ぎ", False, (40, 44)),
    ("40過ぎ", False, (40, 44)),
    ("40歳を過ぎ", False, (40, 44)),
    ("息子が40歳を過ぎました", False, (40, 44)),
    ("30過ぎ", False, (30, 34)),
    ("四十過ぎの息子", False, (40, 44)),
    ("うちのむすこはもう40すぎです", False, (40, 44)),
    ("40超えの息子", False, (40, 44)),
    ("40歳手前", False, (37, 39)),
    ("40手前の娘", False, (37, 39)),
    ("息子は三十歳手前で、大学をやめてから八年になります", False, (27, 29)),
    ("40歳以上", False, (40, 64)),
    ("20歳未満", False, (10, 19)),
    ("もうすぐ40", False, (39, 40)),
    ("もうすぐ40歳になる娘", False, (39, 40)),
    ("そろそろ50", False, (49, 50)),
    ("今年で40", False, (40, 40)),
    ("息子は今年四十になります", False, (40, 40)),
    ("来年40", False, (39, 39)),
    ("30になる娘", False, (30, 30)),
    ("息子はもう45になります", False, (45, 45)),
    ("息子は40近くです", False, (37, 40)),
    ("40ちょっとの息子", False, (40, 43)),
    # --- decades ----------------------------------------------------------------------
    ("40代", False, (40, 49)),
    ("５０代", False, (50, 59)),
    ("10代", False, (10, 19)),
    ("十代の娘", False, (10, 19)),
    ("40代前半", False, (40, 43)),
    ("40代半ば", False, (44, 46)),
    ("40代後半", False, (46, 49)),
    ("二十代後半", False, (26, 29)),
    ("三十代半ば", False, (34, 36)),
    ("40代の半ば", False, (44, 46)),
    ("40代も後半", False, (46, 49)),
    ("10代後半", False, (16, 19)),
    ("息子は40代に入りました", False, (40, 49)),
    ("40歳代", False, (40, 49)),
    ("三十路の娘", False, (30, 39)),
    ("よんじゅうだいこうはん", False, (46, 49)),
    ("30代後半から40代前半", False, (36, 43)),
    ("40〜45歳", False, (40, 45)),
    ("40歳から45歳くらい", False, (40, 45)),
    # --- generation words ---------------------------------------------------------------
    ("アラフォー", False, (38, 42)),
    ("娘はアラフォーです", False, (38, 42)),
    ("ｱﾗﾌｫｰの息子", False, (38, 42)),
    ("アラサー", False, (28, 32)),
    ("兄がアラフィフで、実家で両親と暮らしています", False, (48, 52)),
    ("アラカン", False, (58, 62)),
    ("アラ還の兄", False, (58, 62)),
    ("アラ40", False, (38, 42)),
    ("還暦", False, (60, 60)),
    ("還暦過ぎの姉", False, (60, 64)),
    ("不惑", False, (40, 40)),
    ("不惑を過ぎた兄", False, (40, 44)),
    # --- school grades ------------------------------------------------------------------
    ("中2", False, (13, 14)),
    ("中2の息子", False, (13, 14)),
    ("中二の娘", False, (13, 14)),
    ("息子中三です", False, (14, 15)),
    ("中学2年", False, (13, 14)),
    ("中学二年生", False, (13, 14)),
    ("中学生", False, (12, 15)),
    ("不登校の中学生の息子", False, (12, 15)),
    ("高校1年", False, (15, 16)),
    ("高1", False, (15, 16)),
    ("高一の息子", False, (15, 16)),
    ("高校生", False, (15, 18)),
    ("大学2年", False, (19, 20)),
    ("大学2年の娘", False, (19, 20)),
    ("大2", False, (19, 20)),
    ("大学生", False, (18, 22)),
    ("小5", False, (10, 11)),
    ("小五の孫", False, (10, 11)),
    ("小学5年", False, (10, 11)),
    ("小学生", False, (6, 12)),
    # --- bare numbers ---------------------------------------------------------------------
    ("45", True, (45, 45)),
    ("４５", True, (45, 45)),
    ("45です", True, (45, 45)),
    ("はい、４５です。", True, (45, 45)),
    ("四十五です", True, (45, 45)),
    ("よんじゅうご", True, (45, 45)),
    ("45くらい", True, (43, 47)),
    ("3です", True, (3, 3)),
    ("100", True, (100, 100)),
    ("息子は45です", False, (45, 45)),
    ("息子の年齢は45です", False, (45, 45)),
    ("夫(52)がずっと家にいます", False, (52, 52)),
    ("父(80)母(78)息子(50)の三人暮らしです", False, (50, 50)),
    ("息子(45)、娘(42)", False, (45, 45)),
    # --- whose age: prefer the person concerned -------------------------------------------------
    ("４５歳の息子が十年ひきこもっています", False, (45, 45)),
    ("息子は四十代後半です 私は七十八歳", False, (46, 49)),
    ("両親は80代で私は50歳です", False, (50, 50)),
    ("私は70歳で息子が45歳", False, (45, 45)),
    ("80代の両親と45歳の息子", False, (45, 45)),
    ("40歳の息子と38歳の娘がいて、どちらも仕事をしていません", False, (40, 40)),
    ("70代の夫婦です。40代の息子のことで相談です", False, (40, 49)),
    ("私は還暦を過ぎました。息子は30代です", False, (30, 39)),
    ("息子は今年40、私は70になります", False, (40, 40)),
    ("主人の弟が50過ぎてもひきこもっています", False, (50, 54)),
    ("45歳の私の息子", False, (45, 45)),
    ("弟(40代前半)のことで相談したいです。私は姉で50歳、両親は他界しています", False, (40, 43)),
    ("私は35歳です。二十歳のころから引きこもっていて、親は70代です", False, (35, 35)),
    ("私(30歳)と母(60歳)で暮らしています", False, (30, 30)),
    ("相談者は本人です。僕は27歳で、大学を中退してから5年間家にいます。母は55歳", False, (27, 27)),
    ("夫が50歳でひきこもり状態です", False, (50, 50)),
    ("45歳男性です", False, (45, 45)),
    ("成人した息子は45歳です", False, (45, 45)),
    ("20歳の時から引きこもり、今は34歳", False, (34, 34)),
    # long run-on family messages, the way an older LINE user writes them
    (
        "はじめまして。三原市に住んでいる七十六歳の母親です。四十八歳の息子が二十年近く家から出られません。"
        "主人は八十歳で去年から入院しています。",
        False,
        (48, 48),
    ),
    (
        "むすこのことでそうだんです わたしは75さいでむすこは48さいです もう20ねんくらいへやからでてきません",
        False,
        (48, 48),
    ),
    (
        "娘が中学2年の時から不登校でそのままひきこもりになり今年で32歳になります。私も夫も60代後半で先のことが心配です",
        False,
        (32, 32),
    ),
    ("うちの長男43歳、高校中退してからずっと家にいます。父親は昨年亡くなり、私ひとりで見ています", False, (43, 43)),
    ("孫がもうすぐ二十歳になるのですが部屋から出てきません 私は祖母で七十二歳です", False, (19, 20)),
    (
        "わたしは78さいでしゅじんは80さいですむすこが50すぎてもしごとをしないでいえにいます"
        "どこにそうだんしたらいいかわかりません",
        False,
        (50, 54),
    ),
    ("８２歳の父と７９歳の母、それに５３歳の兄と私の４人暮らしです。兄は３０年以上ひきこもっています", False, (53, 53)),
    # --- not ages ---------------------------------------------------------------------------------
    ("成人", False, None),
    ("成人しています", False, None),
    ("成人した息子がいます", False, None),
    ("45", False, None),
    ("45です", False, None),
    ("10年", False, None),
    ("10年", True, None),
    ("10年間", True, None),
    ("3年前", True, None),
    ("5年くらい", True, None),
    ("半年", True, None),
    ("3ヶ月", True, None),
    ("３ヶ月ほど", False, None),
    ("10年以上", True, None),
    ("ひきこもって十年になります", False, None),
    ("平成10年", True, None),
    ("平成十年生まれの息子", False, None),
    ("令和2年", True, None),
    ("2015年", True, None),
    ("2015年から家にいます", False, None),
    ("H29", True, None),
    ("3人", True, None),
    ("息子が3人います", False, None),
    ("2回", True, None),
    ("月に2回通院しています", False, None),
    ("第2", True, None),
    ("14時", True, None),
    ("14時に電話ください", False, None),
    ("090-1234-5678", True, None),
    ("電話番号は０９０ー１２３４ー５６７８です", True, None),
    ("11/28", True, None),
    ("11/28に面談", False, None),
    ("1000円", True, None),
    ("費用は3000円です", True, None),
    ("500円です", True, None),
    ("4.5", True, None),
    ("150", True, None),
    ("101歳", False, (101, 101)),
    ("30%", True, None),
    ("3歳差の兄弟", False, None),
    ("5歳上の兄", False, None),
    ("両親は80代", False, None),
    ("母(私)は75歳", False, None),
    ("父が80歳", False, None),
    ("父は80歳です", False, None),
    ("私は70代の母親です", False, None),
    ("70歳の母です。息子のことで", False, None),
    ("息子のことで相談です。私は70歳です。", False, None),
    ("20歳の時から引きこもり", False, None),
    ("中2の時から不登校です", False, None),
    ("中学生の頃から不登校です", False, None),
    ("20代の頃に仕事を辞めて", False, None),
    ("20歳で退職しました", False, None),
    ("20歳にひきこもり始めました", False, None),
    ("45歳までは働いていました", False, None),
    ("高校3年の時にいじめにあって", False, None),
    ("中学3年間ずっと", False, None),
    ("大学4年間", False, None),
    ("一人暮らしの息子", False, None),
    ("十分に話せません", False, None),
    ("一日中寝ています", False, None),
    ("数十年前から", False, None),
    ("息子は2、3年前から部屋にこもっています", False, None),
    ("第2子です", False, None),
    ("2回目の相談です", False, None),
    ("10時から17時まで", False, None),
    ("最大2回まで", False, None),
    ("途中2回休みました", False, None),
    ("LINEで45分話しました", False, None),
    ("体重は80キロです", False, None),
    ("息子は体重が100キロ", False, None),
    ("四六時中ゲームをしています", False, None),
    ("二三日前から", False, None),
    ("80年代の歌", False, None),
    ("千代田区", False, None),
    ("高校を中退しました", False, None),
    ("", False, None),
    ("こんにちは", True, None),
]


def _ids() -> list[str]:
    return [f"{i:03d}" for i in range(len(AGE_CASES))]


def test_table_is_large_enough() -> None:
    assert len(AGE_CASES) >= 100


@pytest.mark.parametrize(("text", "expecting", "expected"), AGE_CASES, ids=_ids())
def test_extract_age(text: str, expecting: bool, expected: Band) -> None:
    match = extract_age(text, expecting_age=expecting)
    got = None if match is None else (match.min, match.max)
    assert got == expected, match
    if match is not None:
        assert normalize(text)[match.start : match.end] == match.text


def test_offsets_point_at_the_age_in_normalised_text() -> None:
    match = extract_age("私は七十八歳で、息子は四十五歳です")
    assert match == AgeMatch(min=45, max=45, start=10, end=13, text="45歳", owner="concerned")


@pytest.mark.parametrize(
    "text,owner",
    [
        ("27歳の息子のことで", "concerned"),
        ("息子は27歳", "concerned"),
        ("私も70を過ぎて体がきつい", "writer"),
        ("19歳 女 ニートです", None),
    ],
)
def test_owner_says_whose_age_it_is(text, owner) -> None:
    assert extract_age(text).owner == owner


def test_already_normalised_input_gives_same_offsets() -> None:
    raw = "　４５歳の息子が十年ひきこもっています"
    assert extract_age(raw) == extract_age(normalize(raw))


_AGE_ALPHABET = (
    "0123456789０１２３４５６７８９一二三四五十百歳才さい代年月日回人時分の中高小大学生"
    "前後半過ぎ手前くらい以上未満もうすぐ今年でになる息子娘母父私両親兄は、。()-/ 　"
    "アラフォーサー還暦じゅうよんご"
)


@given(st.text(), st.booleans())
def test_extract_age_never_raises_any_unicode(text: str, expecting: bool) -> None:
    _check_invariants(text, expecting)


@given(st.text(alphabet=_AGE_ALPHABET, max_size=40), st.booleans())
def test_extract_age_invariants_japanese_soup(text: str, expecting: bool) -> None:
    _check_invariants(text, expecting)


def _check_invariants(text: str, expecting: bool) -> None:
    match = extract_age(text, expecting_age=expecting)
    if match is None:
        return
    assert 0 <= match.min <= match.max <= 120
    norm = normalize(text)
    assert 0 <= match.start < match.end <= len(norm)
    assert norm[match.start : match.end] == match.text
    assert extract_age(norm, expecting_age=expecting) == match


@pytest.mark.parametrize(
    "text,expected",
    [
        # several children: the one the consultation is about, by name …
        ("上の娘は30で働いています。下の息子が26で家にいます。相談したいのは息子のことです", (26, 26)),
        ("娘が32、息子が28です。息子のことで相談したいです", (28, 28)),
        # … or by the sentence that tells the withdrawal
        ("長男は40歳で結婚して家を出ています。次男が35歳で10年ひきこもっています", (35, 35)),
        ("上の子は二十五で働いとります。下の子が二十二で部屋から出てこんのです", (22, 22)),
        # nothing tells them apart: the first, as before
        ("息子が45歳で、娘は40歳です", (45, 45)),
    ],
)
def test_of_several_children_the_one_the_message_is_about(text, expected) -> None:
    match = extract_age(text)
    assert match is not None and (match.min, match.max) == expected


# Issue 18, second step: elderly spacing, a parent's self-introduction, a school attended now.
@pytest.mark.parametrize(
    "text,band",
    [
        ("うちの 娘も 三十を 過ぎて 家に おります", (30, 34)),
        ("五十二に なる 息子が 家に おります", (52, 52)),
        ("六十八に なります。 四十一の 一人息子が 働いて おりません", (41, 41)),
        ("小6の娘の父です。二学期から学校に行けていません", (11, 12)),
        ("県外の専門学校に通っている次男のことです", (18, 20)),
        ("しょう5だけど学校いってない", (10, 11)),
    ],
)
def test_age_kinds_real_writers_use(text, band) -> None:
    m = extract_age(text)
    assert m is not None and (m.min, m.max) == band


@pytest.mark.parametrize(
    "text,band",
    [
        ("今年の春 高校に 上がった 孫が 休みがちで", (15, 16)),
        ("七十を 過ぎた 父親 です。 四十を 過ぎた 娘が 家に おります", (40, 44)),
        ("お隣の娘さんは もう三十は過ぎとるはずです", (30, 34)),
    ],
)
def test_more_age_kinds_real_writers_use(text, band) -> None:
    m = extract_age(text)
    assert m is not None and (m.min, m.max) == band


# --- issue 18, fourth step: an age said at the end of one's own story ------------------------------
@pytest.mark.parametrize(
    "text,band",
    [
        ("大学は二年でやめて、親に言われて実家に戻って今は24です。家からほとんど出ていません。", (24, 24)),
        ("中学の途中から行かなくなって家におる17です。勉強もしてない", (17, 17)),
        ("親の年金で食わせてもらっとる、40過ぎのひきこもりです。", (40, 44)),
    ],
)
def test_an_age_at_the_end_of_ones_own_story_is_read(text, band):
    match = extract_age(text)
    assert match is not None and (match.min, match.max) == band


def test_a_parents_age_is_still_not_the_writers():
    assert extract_age("母は今は80です。私は家から出ていません") is None
    match = extract_age("息子が小学生の時に離婚して、今は19歳です。高校はやめて家にいます。")
    assert match is not None and (match.min, match.max) == (19, 19)
