"""When it began, and so how old the person is now (issue 18).

Families rarely give the current age. They give the age or school year when it began, and how
long it has lasted: 「高校1年で学校に行けなくなってから、8年ほど部屋にこもったまま」 (now about
23), 「26の頃から実家にこもって、もう7年」 (now 33), 「中学を出てから4年くらい」 (now about 19).
The age at the start is not the age now: with a duration it gives the current band; without one,
a school year (大学2年の秋から行かなくなりました) is most likely this year's, and an age gives nothing.
Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.language.kinship import kinship
from bot.language.normaliser import normalize

# School year → age during that year (中2 → 13–14).
_STAGE_BASE = {"小": 5, "中": 11, "高": 14, "大": 17}
_STAGE_WORD = r"(?P<stage>小学校?|中学校?|高校|高等学校|大学|小|中|高|大)"
_GRADE = r"(?P<grade>[1-6])\s?年?生?"
# Leaving a school: the age at the end of it.
_LEFT_SCHOOL = {"中": (15, 15), "高": (18, 18), "大": (22, 22), "専": (20, 20)}
# 「で」 starts something only with a change of state after it (高校1年で学校に行けなくなって);
# 「中三で学校行っとらん」 is the school year now, and 「43歳で、実家に」 the age now.
_CHANGE = (
    r"(?=[^。\d]{0,16}?(?:なって|なり|なった|辞め|やめ|中退|退学|退職|休学|始め|ようにな|こもり(?:始|だ)|不登校にな))"
)
_START_TAIL = (
    r"(?:の(?:頃|ころ|時|とき|途中|夏|冬|春|秋|終わり|半ば|初め|二学期|三学期|1学期|2学期|3学期)(?:ごろ)?)?\s?"
    rf"(?:から|以来|くらいから|ぐらいから|頃から|で(?![、,]){_CHANGE}|に{_CHANGE})"
)
# A step of life that has its age (大学受験に失敗してから, 就職活動でつまずいて以来).
_LIFE_EVENT = {"高校受験": (15, 15), "大学受験": (18, 18), "就職活動": (22, 22), "就活": (22, 22), "成人式": (20, 20)}
_ONSET = re.compile(
    # a school named without a year (高校を休みがちになってから): its band; leaving it is below
    r"(?:(?P<stage_any>中学|高校|大学)(?:を|に|で)(?!出て|卒業|中退|やめ|辞め)[^。、\d]{0,10}?(?:てから|て以来|たころから|た頃から)(?=[^。]{0,12}\d))|"
    r"(?:(?P<event>高校受験|大学受験|就職活動|就活|成人式)(?:に|で|の)?[^。、\d]{0,8}?(?:てから|て以来|から|以来))|"
    rf"(?:{_STAGE_WORD}\s?{_GRADE}{_START_TAIL})"
    r"|(?:(?P<left>中学|高校|大学|専門学校)(?:を)?(?:出て|卒業して|卒業後|中退して|中退後|やめて|辞めて)(?:から)?)"
    rf"|(?:(?<![\d年])(?P<age>\d{{1,2}})\s?(?:歳|才|さい)?(?:の(?:頃|ころ|時|とき)(?:から)?|くらいから|ぐらいから|頃から|から|で(?![、,]){_CHANGE}))"
)
# How long since: 8年ほど, もう7年, 30年近く, 13年になります, 十年以上.
_DURATION = re.compile(
    r"(?:もう|かれこれ|それから|以来|もうすぐ)?\s?(?P<n>\d{1,2})\s?(?P<unit>年|ヶ月|か月|カ月)(?P<q>近く|弱|以上|余り|あまり|ほど|くらい|ぐらい|位|目|間|半)?"
    r"(?!生|の(?:頃|夏|冬|春|秋|時|とき))"
)


@dataclass(frozen=True)
class Onset:
    start: tuple[int, int]  # the age band when it began
    school_year: bool  # began in a school year (with no duration, most likely this year)
    span: tuple[int, int]  # where in the (normalised) text the start is said
    now: tuple[int, int] | None  # the band now, when the message says how long it has lasted


def read_onset(text: str) -> Onset | None:
    """The first onset the message states, with the current band when a duration follows it."""
    norm = normalize(text or "")
    m = _ONSET.search(norm)
    if not m:
        return None
    school_year = bool(m.group("stage"))
    if m.group("stage"):
        key = m.group("stage")[0]
        grade = int(m.group("grade"))
        base = _STAGE_BASE.get(key)
        if base is None or not 1 <= grade <= (6 if key == "小" else 4):
            return None
        start = (base + grade, base + grade + 1)
    elif m.group("stage_any"):
        start = kinship().school_stages[m.group("stage_any")]
    elif m.group("event"):
        start = _LIFE_EVENT[m.group("event")]
    elif m.group("left"):
        start = _LEFT_SCHOOL[m.group("left")[0]]
    else:
        n = int(m.group("age"))
        if not 6 <= n <= 70:
            return None
        start = (n, n)
    now = None
    d = _DURATION.search(norm, m.end())
    if d and d.start() - m.end() <= 120:
        years = int(d.group("n")) / (1 if d.group("unit") == "年" else 12)
        q = d.group("q") or ""
        if q == "半":
            years += 0.5
        lo = start[0] + int(years) - (1 if q in ("近く", "弱") else 0)
        hi = start[1] + int(round(years)) + (1 if q in ("以上", "余り", "あまり") else 0)
        if 0 < years <= 60:
            now = (lo, max(lo, hi))
    return Onset(start, school_year, (m.start(), m.end()), now)
