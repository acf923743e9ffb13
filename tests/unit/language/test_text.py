"""Tests for bot.language.normaliser: the normaliser every parser and the NLU pipeline sit behind."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.language.normaliser import kanji_to_int, normalize

NORMALIZE_CASES = [
    # width / NFKC
    ("４５歳", "45歳"),
    ("ＡＢＣ１２３", "ABC123"),
    ("ｱﾗﾌｫｰ", "アラフォー"),
    ("ﾋｷｺﾓﾘ", "ヒキコモリ"),
    ("①", "1"),
    # invisible / control / whitespace
    ("息子\u200bが", "息子が"),
    ("\ufeff相談です", "相談です"),
    ("a\u200c\u200d\u2060b", "ab"),
    ("息子\x07が", "息子 が"),
    ("  息子が\n\n\tいます　　です  ", "息子が います です"),
    ("", ""),
    ("   ", ""),
    # dashes between digits only
    ("０９０ー１２３４ー５６７８", "090-1234-5678"),
    ("090－1234－5678", "090-1234-5678"),
    ("090‐1234‐5678", "090-1234-5678"),
    ("090−1234−5678", "090-1234-5678"),
    ("090–1234—5678", "090-1234-5678"),
    ("０８４８ｰ６７ｰ５０００", "0848-67-5000"),
    ("コーヒー", "コーヒー"),
    ("メール—です", "メール—です"),
    ("ラー10", "ラー10"),
    ("10ー", "10ー"),
    ("40〜45歳", "40〜45歳"),
    # kanji numerals before counters
    ("四十五歳", "45歳"),
    ("二十代後半", "20代後半"),
    ("十代", "10代"),
    ("十年", "10年"),
    ("三年前", "3年前"),
    ("平成十年", "平成10年"),
    ("昭和五十年", "昭和50年"),
    ("二〇一五年", "2015年"),
    ("千九百九十年", "1990年"),
    ("中学二年生", "中学2年生"),
    ("大学二年", "大学2年"),
    ("三か月", "3か月"),
    ("三ヶ月", "3ヶ月"),
    ("月二回", "月2回"),
    ("十二月一日", "12月1日"),
    ("午後一時", "午後1時"),
    ("一時間", "1時間"),
    ("三十分", "30分"),
    ("二人", "2人"),
    ("一年", "1年"),
    ("第一回", "第1回"),
    ("七十八歳", "78歳"),
    ("百歳", "100歳"),
    ("二十歳", "20歳"),
    # school grades without a counter
    ("中二", "中2"),
    ("高一", "高1"),
    ("小五", "小5"),
    ("中二の息子", "中2の息子"),
    ("息子中三です", "息子中3です"),
    # ordinary words stay
    ("一人暮らし", "一人暮らし"),
    ("一緒", "一緒"),
    ("一度", "一度"),
    ("一番", "一番"),
    ("十分", "十分"),
    ("十分です", "十分です"),
    ("一生", "一生"),
    ("一応", "一応"),
    ("唯一", "唯一"),
    ("一部", "一部"),
    ("一日中", "一日中"),
    ("一時的に", "一時的に"),
    ("一時期", "一時期"),
    ("数十年", "数十年"),
    ("何十年も", "何十年も"),
    ("十数年", "十数年"),
    ("二、三年", "二、三年"),
    ("二三日", "二三日"),
    ("四六時中", "四六時中"),
    ("十人十色", "十人十色"),
    ("三日月", "三日月"),
    ("五月雨", "五月雨"),
    ("五分五分", "五分五分"),
    ("三分の一", "三分の一"),
    ("千代田", "千代田"),
    ("千歳", "千歳"),
    ("三代目", "三代目"),
    ("中二病", "中二病"),
    ("最高一", "最高一"),
    ("小一時間", "小一時間"),
    ("四十肩", "四十肩"),
    ("五十嵐さん", "五十嵐さん"),
    ("統一", "統一"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZE_CASES)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(("raw", "_expected"), NORMALIZE_CASES)
def test_normalize_table_is_idempotent(raw: str, _expected: str) -> None:
    once = normalize(raw)
    assert normalize(once) == once


KANJI_CASES = [
    ("〇", 0),
    ("一", 1),
    ("九", 9),
    ("十", 10),
    ("十一", 11),
    ("二十", 20),
    ("四十五", 45),
    ("九十九", 99),
    ("百", 100),
    ("百二十", 120),
    ("三百五", 305),
    ("千", 1000),
    ("一千", 1000),
    ("千九百九十", 1990),
    ("二千十五", 2015),
    ("三万五千", 35000),
    ("二〇", 20),
    ("二〇一五", 2015),
    ("一九八五", 1985),
    ("四六", 46),
    ("", None),
    ("十十", None),
    ("五百十百", None),
    ("二〇十", None),
    ("二三十", None),
    ("45", None),
    ("四十五歳", None),
    ("あ", None),
]


@pytest.mark.parametrize(("raw", "expected"), KANJI_CASES)
def test_kanji_to_int(raw: str, expected: int | None) -> None:
    assert kanji_to_int(raw) == expected


_JA_ALPHABET = (
    "0123456789０１２３４５６７８９〇一二三四五六七八九十百千万"
    "歳才代年月日回人件時分週生かヶカケさいの中高小大学校間前後数何"
    "ー－‐−–—―-~〜、。・ 　\n\t\u200b\ufeff\x00"
    "息子娘母父私はがもでですアラフォーｱﾗﾌｫｰコーヒ過ぎ手前くらい暮らし緒度"
    "\u0301\u3099ﾞﾟ①㍻"
)


@given(st.text())
def test_normalize_any_unicode_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.text(alphabet=_JA_ALPHABET, max_size=40))
def test_normalize_japanese_soup_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()
    assert "  " not in once
    assert "\u200b" not in once and "\n" not in once and "\x00" not in once


@given(st.text(alphabet="〇一二三四五六七八九十百千", max_size=8))
def test_kanji_to_int_never_raises(text: str) -> None:
    value = kanji_to_int(text)
    assert value is None or value >= 0
