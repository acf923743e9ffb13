"""Japanese text normaliser run in front of the NLU pipeline and every domain parser.

`normalize` is idempotent (normalize(normalize(x)) == normalize(x)), so parsers may call it
again on text that was already normalised and their character offsets stay valid.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize", "kanji_to_int"]

# Invisible format characters that LINE / copy-paste leave behind (ZWSP, ZWNJ/ZWJ, LRM/RLM,
# bidi embeddings, word joiner, BOM, soft hyphen). Removed, not replaced.
_INVISIBLE_RE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# C0/C1 controls (incl. \n and \t) become spaces; the whitespace pass then collapses them.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
_SPACE_RE = re.compile(r"\s+")
# Dash-like marks people type between digits (phone numbers, ranges). NFKC has already
# folded －/﹣ to '-' and ｰ to ー; only unified when flanked by ASCII digits.
_DIGIT_DASH_RE = re.compile("(?<=[0-9])[ー‐‑‒–—―−⁃](?=[0-9])")

_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
_KANJI_NUM_CHARS = "〇一二三四五六七八九十百千"
_KANJI_NUM_RE = re.compile("[" + _KANJI_NUM_CHARS + "]")

_IDEOGRAPH = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]")

# Counters after which a kanji numeral is a quantity and safe to turn into digits.
# Longest first so か月 wins over 月 and 年生 over 年.
_COUNTERS = (
    "年生",
    "か月",
    "ヶ月",
    "カ月",
    "ケ月",
    "ヵ月",
    "箇月",
    "さい",
    "歳",
    "才",
    "代",
    "年",
    "月",
    "日",
    "回",
    "人",
    "件",
    "時",
    "分",
    "週",
)
_COUNTER_RUN_RE = re.compile("([" + _KANJI_NUM_CHARS + "]+)(" + "|".join(_COUNTERS) + ")")
# School grades written without a counter: 中二, 高一, 小五, 大二.
_GRADE_RE = re.compile("([小中高大])([一二三四五六])(?![" + _KANJI_NUM_CHARS + "0-9])")
_GRADE_MAX = {"小": 6, "中": 3, "高": 3, "大": 4}
# A grade char preceded by one of these is still a grade ("息子中二"); any other kanji
# before it means an ordinary word (最高一, 途中二, 小一時間 is caught by the lookahead).
_GRADE_OK_BEFORE = set("子男女娘孫弟妹兄姉人")

# Words containing numeral + counter that are not quantities.
_IDIOM_RE = re.compile(
    "十人十色|二人三脚|百人一首|三日月|三日坊主|五月雨|五月蝿|五分五分|一件落着|一回り"
    "|[一二三]人称|一人前|小一時間|七回忌|三回忌|十三回忌|一周忌"
)
# Numerals after these are approximate ("数十年", "何十人", "幾日"): left as words.
_NO_CONVERT_AFTER = set("数何幾")
# Lone 一 before 人/日/時/分 is usually a word (一人暮らし, 一日中, 一時的, 一分の隙).
_LONE_ONE_COUNTERS = {"人", "日", "時", "分"}


def kanji_to_int(s: str) -> int | None:
    """Value of a kanji numeral, or None if `s` is not one.

    Multiplicative forms (十, 二十, 四十五, 百, 千九百九十, 三万五千) and positional forms
    (二〇 = 20, 二〇一五 = 2015, 一九八五 = 1985) are accepted; mixed or malformed ones
    (十十, 二〇十) are not.
    """
    if not s:
        return None
    has_unit = False
    for ch in s:
        if ch in _KANJI_UNITS or ch == "万":
            has_unit = True
        elif ch not in _KANJI_DIGITS:
            return None
    if not has_unit:
        return int("".join(str(_KANJI_DIGITS[ch]) for ch in s))
    if "〇" in s or "零" in s:
        return None
    total = 0
    section = 0
    digit: int | None = None
    last_unit = 10**9
    for ch in s:
        if ch in _KANJI_DIGITS:
            if digit is not None:
                return None
            digit = _KANJI_DIGITS[ch]
        elif ch in _KANJI_UNITS:
            unit = _KANJI_UNITS[ch]
            if unit >= last_unit:
                return None
            section += (1 if digit is None else digit) * unit
            digit = None
            last_unit = unit
        else:  # 万
            if total:
                return None
            section += digit or 0
            total = (section or 1) * 10000
            section, digit, last_unit = 0, None, 10**9
    return total + section + (digit or 0)


def _counter_value_ok(value: int, counter: str) -> bool:
    if counter == "代":  # 十代..九十代; rejects 千代, 八千代, 三代目
        return value % 10 == 0 and 10 <= value <= 90
    if counter in ("歳", "才", "さい"):  # rejects 千歳
        return value <= 150
    if counter == "月":
        return 1 <= value <= 12
    return True


def _convert_counters(text: str) -> str:
    idioms: list[tuple[int, int]] | None = None  # computed on the first hit only
    out: list[str] = []
    last = 0
    for m in _COUNTER_RUN_RE.finditer(text):
        run, counter = m.group(1), m.group(2)
        start, end = m.span(1)
        if idioms is None:
            idioms = [i.span() for i in _IDIOM_RE.finditer(text)]
        if any(a <= start < b for a, b in idioms):
            continue
        before = text[start - 1] if start else ""
        if before in _NO_CONVERT_AFTER:
            continue
        # 二、三年 / 五・六人: an approximate pair, keep both as written.
        if before in "、・" and start >= 2 and text[start - 2] in _KANJI_NUM_CHARS:
            continue
        # 二三日, 五六人, 四六時中: two bare digits are a range or a word, not 23/56/46.
        if len(run) == 2 and all(c in _KANJI_DIGITS for c in run) and "〇" not in run:
            continue
        after = text[end:]
        if run == "一" and counter in _LONE_ONE_COUNTERS:
            ok = (counter == "日" and before == "月") or (
                counter == "時" and (after.startswith("時間") or before in ("前", "後"))
            )
            if not ok:
                continue
        if counter == "分" and (run == "十" or after.startswith("分の")):
            continue  # 十分 (enough), 三分の一 (fraction)
        value = kanji_to_int(run)
        if value is None or not _counter_value_ok(value, counter):
            continue
        out.append(text[last:start])
        out.append(str(value))
        last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _grade_sub(m: re.Match[str]) -> str:
    school, num = m.group(1), m.group(2)
    start = m.start()
    before = m.string[start - 1] if start else ""
    if before and _IDEOGRAPH.match(before) and before not in _GRADE_OK_BEFORE:
        return m.group(0)
    after = m.string[m.end() : m.end() + 1]
    if after and _IDEOGRAPH.match(after):
        return m.group(0)  # 小一時間, 大一番, 中一日
    value = _KANJI_DIGITS[num]
    if value > _GRADE_MAX[school]:
        return m.group(0)
    return school + str(value)


def normalize(text: str) -> str:
    """Canonical form of a user message (see module docstring).

    NFKC; invisible characters dropped; controls and whitespace runs -> one space; kanji
    numerals -> digits before counters (四十五歳 -> 45歳, 中二 -> 中2) but not inside words
    (一緒, 一人暮らし, 十分, 一日中); dashes between digits -> '-' (０９０ー１２３４ -> 090-1234).
    """
    if not text:
        return ""
    typed_command = text.lstrip(" \t\r\n").startswith("/")
    # Invisible chars go before NFKC so that removing them cannot create new compositions.
    text = _INVISIBLE_RE.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE_RE.sub("", text)
    text = _CONTROL_RE.sub(" ", text)
    text = _SPACE_RE.sub(" ", text).strip()
    if _KANJI_NUM_RE.search(text):
        text = _convert_counters(text)
        text = _GRADE_RE.sub(_grade_sub, text)
    if text.startswith("/") and not typed_command:
        # Only an ASCII "/" typed first is a Rasa command: 「／delete_data」 or a zero-width
        # space before "/" must not become one after folding.
        text = "／" + text[1:]
    return _DIGIT_DASH_RE.sub("-", text)
