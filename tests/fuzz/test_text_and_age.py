"""Properties of the normaliser and the age extractor on arbitrary and Japanese-looking text."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import assume, example, given
from hypothesis import strategies as st

from bot.language.age import MAX_AGE, extract_age
from bot.language.normaliser import kanji_to_int, normalize
from tests.fuzz.counting import budget, tick

INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
KANJI_DIGITS = "〇一二三四五六七八九"

# What people actually type: kana, kanji numerals and counters, full-width forms, emoji,
# zero-width and control characters, mixed scripts, SQL/HTML fragments.
JA = st.text(
    alphabet=st.sampled_from(
        list(
            "0123456789０１２３４５６７８９〇一二三四五六七八九十百千万歳才さい代年月日時分人回"
            "息子娘母父私僕はがのでですもうすぐ今年くらい過ぎ手前以上未満前後半ばアラフォーサー還暦"
            "中高小大学生ー－‐−–—―-~〜、。・!?！？ 　\n\t\r\u200b\u200d\u2060\ufeff\x00\x07\x1b"
            "😀🙇‍♀️🇯🇵ｱﾗﾌｫｰﾞﾟ①㍻㌔ÅåéЖж한글Ωالعربية<>'\";=*/\\"
        )
    ),
    max_size=60,
)
ANY = st.text(max_size=80)


def kanji_numeral(n: int) -> str:
    """20 → 二十, 45 → 四十五, 100 → 百 (the way people write ages in kanji)."""
    if n == 0:
        return "〇"
    out = ""
    for value, unit in ((100, "百"), (10, "十")):
        digit, n = divmod(n, value)
        if digit:
            out += ("" if digit == 1 else KANJI_DIGITS[digit]) + unit
    return out + (KANJI_DIGITS[n] if n else "")


@budget()
@example("\x1f/")  # found by `make fuzz`: a control character before the slash
@example("\u200b/delete_data")
@given(st.one_of(ANY, JA))
def test_normalize_is_idempotent_and_clean(text: str) -> None:
    tick()
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()
    assert "  " not in once
    assert not INVISIBLE.search(once) and not CONTROL.search(once)
    # NFKC-stable, except the one deliberate fold: a "/" that was not typed first (after a
    # control or invisible character, or a full-width 「／」) is kept as 「／」, never a command.
    body = once[1:] if once.startswith("／") else once
    assert unicodedata.normalize("NFKC", body) == body


@budget()
@given(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="-"), max_size=40).map(
        lambda s: s.replace("\\", "/")
    ),
    st.lists(st.sampled_from([" ", "\t", "\n", "　"])),
)
def test_normalize_leaves_plain_ascii_words_alone(text: str, spaces: list[str]) -> None:
    tick()
    assume(not text.startswith("/"))  # a leading slash has its own rule (below)
    spaced = "".join(spaces) + text + "".join(spaces)
    assert normalize(spaced) == " ".join(text.split())


@budget()
@example("\x1f/delete_data")
@given(st.one_of(ANY, JA, st.text(alphabet=st.sampled_from(list("/／∕ \u3000\u200b\ufeff\t\nabc{}")), max_size=10)))
def test_only_a_typed_ascii_slash_can_start_a_command(text: str) -> None:
    """Rasa reads a message that starts with "/" as an intent payload: normalising (NFKC,
    invisible characters dropped) must never produce one from text that did not start so."""
    tick()
    if normalize(text).startswith("/"):
        assert text.lstrip(" \t\r\n").startswith("/"), repr(text)


@budget()
@given(st.sampled_from(["", " ", "  \t", "\n "]), st.from_regex(r"[a-z_]{1,20}", fullmatch=True))
def test_a_typed_command_stays_a_command(spaces: str, intent: str) -> None:
    tick()
    assert normalize(f"{spaces}/{intent}") == f"/{intent}"


@budget()
@given(st.integers(min_value=0, max_value=10**9))
def test_full_width_digits_become_ascii(n: int) -> None:
    tick()
    full = str(n).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert normalize(full) == str(n)


@budget()
@given(st.integers(min_value=1, max_value=9999))
def test_kanji_numerals_read_back(n: int) -> None:
    tick()
    if n < 1000:
        assert kanji_to_int(kanji_numeral(n)) == n


@budget()
@given(st.one_of(ANY, JA), st.booleans())
def test_extract_age_bounds_and_offsets(text: str, expecting: bool) -> None:
    tick()
    match = extract_age(text, expecting_age=expecting)
    if match is None:
        return
    assert 0 <= match.min <= match.max <= MAX_AGE
    norm = normalize(text)
    assert 0 <= match.start < match.end <= len(norm) and norm[match.start : match.end] == match.text
    assert extract_age(norm, expecting_age=expecting) == match


@budget()
@given(
    st.integers(min_value=1, max_value=99),
    st.sampled_from(["息子は{}歳です", "娘が{}歳で", "本人は{}才です", "{}歳の息子がいます", "弟({}歳)のことで"]),
    st.sampled_from(["ascii", "full", "kanji"]),
    st.sampled_from(["", "夜分にすみません。", "母です。"]),
)
def test_exact_age_of_the_person_concerned_is_read_in_any_script(
    n: int, template: str, script: str, prefix: str
) -> None:
    tick()
    number = {
        "ascii": str(n),
        "full": str(n).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        "kanji": kanji_numeral(n),
    }[script]
    match = extract_age(prefix + template.format(number))
    assert match is not None and (match.min, match.max) == (n, n), (prefix + template.format(number), match)


@budget()
@given(st.integers(min_value=10, max_value=80).filter(lambda d: d % 10 == 0))
def test_decades_are_ten_year_bands(decade: int) -> None:
    tick()
    match = extract_age(f"息子は{decade}代です")
    assert match is not None and (match.min, match.max) == (decade, decade + 9)


@budget()
@given(st.from_regex(r"0[789]0-?[0-9]{4}-?[0-9]{4}", fullmatch=True), st.booleans())
def test_phone_numbers_are_never_ages(phone: str, expecting: bool) -> None:
    tick()
    assume(not expecting or "-" in phone)
    assert extract_age(f"電話は{phone}です", expecting_age=expecting) is None
