"""Age of the person concerned (the one who is withdrawn), read from a free-text message.

`extract_age` returns a band `AgeMatch(min, max, ...)` in whole years. Offsets are into
`normalize(text)`; passing already-normalised text is fine (normalize is idempotent).

Band rules (all clamped to 0..120):
  exact       45歳 / 45才 / 45さい / 四十五歳 / よんじゅうごさい / 還暦 / 不惑 / はたち  -> N..N
  about       45歳くらい・ぐらい・位・前後・程度・ほど・頃, 約45歳                  -> N-2..N+2
  over        40歳過ぎ / 40過ぎ / 40を過ぎ / 40超え / 40オーバー                    -> N..N+4
  a bit over  40ちょっと / 40ちょい                                               -> N..N+3
  just under  40歳手前                                                            -> N-3..N-1
  nearly      40近く / 40弱                                                       -> N-3..N
  soon        もうすぐ40 / そろそろ40 / 40目前                                       -> N-1..N
  this year   今年で40 / 今年40 / 満40 / 40になる                                  -> N..N
  next year   来年40                                                              -> N-1..N-1
  at least    40歳以上 -> N..N+24 (so 40歳以上 = 40-64, the 中高年 band of 内閣府 surveys)
  below       20歳未満 -> N-10..N-1;  20歳以下 -> N-10..N
  decade      40代 40-49; 前半/初め 40-43; 半ば/中盤 44-46; 後半/終わり 46-49; 三十路 30-39
  range       40〜45歳 / 30代後半〜40代前半                                         -> lo..hi
  slang       アラサー 28-32, アラフォー 38-42, アラフィフ 48-52, アラカン/アラ還 58-62, アラ40 38-42
  school      小N 5+N..6+N (小5 10-11), 中N 11+N..12+N (中2 13-14), 高N 14+N..15+N (高1 15-16),
              大N 17+N..18+N (大2 19-20); 小学生 6-12, 中学生 12-15, 高校生 15-18, 大学生 18-22
Not ages: 成人, durations (10年, 3ヶ月), years (平成10年, 2015年), counts, times, phone numbers,
dates, prices, age differences (3歳差, 5歳上), and past reference points (20歳の時, 中2から,
20代の頃, 20歳で退職) because they are not the current age.

A bare number (45, 45です, 四十五) is an age only when `expecting_age` (the age question was
just asked; 0..100), or right next to a person word (息子は45です, 30になる娘; 10..100), or with
a strong marker (今年で40, もうすぐ40, 30過ぎ, 40手前).

Whose age (documented rule):
  1. each age is attached to a person word: the one right after it (45歳の息子, 30になる娘),
     else the nearest one before it in the same sentence, not crossing another age
     (私は70歳で息子が45歳 -> 70:私, 45:息子); possessives (私の息子) yield to the later word;
  2. the first age attached to the concerned person (息子 娘 子ども 本人 兄 弟 姉 妹 孫 ...) wins;
  3. otherwise ages attached to parents (母 父 両親 親 祖父母 ...) are skipped, and so are ages
     attached to the writer or spouse (私 僕 夫 妻 ...) when the message is from a parent
     (it mentions a child: 息子 娘 子ども ..., or 母(私) / 私は母です);
  4. otherwise the first remaining age; None if nothing is left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.language.kinship import Kin, kinship
from bot.language.normaliser import kanji_to_int, normalize

__all__ = ["AgeMatch", "extract_age"]

MAX_AGE = 120


@dataclass(frozen=True)
class AgeMatch:
    min: int
    max: int
    start: int
    end: int
    text: str
    # Whose age the words attach it to: "concerned" (息子 本人 兄 …), "writer" (私 僕 夫 妻 …)
    # or None (no person word). The caller decides with the conversation's relation.
    owner: str | None = None


@dataclass
class _Cand:
    lo: int
    hi: int
    start: int
    end: int
    kind: str  # unit | decade | range | word | band | school | bare
    weak: bool = False


_IDEOGRAPH = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]")
# A 1-3 digit number that is not part of a longer number, decimal, date, time, phone
# number, price or code (H29, No.3, ¥45, 11/28, 090-1234).
_NUM = r"(?<![0-9,:A-Za-z¥$#第])(?<![0-9]/)(?<![0-9]\.)(?<![0-9]-)(?P<n>[0-9]{1,3})(?![0-9]|\.[0-9]|/[0-9])"
_NUM2 = _NUM.replace("<n>", "<m>")
_AGE_UNIT = r"(?:歳|才|さい)"

_HTENS = {"いち": 1, "に": 2, "さん": 3, "よん": 4, "ご": 5, "ろく": 6, "なな": 7, "しち": 7, "はち": 8, "きゅう": 9}
_HONES = dict(_HTENS, いっ=1, ろっ=6, はっ=8)
# Hiragana numbers 10..99 only: single digits collide with words (さんさい 山菜, いっさい 一切),
# じっ with 実際, and じゅうだい with 重大, so those are not read.
_HNUM = (
    r"(?P<ht>" + "|".join(_HTENS) + r")?(?:じゅう|じゅっ)"
    r"(?P<ho>" + "|".join(sorted(_HONES, key=len, reverse=True)) + r")?"
)

_UNIT_RE = re.compile(_NUM + r"\s?" + _AGE_UNIT + r"(?!差|違|上|下|離|代|台|月)")
_HUNIT_RE = re.compile(_HNUM + r"さい")
_RANGE_RE = re.compile(_NUM + r"\s?" + _AGE_UNIT + r"?\s?(?:〜|~|-|から)\s?" + _NUM2 + r"\s?" + _AGE_UNIT)
_DECADE_POS = (
    r"(?:\s?(?:の|も))?\s?(?P<pos>前半|初め|はじめ|初頭|半ば|なかば|中盤|中頃|中ごろ"
    r"|真ん中|後半|終わり|おわり|ぜんはん|こうはん)"
)
_DECADE_RE = re.compile(
    _NUM + r"\s?(?:代|歳代|歳台|才代|だい)(?!目)(?:" + _DECADE_POS + ")?"
    r"|(?<![0-9])(?P<n2>[2-9]0)\s?(?:歳|才)?\s?(?P<pos2>前半|半ば|なかば|後半)"
)
_HDECADE_RE = re.compile(_HNUM.replace(")?(?:じゅう", ")(?:じゅう", 1) + r"だい(?:" + _DECADE_POS + ")?")
_MISOJI_RE = re.compile(r"(?P<k>[二三四五六七八九]十)路")
_POS_BAND = {
    "前半": (0, 3),
    "初め": (0, 3),
    "はじめ": (0, 3),
    "初頭": (0, 3),
    "ぜんはん": (0, 3),
    "半ば": (4, 6),
    "なかば": (4, 6),
    "中盤": (4, 6),
    "中頃": (4, 6),
    "中ごろ": (4, 6),
    "真ん中": (4, 6),
    "後半": (6, 9),
    "終わり": (6, 9),
    "おわり": (6, 9),
    "こうはん": (6, 9),
}

_BANDS = {
    "アラサー": (28, 32),
    "アラフォー": (38, 42),
    "アラフィフ": (48, 52),
    "アラフィー": (48, 52),
    "アラカン": (58, 62),
    "アラ還": (58, 62),
    "アラハタ": (18, 22),
}
_BAND_RE = re.compile("|".join(sorted(_BANDS, key=len, reverse=True)) + r"|アラ(?P<n>[2-8]0)")
_WORDS = {
    "不惑": 40,
    "而立": 30,
    "知命": 50,
    "還暦": 60,
    "かんれき": 60,
    "古希": 70,
    "古稀": 70,
    "喜寿": 77,
    "傘寿": 80,
    "米寿": 88,
    "卒寿": 90,
    "白寿": 99,
    "はたち": 20,
}
_WORD_RE = re.compile("|".join(_WORDS))

_SCHOOL_WORDS = {
    "小学生": (6, 12),
    "中学生": (12, 15),
    "高校生": (15, 18),
    "大学生": (18, 22),
    "しょうがくせい": (6, 12),
    "ちゅうがくせい": (12, 15),
    "こうこうせい": (15, 18),
    "だいがくせい": (18, 22),
    "高校せい": (15, 18),
    "高専生": (15, 20),
    "中高生": (12, 18),
    "小中学生": (6, 15),
    "大学院生": (22, 26),
    "専門学生": (18, 20),
    "専門学校生": (18, 20),
}
_SCHOOL_WORD_RE = re.compile("|".join(sorted(_SCHOOL_WORDS, key=len, reverse=True)))
_SCHOOL_BASE = {"小": 5, "中": 11, "高": 14, "大": 17}
_SCHOOL_MAXYEAR = {"小": 6, "中": 3, "高": 3, "大": 6}
_SCHOOL_LONG_RE = re.compile(
    r"(?P<s>小学校?|中学校?|高校|高等学校|大学(?!院))\s?(?P<n>[1-6])\s?年(?:生)?(?!間|前|後|以上|目以上)"
)
_SCHOOL_SHORT_RE = re.compile(r"(?P<s>[小中高大])(?P<n>[1-6])(?![0-9\u3400-\u9fff々つ])")
# Hiragana grades: ちゅうに, こうこうにねんせい, ちゅうがく1ねん.
_SCHOOL_HIRA_RE = re.compile(
    r"(?P<s>しょうがく|ちゅうがく|こうこう|しょう|ちゅう|こう)\s?(?P<n>[1-6]|いち|に|さん|よん|ご|ろく)"
    r"\s?(?:ねんせい|ねん)?(?=$|[\s。、!?]|です|で|の|だ)"
)
_SCHOOL_HIRA_KEY = {
    "しょうがく": "小",
    "しょう": "小",
    "ちゅうがく": "中",
    "ちゅう": "中",
    "こうこう": "高",
    "こう": "高",
}
# 大学に通っている長男 / この春大学に入った息子 / 高校に在学中: a school attended now gives its band.
_SCHOOL_ATTENDED_RE = re.compile(
    r"(?P<now>この春|今春|今年(?:の春)?|4月から|四月から)?\s?(?P<s>小学校|中学校|中学|高校|高等学校|大学(?!院)|専門学校)"
    r"(?:に|へ)\s?(?:(?P<attends>通って(?:い|お)|通う|通い|在学|在籍)|(?P<entered>入って|入った|入学し|進学し|上がった|上がって|あがった|あがって))"
)
_HIRA_DIGIT = {"いち": 1, "に": 2, "さん": 3, "よん": 4, "ご": 5, "ろく": 6}
_SCHOOL_LONG_KEY = {
    "小学": "小",
    "小学校": "小",
    "中学": "中",
    "中学校": "中",
    "高校": "高",
    "高等学校": "高",
    "大学": "大",
}
# 息子中2: a family word may sit right before a short grade; other kanji make a word (最高1).
_GRADE_OK_BEFORE = set("子男女娘孫弟妹兄姉人")

_BARE_RE = re.compile(_NUM + r"|(?P<k>[〇一二三四五六七八九十百]+)")
_HBARE_RE = re.compile(_HNUM)
_KANJI_BARE_OK_BEFORE = set("年満約今子男女娘孫弟妹兄姉")

_PRE_SOON = re.compile(r"(?:もうすぐ|そろそろ|もうじき|まもなく|間もなく|じきに|近々|もう少しで|もうちょっとで)\s?$")
_PRE_THIS = re.compile(r"(?:今年で|今年|ことしで|ことし|今度で|満)\s?$")
_PRE_NEXT = re.compile(r"(?:来年で|来年|らいねん)\s?$")
_PRE_ABOUT = re.compile(r"(?:約|およそ|だいたい|大体|おおよそ|ほぼ|大凡)\s?$")
_SUFFIX = re.compile(
    r"\s?(?:(?P<little>ちょっと過ぎ|ちょっと|ちょい)"
    r"|(?P<over>[をはも]?(?:過ぎ|すぎ))|(?P<exceed>[をはも]?(?:超え|越え|こえ|超|越|オーバー))"
    r"|(?P<under>手前)|(?P<soon>目前|間近)|(?P<near>近く|近い|近う|弱)"
    r"|(?P<atleast>以上)|(?P<below>未満)|(?P<atmost>以下)"
    r"|(?P<about>くらい|ぐらい|位|前後|程度|ほど|(?:頃|ごろ|ころ)(?!から|に|まで|より|の|は)))"
)
# 過ぎ/手前 after a bare number mean age; 超え/以上/くらい may be any quantity (100を超え).
_STRONG_SUFFIX = {"little", "over", "under", "soon"}

# What may follow a bare number that is an age (45です, 45。, 30になる, 45の).
_BARE_END = re.compile(
    r"(?:$|[\s。、,.!?)」』〜~…w]|です|でした|でござい|だ|で|に(?:なる|なった|なり|なって)"
    r"|の|よ|ね|かな|って|と|じゃ|なん|やけ|っす|さい)"
)
# A bare number that opens or closes a message, or follows 今/現在, is an age on its own
# (「27です」「…ひきこもりの18」「今25」), like 今年で40.
_HIRA_COUNTERS = (
    "ねん",
    "かげつ",
    "かい",
    "にん",
    "じかん",
    "ふん",
    "まい",
    "ほん",
    "ばん",
    "にち",
    "しゅう",
    "ねんかん",
    "ど",
    "こ",
    "えん",
)
_BARE_SELF_NOUN = re.compile(r"\s?の\s?(?:男|女|男性|女性|ニート|ひきこもり|引きこもり|主婦|独身|学生|者)")
_SENTENCE_START = re.compile(r"[。!?]\s?$")
_BARE_COPULA = re.compile(r"\s?(?:です|じゃ|なん|でね|で、)")
_BARE_NOW = re.compile(r"(?:今|いま|現在|もう)\s?$")
_BARE_CLOSES = re.compile(r"\s?(?:です|じゃ|っす|だよ|歳)?\s?[。.!w笑]*$")
_TURNING = re.compile(r"に(?:なる|なった|なり|なって)")
_ENUMERATION = re.compile(r"[、,・.:/\-~〜]\s?[0-9〇一二三四五六七八九十]")

# Reference points in the past (or future), not the current age.
_PAST_RE = re.compile(
    r"\s?(?:(?:の|になった|になる|になって|で|に)\s?(?:時|とき|頃|ころ|ごろ)"
    r"|(?:頃|ごろ|ころ)?\s?(?:から|以来|より前|まで|時代|当時|時点|時に|の時|に(?!な|入|はい))"
    r"|(?:頃|ごろ|ころ)?\s?で\s?(?:中退|退学|退職|離職|辞め|やめ|休学|発症|就職|卒業)"
    # 「30代半ばで仕事を辞めてから」「二十歳を過ぎてから家にこもるように」: when it began, not now
    # (「息子が４８歳で 大学をやめてから」, spaced, is 48 now: 48歳で there is the copula)
    r"|\s?で(?:仕事|会社|勤め|勤め先|職場|バイト)を?\s?(?:退職|辞め|やめ|休職)"
    r"|(?:を|に)?\s?(?:過ぎ|すぎ)?(?<=過ぎ|すぎ)て\s?(?:から|以来))"
)
# An age in general, nobody's (「40を過ぎると支援は受けられない」「40歳以上は対象外」「30過ぎたら」).
_GENERAL_RE = re.compile(
    r"\s?(?:歳|才)?\s?(?:(?:を|に)?(?:過ぎ|すぎ|超え|越え|こえ))?(?<=過ぎ|すぎ|超え|越え|こえ)(?:ると|たら|れば)"
    r"|\s?(?:歳|才)?\s?(?:以上|以下|未満)?(?<=以上|以下|未満)(?:は|の(?:人|方|者)|だと|でも|を|が対象)"
)
# 「…46歳になった現在」「今は46歳」: said to be the current age, it wins over an earlier one.
_CURRENT_BEFORE = re.compile(r"(?:現在|今は|いまは|今年で|今で|もう)\s?$")
_CURRENT_AFTER = re.compile(r"\s?(?:に?なった|になる|になります|の)?\s?(?:現在|今も|いまも|今は|いまは)")
_RANGE_JOIN = re.compile(r"\s?(?:〜|~|-|から|か)\s?")
_SENTENCE_END = re.compile(r"[。!?]")

# --- person words -------------------------------------------------------------------------
# Family words come from the one lexicon (bot/resources/kinship.yml).
_CHILD = kinship().words_of("son", "daughter", "child", "grandchild") + ["この子"]
_SIBLING = (
    kinship().words_of("nephew", "niece")
    + list(kinship().siblings_generic)
    + kinship().words_of("elder_brother", "younger_brother", "elder_sister", "younger_sister")
)
# A couple's age is the parents' (八十代のご夫婦のお宅で…息子さんが): never the person concerned's.
_PARENT = [
    # someone's parents said with respect (80代のお母さんも…): never the person concerned's age
    "お母さん",
    "お父さん",
    "お母様",
    "お父様",
    "親御さん",
    "ご夫婦",
    "老夫婦",
    "夫婦",
    "ご両親",
    "両親",
    "父親",
    "母親",
    "父母",
    "祖父母",
    "祖父",
    "祖母",
    "義父",
    "義母",
    "実父",
    "実母",
    "父",
    "母",
    "親(?![戚族類切身友指子分方])",
    "おかあさん",
    "おとうさん",
    "おばあちゃん",
    "おじいちゃん",
    "ばあちゃん",
    "じいちゃん",
    "ママ",
    "パパ",
]
_OTHER = [
    "叔父",
    "伯父",
    "叔母",
    "伯母",
    "おじさん",
    "おばさん",
    "彼女",
    "彼氏",
    "彼",
    "友人",
    "友達",
    "知人",
    "親戚",
    "いとこ",
    "従兄弟",
    "従姉妹",
    "後輩",
    "先輩",
    "同級生",
    "同僚",
    "生徒",
    "常連",
]
_SELF = [
    "私(?!立|服|物|鉄|大|学|用|的|生活)",
    "わたくし",
    "わたし",
    "あたし",
    "僕",
    "ぼく",
    "俺",
    "おれ",
    "オレ",
    "わし",
    "ワシ",
    "自分(?=は|が|も|\\(|\\s)",
    "当方",
    "小生",
]
_SPOUSE = ["(?<![丈工])夫(?!人)", "妻", "主人", "旦那", "だんな", "家内", "嫁", "女房", "配偶者", "おっと", "しゅじん"]
_PARENT_WORD = r"(?:母親|父親|母|父|親)"
_ME = r"(?:私|わたし)"
_PARENT_COMBO = [
    _PARENT_WORD + r"\s?\(\s?(?:私|わたし|僕|自分)\s?\)",
    _ME + r"\s?\(\s?" + _PARENT_WORD + r"\s?\)",
    _PARENT_WORD + r"(?:の|である|として)" + _ME,
    _ME + r"(?:は|、)?" + _PARENT_WORD + r"(?:です|で)",
]


def _alt(words: list[str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_PERSON_RE = re.compile(
    "(?P<parent_combo>" + "|".join(_PARENT_COMBO) + ")"
    "|(?P<other>" + _alt(_OTHER) + ")"
    "|(?P<concerned>(?<!日)本人|当事者|" + _alt(_CHILD + _SIBLING) + ")"
    "|(?P<parent>" + _alt(_PARENT) + ")"
    "|(?P<self>" + _alt(_SELF) + ")"
    "|(?P<spouse>" + _alt(_SPOUSE) + ")"
)
_CHILD_RE = re.compile("(?:" + _alt(_CHILD) + r")(?!(?:の|である|で)?(?:私|わたし|僕|自分)|\s?\()")
_PARENT_WRITER_RE = re.compile(_PARENT_WORD + r"(?:です|でございます|として|の立場)")
_CONCERNED_WORD = "(?<!日)本人|当事者|" + _alt(_CHILD + _SIBLING)
# The person the consultation is about: 相談したいのは息子 / 息子のことで相談 / 心配なのは下の娘
_FOCUS_RE = re.compile(
    r"(?:相談したい|ご相談したい|話したい|聞いてほしい|心配な|困っている|困ってる|気がかりな)(?:の|こと)は\s?"
    r"(?:上の|下の|真ん中の|一番上の|一番下の)?(?P<word>" + _CONCERNED_WORD + ")"
    r"|(?:上の|下の|真ん中の)?(?P<word2>"
    + _CONCERNED_WORD
    + r")(?:のこと|について)(?:で|を)?\s?(?:相談|ご相談|お聞き|聞いて)"
)
# A sentence that tells the withdrawal (not 働いています / 結婚して家を出ています).
_WITHDRAWN_RE = re.compile(
    r"ひきこも|引きこも|引き籠|閉じこも|家に(?:い|お)|家から出|部屋から出|部屋に(?:こも|い|お)|外に出(?:な|られ|れ)"
    r"|不登校|学校に行(?:か|け)|働いて(?:い|お)(?:ない|ません|らん)|仕事(?:を|も)?(?:して(?:い|お)(?:ない|ません|らん)|辞め|やめ)"
    r"|無職|ニート|出てこ"
)
# Only a link word attaches an age to the person after it: in elderly typing a space separates
# 「息子は48　私は76」, so 48 is not 私's.
_AFTER_LINK = re.compile(
    r"(?:\s?(?:の|た|ている|てる|になる|になった|になります|になりました|になっている|になってる)\s?)?"
    r"(?:うちの|我が家の|わが家の)?(?:一人|ひとり|上の|下の|末の)?"
)
# Between a person word and a bare number: only particles (息子は45, 息子の年齢は今45).
_GAP_RE = re.compile(
    r"(?:さん|くん|君|ちゃん|様)?(?:の(?:年齢|歳|とし|年)|は|が|も|って|、|,|\(|\s|今年で|今年"
    r"|今|いま|現在|もう|で)*"
)


def _clamp(lo: int, hi: int) -> tuple[int, int]:
    lo = max(0, min(lo, MAX_AGE))
    hi = max(0, min(hi, MAX_AGE))
    return (lo, hi) if lo <= hi else (hi, lo)


def _hira_value(m: re.Match[str]) -> int:
    tens = _HTENS[m.group("ht")] if m.group("ht") else 1
    ones = _HONES[m.group("ho")] if m.group("ho") else 0
    return tens * 10 + ones


def _with_modifiers(t: str, start: int, end: int, n: int) -> tuple[_Cand, bool, bool]:
    """Apply prefix/suffix markers around an exact age N -> (cand, strong marker?, suffix?)."""
    lo, hi, strong = n, n, False
    head = t[max(0, start - 8) : start]
    for regex, band, is_strong in (
        (_PRE_SOON, (-1, 0), True),
        (_PRE_THIS, (0, 0), True),
        (_PRE_NEXT, (-1, -1), True),
        (_PRE_ABOUT, (-2, 2), False),
    ):
        pm = regex.search(head)
        if pm:
            lo, hi, strong = n + band[0], n + band[1], is_strong
            start -= len(head) - pm.start()
            break
    sm = _SUFFIX.match(t, end)
    if sm:
        kind = sm.lastgroup or ""
        lo, hi = {
            "little": (n, n + 3),
            "over": (n, n + 4),
            "exceed": (n, n + 4),
            "under": (n - 3, n - 1),
            "soon": (n - 1, n),
            "near": (n - 3, n),
            "atleast": (n, n + 24),
            "below": (n - 10, n - 1),
            "atmost": (n - 10, n),
            "about": (n - 2, n + 2),
        }[kind]
        strong = strong or kind in _STRONG_SUFFIX
        end = sm.end()
    lo, hi = _clamp(lo, hi)
    return _Cand(lo, hi, start, end, "unit"), strong, sm is not None


def _candidates(t: str, expecting_age: bool) -> list[_Cand]:
    out: list[_Cand] = []

    for m in _RANGE_RE.finditer(t):
        a, b = int(m.group("n")), int(m.group("m"))
        if a < b <= MAX_AGE and b - a <= 20:
            out.append(_Cand(a, b, m.start(), m.end(), "range"))

    for regex, hira in ((_UNIT_RE, False), (_HUNIT_RE, True)):
        for m in regex.finditer(t):
            n = _hira_value(m) if hira else int(m.group("n"))
            if n <= MAX_AGE:
                out.append(_with_modifiers(t, m.start(), m.end(), n)[0])

    for regex, decade_hira in ((_DECADE_RE, False), (_HDECADE_RE, True), (_MISOJI_RE, None)):
        for m in regex.finditer(t):
            if decade_hira is None:
                n = kanji_to_int(m.group("k")) or 0
            else:
                n = _hira_value(m) if decade_hira else int(m.group("n") or m.group("n2"))
            if n % 10 or not 10 <= n <= 90:
                continue
            pos = m.groupdict().get("pos") or m.groupdict().get("pos2")
            lo, hi = (n + _POS_BAND[pos][0], n + _POS_BAND[pos][1]) if pos else (n, n + 9)
            out.append(_Cand(lo, hi, m.start(), m.end(), "decade"))

    for m in _BAND_RE.finditer(t):
        if m.group("n"):
            n = int(m.group("n"))
            lo, hi = n - 2, n + 2
        else:
            lo, hi = _BANDS[m.group(0)]
        out.append(_Cand(lo, hi, m.start(), m.end(), "band"))

    for m in _WORD_RE.finditer(t):
        c = _with_modifiers(t, m.start(), m.end(), _WORDS[m.group(0)])[0]
        c.kind = "word"
        out.append(c)

    for m in _SCHOOL_WORD_RE.finditer(t):
        lo, hi = _SCHOOL_WORDS[m.group(0)]
        out.append(_Cand(lo, hi, m.start(), m.end(), "school"))
    for regex, long_form in ((_SCHOOL_LONG_RE, True), (_SCHOOL_SHORT_RE, False)):
        for m in regex.finditer(t):
            s = _SCHOOL_LONG_KEY[m.group("s")] if long_form else m.group("s")
            year = int(m.group("n"))
            if not long_form:
                before = t[m.start() - 1] if m.start() else ""
                if before and _IDEOGRAPH.match(before) and before not in _GRADE_OK_BEFORE:
                    continue
            if year > _SCHOOL_MAXYEAR[s] or (not long_form and s == "大" and year > 4):
                continue
            base = _SCHOOL_BASE[s]
            out.append(_Cand(base + year, base + year + 1, m.start(), m.end(), "school"))

    for m in _SCHOOL_ATTENDED_RE.finditer(t):
        if m.group("attends") or m.group("now"):
            lo, hi = kinship().school_stages[m.group("s").replace("小学校", "小学").replace("中学校", "中学")]
            if m.group("entered"):
                hi = lo + 1  # entered this spring: the first year
            out.append(_Cand(lo, hi, m.start("s"), m.end(), "school"))

    for m in _SCHOOL_HIRA_RE.finditer(t):
        s = _SCHOOL_HIRA_KEY[m.group("s")]
        raw = m.group("n")
        year = int(raw) if raw.isdigit() else _HIRA_DIGIT[raw]
        if year <= _SCHOOL_MAXYEAR[s]:
            out.append(_Cand(_SCHOOL_BASE[s] + year, _SCHOOL_BASE[s] + year + 1, m.start(), m.end(), "school"))

    bare_regexes = [_BARE_RE, _HBARE_RE]
    for regex in bare_regexes:
        for m in regex.finditer(t):
            bare = _bare(t, m, expecting_age)
            if bare is not None:
                out.append(bare)
    return out


def _bare(t: str, m: re.Match[str], expecting_age: bool) -> _Cand | None:
    groups = m.groupdict()
    if groups.get("n"):
        n: int | None = int(groups["n"])
    elif groups.get("k"):
        run = groups["k"]
        before = t[m.start() - 1] if m.start() else ""
        if before and _IDEOGRAPH.match(before) and before not in _KANJI_BARE_OK_BEFORE:
            return None
        if len(run) == 2 and "十" not in run and "百" not in run and "〇" not in run:
            return None  # 五六 = "five or six", not 56
        n = kanji_to_int(run)
        if n is None or n < 10:
            return None
    else:
        n = _hira_value(m)
    if n is None or n > 100:
        return None
    if t.startswith(_HIRA_COUNTERS, m.end()):
        return None  # 20ねん, 3かげつ: hiragana counters, not ages
    c, strong, suffixed = _with_modifiers(t, m.start(), m.end(), n)
    # A marker (過ぎ, くらい) already ends the number; otherwise demand a clean ending.
    if _ENUMERATION.match(t, c.end) or not (suffixed or _BARE_END.match(t, c.end)):
        return None
    if n < 10 and not expecting_age:
        return None
    # 45になります: "turning N" is about age even without a person word.
    strong = strong or (n >= 10 and _TURNING.match(t, c.end) is not None)
    closes = _BARE_CLOSES.match(t, c.end) is not None
    if 13 <= n <= 99 and (
        _BARE_SELF_NOUN.match(t, c.end) or (_SENTENCE_START.search(t, 0, c.start) and _BARE_COPULA.match(t, c.end))
    ):
        strong = True  # 「21のニートっす」「27の男です」「…。四十一なんじゃけど」
    if 13 <= n <= 99 and (
        _BARE_NOW.search(t, 0, c.start)
        or (closes and c.start > 0)
        or (c.start == 0 and not closes and _BARE_END.match(t, c.end))
    ):
        strong = True
    c.kind = "bare"
    c.weak = not (strong or expecting_age)
    return c


def _resolve(cands: list[_Cand]) -> list[_Cand]:
    """Non-overlapping candidates, earliest first, longest wins a tie."""
    kept: list[_Cand] = []
    for c in sorted(cands, key=lambda c: (c.start, -(c.end - c.start))):
        if kept and c.start < kept[-1].end:
            continue
        kept.append(c)
    return kept


def _merge_ranges(t: str, cands: list[_Cand]) -> list[_Cand]:
    """30代後半〜40代前半 -> one band 36..43."""
    out: list[_Cand] = []
    for c in cands:
        if out:
            p = out[-1]
            joined = _RANGE_JOIN.fullmatch(t, p.end, c.start)
            if (
                joined
                and p.kind in ("decade", "unit")
                and c.kind in ("decade", "unit")
                and p.lo <= c.lo
                and c.hi - p.lo <= 30
            ):
                out[-1] = _Cand(p.lo, max(p.hi, c.hi), p.start, c.end, "range")
                continue
        out.append(c)
    return out


_SELF_NOUN_AFTER = re.compile(
    r"(?:過ぎ|すぎ)?の?(?:ひきこもり|引きこもり|ニート|無職|独身|当事者)(?:です|でした|じゃ|だよ|。|$)"
)
# 「家におる18です」「実家に戻って今は23です」: a bare age said of the one whose days these are.
_BARE_DESU_AFTER = re.compile(r"(?:歳|才|さい)?(?:です|でございます|になりました|になります)(?:[。!、]|$)")
_SELF_BARE_BEFORE = re.compile(r"(?:今は|いまは|今|いま|現在|(?<=[るたいん]))$")
_OBLIQUE_AFTER = re.compile(r"(?:に|と|から|を|へ|より|にも|とも|には|とは)(?!して|しては|ついて)")


def _person_spans(t: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.lastgroup or "") for m in _PERSON_RE.finditer(t)]


def _attach(t: str, c: _Cand, win_start: int, persons: list[tuple[int, int, str]]) -> tuple[int, int, str] | None:
    """The person word (start, end, class) this age belongs to (see module docstring), or None."""
    link = _AFTER_LINK.match(t, c.end)
    pos = link.end() if link else c.end
    after = [p for p in persons if p[0] == pos]
    if after:
        p = after[0]
        # 45歳の私の息子: the possessor yields to the noun it modifies.
        # But 中2の息子の母です: a parent of the concerned is the writer, and the age stays the son's.
        nxt = [
            q
            for q in persons
            if q[0] == p[1] + 1
            and t[p[1] : p[1] + 1] == "の"
            and not (p[2] == "concerned" and q[2] in ("parent", "parent_combo"))
        ]
        return nxt[0] if nxt else p
    if _SELF_NOUN_AFTER.match(t, pos):
        return (c.end, c.end, "self")  # 50過ぎのひきこもりです: the writer's own
    # A person said as an object or a source (親に言われて, 母と暮らして) does not own an age
    # said later in the sentence (…今は23です).
    inside = [p for p in persons if p[0] >= win_start and p[1] <= c.start and not _OBLIQUE_AFTER.match(t, p[1])]
    if not inside:
        if (
            _BARE_DESU_AFTER.match(t, c.end)
            and _SELF_BARE_BEFORE.search(t, max(0, c.start - 3), c.start)
            and not any(p[1] <= c.start and p[2] not in ("self", "parent") for p in persons)
            # something told before it in the sentence (「いま16歳です」 alone answers for anyone)
            and c.start - max((m.end() for m in _SENTENCE_END.finditer(t, 0, c.start)), default=0) >= 6
        ):
            return (c.end, c.end, "self")  # 家におる18です / 実家に戻って今は23です, nobody else named
        return None
    plain = [p for p in inside if t[p[1] : p[1] + 1] != "の"]
    p = (plain or inside)[-1]
    if c.weak and not _GAP_RE.fullmatch(t, p[1], c.start):
        return None
    return p


def _focus(t: str, scored: list[tuple[_Cand, str | None, str]]) -> list[tuple[_Cand, str | None, str]]:
    """Of several ages of concerned people (上の娘は30…下の息子が26…), the one the message is about:
    the person named as the subject of the consultation (相談したいのは息子, 息子のことで), else the
    one whose sentence tells the withdrawal (下の息子が26で家にいます)."""
    concerned = [s for s in scored if s[1] == "concerned"]
    if len(concerned) < 2 or len({word for _, _, word in concerned}) < 2:
        return scored
    named = {m.group("word") or m.group("word2") for m in _FOCUS_RE.finditer(t)}
    chosen = [s for s in concerned if s[2] in named]
    if not chosen:
        chosen = [s for s in concerned if _WITHDRAWN_RE.search(_sentence_of(t, s[0]))]
    return chosen if chosen and len(chosen) < len(concerned) else scored


def _sentence_of(t: str, c: _Cand) -> str:
    start = max((m.end() for m in _SENTENCE_END.finditer(t, 0, c.start)), default=0)
    end = next((m.start() for m in _SENTENCE_END.finditer(t, c.end)), len(t))
    return t[start:end]


def extract_age(text: str, *, expecting_age: bool = False, concerned: Kin | None = None) -> AgeMatch | None:
    """Age band of the person concerned, or None. See the module docstring for the rules.

    `concerned` is the relative the consultation is known to be about (夫, from an earlier
    message): an age said of that relative (夫は46) is theirs whoever else is named with an age
    (私は44, 子どもは中学生)."""
    spaced = normalize(text)
    if not spaced:
        return None
    t, at = _glue(spaced)
    cands = _merge_ranges(t, _resolve(_candidates(t, expecting_age)))
    if not cands:
        return None
    persons = _person_spans(t)
    writer_is_parent = bool(_CHILD_RE.search(t) or _PARENT_WRITER_RE.search(t)) or any(
        p[2] == "parent_combo" for p in persons
    )

    scored: list[tuple[_Cand, str | None, str]] = []
    prev_end = 0
    for c in cands:
        sentence = 0
        for sm in _SENTENCE_END.finditer(t, prev_end, c.start):
            sentence = sm.end()
        win_start = max(prev_end, sentence)
        prev_end = c.end
        if _PAST_RE.match(t, c.end) or _GENERAL_RE.match(t, c.end):
            continue
        person = _attach(t, c, win_start, persons)
        if c.weak and person is None:
            continue
        scored.append((c, person[2] if person else None, t[person[0] : person[1]] if person else ""))

    if concerned is not None:
        theirs = [c for c, _who, word in scored if word and kinship().kin_of(_bare_kin(word)) == concerned]
        # An age said now of no one in particular (今は46歳になりました after 息子が36歳で辞めて) is
        # the person's now, unless the relative's own age falls inside it (息子は51で…もう五十を過ぎとる).
        now = [c for c, who, _word in scored if who is None and _said_now(t, c)]
        if theirs and not any(n not in theirs and not (n.lo <= theirs[0].lo <= theirs[0].hi <= n.hi) for n in now):
            c = theirs[0]
            start, end = at[c.start], at[c.end - 1] + 1
            return AgeMatch(c.lo, c.hi, start, end, spaced[start:end], "concerned")
    current = [(c, who, word) for c, who, word in scored if who not in ("parent", "parent_combo") and _said_now(t, c)]
    if len(scored) > 1 and current:
        scored = current
    scored = _focus(t, scored)
    chosen, owner = next(((c, who) for c, who, _ in scored if who == "concerned"), (None, None))
    if chosen is None:
        skip = {"parent", "parent_combo"} | ({"self", "spouse"} if writer_is_parent else set())
        chosen, owner = next(((c, who) for c, who, _ in scored if who not in skip), (None, None))
    if chosen is None:
        return None
    start, end = at[chosen.start], at[chosen.end - 1] + 1
    return AgeMatch(chosen.lo, chosen.hi, start, end, spaced[start:end], _OWNERS.get(owner or ""))


def _said_now(t: str, c: _Cand) -> bool:
    """The age is said as today's (今は46, 36になった今も), not as when something began."""
    return bool(_CURRENT_BEFORE.search(t, max(0, c.start - 5), c.start) or _CURRENT_AFTER.match(t, c.end))


def _bare_kin(word: str) -> str:
    """The kin word inside a person span (うちの息子 → 息子, 息子さん → 息子)."""
    return re.sub(r"^(うちの|我が家の|わが家の|上の|下の|末の)|(さん|くん|君|ちゃん|様)$", "", word)


# Elderly typing puts a space after every word (四十を 過ぎて, 四十一に なる, 七十八に なります):
# the spaces inside an age phrase are dropped before reading it, and offsets mapped back.
_GLUE = re.compile(
    r"(?<=[〇一二三四五六七八九十百0-9])\s+(?=[をにのはも歳才代])"
    r"|(?<=[をにはも])\s+(?=過ぎ|すぎ|超え|越え|こえ|なる|なっ|なり|近)"
    r"|(?<=過ぎた)\s+(?=\S)"
)


def _glue(t: str) -> tuple[str, list[int]]:
    """`t` without the spaces inside age phrases, and for each kept character its index in `t`."""
    drop = {i for m in _GLUE.finditer(t) for i in range(m.start(), m.end())}
    at = [i for i in range(len(t)) if i not in drop]
    return "".join(t[i] for i in at), at


# A spouse's age is the writer's side only when a parent writes; the caller has the context.
_OWNERS = {"concerned": "concerned", "self": "writer"}
