"""Pick up what people volunteer in their own words: who writes, age, situation, needs.

`extract_profile` is pure: it takes the message text, the NLU entities and the question
the bot just asked, and returns only what this message says. The action layer merges it
into slots and never asks again for what was said or declined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import yaml

from bot.language.age import AgeMatch, extract_age
from bot.language.facts import Fact, Strength, corrected_part, fact_from_slots, is_correction, merge_fact
from bot.language.kinship import Kin, alternation, kinship, school_stage_band
from bot.language.normaliser import normalize
from bot.language.onset import read_onset
from bot.language.writer import (
    WriterReading,
    names_someone_else,
    person_before,
    read_writer,
    tells_own_life,
    tells_withdrawal,
    withdrawal_subjects,
)
from bot.paths import RESOURCES

_JA_SPACE = re.compile(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])")

LEXICON_PATH = RESOURCES / "profile_lexicon.yml"
RELATIONS = ("self", "family", "other")
NEED_KEYS = ("listen", "ibasho", "work", "school", "health", "living", "family")
# Answers to "skip this question" buttons and words; the intents carry most of them.
DECLINED = "declined"
UNKNOWN = "unknown"
MAX_SITUATION_CHARS = 300
# How much more one reading of who writes must weigh than the next for the bot to act on it.
CLEAR_MARGIN = 2.0
# Roles a writer states of themself (bot/resources/profile_lexicon.yml, writer_family).
_SAID_ROLES = frozenset(
    {"母", "父", "母親", "父親", "はは", "ちち", "祖母", "祖父", "おばあちゃん", "おじいちゃん", "家族"}
)

_SUBJECT_AFTER = (
    r"(?=\s*(の(?!頃|ころ|時|とき|時代|友|知り合い|ような|様な)|[がはもをでとにへやっ、,(/]|について"
    r"|\s|です|じゃ|$))"
)
# The writer's own introduction (「30歳の兄です」「72の主婦です」「50代の会社員です」): the writer's age.
_WRITER_ROLE_AGE = re.compile(
    r"\d+\s?(歳|才|代)?(前半|後半|半ば|なかば)?の(一人|ひとり)?(兄|姉|弟|妹|娘|息子|母|父|母親|父親|妻|夫|一人っ子|ひとりっ子|"
    r"長男|長女|次男|次女|末っ子)(です|として|ですが|で(、|す))"
    r"|\d+\s?(歳|才|代)?(前半|後半|半ば|なかば)?\s?の\s?(主婦|主夫|会社員|パート|自営業|公務員|年金暮らし|者|もん|"
    r"年寄り|年寄|としより|老人|ばあさん|じいさん|ばあちゃん|じいちゃん|おばあちゃん|おじいちゃん|婆|爺|男|女|男性|女性)"
    r"(です|ですが|でございます|であります|じゃ|。)"
    # A signature: 「(59歳・妻)」「（70代/母）」
    r"|\d+\s?(歳|才|代)?\s?[・/／、,]\s?(妻|夫|母|父|母親|父親|姉|兄|妹|弟|娘|息子|祖母|祖父)\s?[)）]"
)
_BARE_AGE = re.compile(
    r"^\s?(いま|今|今年で)?\s?(はたち|\d{1,2}\s?(歳|才|さい)?)\s?(です|でした|になります|だよ|じゃ|よ|で)?[。!.]*$"
)
# A family member whose days are fine (上の娘は30で、ちゃんと働いとります): not the person concerned.
_NOT_WITHDRAWN = re.compile(
    r"^[^。、]{0,3}[、,]?\s?(ちゃんと|普通に|元気に|きちんと)?(働い(て(い|お)?(ます|る)|とります|とる|てます)|就職して|結婚して|独立して|家を出て|学校に(は)?(行って|通って)(い)?(ます|る))"
)
_THIRD_PERSON_HONNIN = re.compile(r"(?<!ご)本人(は|が|に|を|の(?!私|僕|自分)|抜き|も)")
_OWNER_BEFORE = r"(うちの|うちは、?|私の|わたしの|自分の|じぶんの|僕の|俺の)"
_SCHOOL_YEAR = re.compile(r"(高校|中学|大学|小学|専門学校|[中高大小])\s*$")
# 息子のことで / 娘です (an answer or a correction): said to be whom the message is about.
_ABOUT = re.compile(
    r"\s*(のこと|について|の件|に関して"
    # a name between (甥の翔太のことです), never a friend or a role (息子の友達のことで)
    r"|の(?!友|知|同|先|彼|担|後|上司|部下|会社|学校|職場|近所|隣)[\u4e00-\u9fff\u30a0-\u30ffぁ-ん]{1,4}?(くん|君|ちゃん|さん)?のこと|(です|でした|なんです|じゃ|や|だよ)(?=\s*([。!！、,.]|$))"
    r"|(は|が|も)\s?(今年で|もう|現在|今)?\s?[\d〇一二三四五六七八九十]{1,3}\s?(歳|才)?\s?(に\s?(なる|なり|なった)|です|で))"
)
_QUOTE = re.compile(r"「[^「」]{1,200}」")
# What someone said, reported without brackets (…そうでもせんと自分は置いていかれる言うんよ, 俺なんか
# おらん方がええと言います): the one who says 自分 or 俺 there is not the writer.
_REPORTED_ME = re.compile(
    r"(自分|じぶん|俺|おれ|オレ|僕|ぼく|わし)(?=[^、。「」]{0,30}?(?:って|と|て)?(?:言う|言って|言い(?:ます|よる|おる|よった)|言うて|言うとる|言よる|ゆうて|ゆうとる)(?!たい|たく|にく|づら|わけ|こと))"
)

# A space beside a kanji (の 男 / 男 です); between two kana words (むすめ　さんじゅう) it stays.
_WORD_SPACE = re.compile(
    r"(?<=[\u4e00-\u9fff々])[ \u3000]+(?=[\u3041-\u30ff\u4e00-\u9fff々])"
    r"|(?<=[\u3041-\u30ff])[ \u3000]+(?=[\u4e00-\u9fff々])"
)
_ERA = re.compile(r"(平成|令和|昭和|西暦|H|R|S)\s*$")


@dataclass(frozen=True)
class ProfileUpdate:
    relation: str | None = None
    relation_detail: str | None = None
    age_min: int | None = None
    age_max: int | None = None
    duration_years: float | None = None
    status: tuple[str, ...] = ()
    situation_text: str | None = None
    needs: tuple[str, ...] = ()
    relation_strength: Strength = Strength.INFERRED
    concerned: str | None = None  # 息子, 妹 … as the writer named the person concerned
    age_strength: Strength = Strength.INFERRED
    age_owner: str | None = None  # "concerned", "writer" or None (see bot.language.age.AgeMatch.owner)
    correction: bool = False  # 「いえ、娘です」「45じゃなくて54です」
    relation_form: bool = False  # the relation comes from a form only (70の男です), see read_relation

    @property
    def empty(self) -> bool:
        return self == ProfileUpdate()


@dataclass(frozen=True)
class _Lexicon:
    concerned_family: tuple[tuple[re.Pattern[str], str], ...]
    writer_family: tuple[tuple[re.Pattern[str], str], ...]
    other: tuple[tuple[re.Pattern[str], str, Strength], ...]
    self_stated: tuple[tuple[re.Pattern[str], bool], ...]  # (pattern, a form only: see the lexicon)
    self_inferred: tuple[re.Pattern[str], ...]
    status: tuple[tuple[re.Pattern[str], str], ...]
    duration_context: re.Pattern[str]
    needs: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    self_first: tuple[tuple[re.Pattern[str], bool], ...] = ()
    own_family: re.Pattern[str] = re.compile("$^")
    first_person_situation: re.Pattern[str] = re.compile("$^")
    third_party: re.Pattern[str] = re.compile("$^")
    need_markers: re.Pattern[str] = re.compile("$^")
    writer_subject: re.Pattern[str] = re.compile("$^")
    concerned_word: re.Pattern[str] = re.compile("$^")
    worry: re.Pattern[str] = re.compile("$^")


@lru_cache(maxsize=1)
def lexicon() -> _Lexicon:
    raw = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    rel = raw["relation"]

    def pairs(items: Iterable[Mapping[str, str]], key: str) -> tuple[tuple[re.Pattern[str], str], ...]:
        return tuple((re.compile(i["pattern"]), i[key]) for i in items)

    concerned = tuple(
        (re.compile(f"({_OWNER_BEFORE}{k.pattern})|({k.pattern}{_SUBJECT_AFTER})"), k.writer)
        for k in kinship().kin
        if not k.subject_only
    )
    return _Lexicon(
        concerned_family=concerned,
        writer_family=pairs(rel["writer_family"], "writer"),
        other=tuple(
            (
                re.compile(i["pattern"]),
                i["writer"],
                Strength.INFERRED if i.get("strength") == "inferred" else Strength.STATED,
            )
            for i in rel["other"]
        ),
        self_stated=tuple((re.compile(i["pattern"]), bool(i.get("form"))) for i in rel["self_stated"]),
        self_inferred=tuple(re.compile(i["pattern"]) for i in rel["self_inferred"]),
        self_first=tuple((re.compile(i["pattern"]), bool(i.get("form"))) for i in rel["self_first"]),
        own_family=re.compile(rel["own_family"]),
        first_person_situation=re.compile(raw["first_person_situation"]),
        third_party=re.compile(raw["third_party"]),
        status=pairs(raw["status"], "label"),
        duration_context=re.compile(raw["duration_context"]),
        needs={k: re.compile(v) for k, v in raw["needs"].items()},
        need_markers=re.compile(raw["need_markers"]),
        writer_subject=re.compile(raw["writer_subject"]),
        concerned_word=re.compile(raw["concerned_word"]),
        worry=re.compile(raw["worry"]),
    )


def _entity_values(entities: Sequence[Mapping[str, Any]] | None, name: str) -> list[Any]:
    return [e.get("value") for e in entities or () if e.get("entity") == name and e.get("value") is not None]


@dataclass(frozen=True)
class RelationReading:
    relation: str | None = None
    detail: str | None = None  # the writer's role as staff would write it (親, 母, 民生委員 …)
    strength: Strength = Strength.INFERRED
    concerned: str | None = None  # the kin word for the person concerned (息子, 妹 …)
    mentioned: bool = False  # family only because a relative is mentioned (夫は…), not said to be concerned


def read_relation(text: str) -> RelationReading:
    """Who writes, how clearly it was said, and the word for the person concerned.

    The lexicon's reading is checked against whose withdrawal the message describes
    (bot.language.writer): where that reading is clear and differs, it wins; where the two
    conflict and neither is clear, nothing is inferred, and the bot asks."""
    # What others said, quoted (「うちの子は働かんで家におるけぇ」と…), is not who writes.
    unquoted = _REPORTED_ME.sub("その人", _QUOTE.sub("「」", text))
    if len(unquoted) >= 10:
        text = unquoted
    base = _lexicon_relation(text)
    writer = read_writer(text)
    if base.mentioned and base.relation == "family" and _withdrawal_of_kin(writer):
        # 「息子が部屋から出てきません」: the relative mentioned is whose withdrawal is told.
        base = RelationReading(base.relation, base.detail, Strength.STATED, base.concerned)
    elif base.mentioned and base.relation == "self" and _someone_elses_days(writer):
        # 「七十の男です。三十四になる息子が…こもっとります」: the introduction says who writes,
        # not who is concerned; the reading of whose days are told decides, or the bot asks.
        base = RelationReading()
    return reconcile(base, writer)


def _someone_elses_days(writer: WriterReading) -> bool:
    """A clear cue (a subject, a relative named beside the withdrawal, a role) that the days told
    are someone else's, and more of them than of the writer's own."""
    others = [c for c in writer.cues if c.relation != "self"]
    return any(c.weight >= 1.5 for c in others) and sum(c.weight for c in others) > writer.score("self")


def _withdrawal_of_kin(writer: WriterReading) -> bool:
    return any(c.relation == "family" and c.why.startswith(("subject:", "own:")) for c in writer.cues)


def reconcile(base: RelationReading, writer: WriterReading) -> RelationReading:
    """One verdict from the lexicon's reading and the cue-weighing one (see read_relation)."""
    if writer.relation is None:
        contrary = max((writer.score(r) for r in RELATIONS if r != base.relation), default=0.0)
        # A relative only mentioned gives way to a reading of the writer's own days, not to a hint.
        enough = writer.score(base.relation) + (0.5 if base.mentioned else 0.0) if base.relation else 0.0
        if base.relation and base.strength < Strength.STATED and contrary > max(enough, writer.score(base.relation)):
            return RelationReading()  # an inference the message's own cues speak against
        return base
    if base.relation == writer.relation or base.relation is None and writer.margin < CLEAR_MARGIN:
        if base.relation is None:
            return RelationReading(writer.relation, None, Strength.INFERRED, writer.concerned_word)
        return base
    # The writer's role said in so many words (母です) gives way only to a very clear reading.
    # So does a relative named as whom the message is about (夫のことで相談させてください).
    said = base.relation == "family" and (
        base.detail in _SAID_ROLES or (base.strength >= Strength.STATED and not base.mentioned)
    )
    needed = CLEAR_MARGIN + 1 if said else CLEAR_MARGIN
    if writer.margin >= needed:
        detail = base.detail if base.relation == writer.relation else None
        concerned = writer.concerned_word if writer.relation == "family" else None
        return RelationReading(
            writer.relation, detail, Strength.STATED if writer.margin >= 3 else Strength.INFERRED, concerned
        )
    return RelationReading()  # the two readings disagree and neither is clear: ask


def _lexicon_relation(text: str) -> RelationReading:
    text = normalize(text)
    reading = _lexicon_reading(text)
    if (reading.relation is None or reading.mentioned) and _WORD_SPACE.search(text):
        # Elderly typing spaces every word (七十六の 男 です): read the words together too, and
        # take what that says when it is more than a mention.
        joined = _lexicon_reading(_WORD_SPACE.sub("", text))
        if joined.relation and (reading.relation is None or not joined.mentioned or joined.strength > reading.strength):
            reading = joined
    return reading


def _lexicon_reading(text: str) -> RelationReading:
    lex = lexicon()
    said = [form for p, form in lex.self_first if p.search(text)]
    if said and not (all(said) and _framed_family(text, lex)):
        # (A self-introduction, 72の主婦です, gives way to a relative named as whom the message
        # is about: 主人のことで聞いていただけますか.)
        return RelationReading("self", None, Strength.STATED, mentioned=all(said))
    if not lex.own_family.search(text):
        first_kin = min((m.start() for p, _w in lex.concerned_family for m in [p.search(text)] if m), default=None)
        for pattern, writer, strength in lex.other:
            m = pattern.search(text)
            if m and not (strength < Strength.STATED and first_kin is not None and first_kin < m.start()):
                return RelationReading("other", writer, strength)
    for pattern, writer in lex.writer_family:
        m = pattern.search(text)
        if m:
            kin = _first_kin(text)
            return RelationReading("family", m.expand(writer) if "\\" in writer else writer, Strength.STATED, kin)
    for pattern, writer in lex.concerned_family:
        m = pattern.search(text)
        if m:
            # うちの息子 / 息子のことで say whom the message is about; 夫は… alone only names a relative.
            framed = bool(m.group(1)) or bool(_ABOUT.match(text, m.end()))
            return RelationReading(
                "family",
                writer,
                Strength.STATED if framed else Strength.INFERRED,
                _first_kin(text),
                mentioned=not framed,
            )
    said = [form for p, form in lex.self_stated if p.search(text)]
    if said:
        return RelationReading("self", None, Strength.STATED, mentioned=all(said))
    if any(p.search(text) for p in lex.self_inferred):
        return RelationReading("self", None, Strength.INFERRED)
    if lex.first_person_situation.search(text) and not lex.third_party.search(text):
        # A situation told with nobody else in it is the writer's own (「部屋から出れん。22歳」).
        return RelationReading("self", None, Strength.INFERRED)
    return RelationReading()


def _framed_family(text: str, lex: _Lexicon) -> bool:
    """Is a relative named as whom the message is about (うちの息子, 主人のことで)?"""
    for pattern, _writer in lex.concerned_family:
        m = pattern.search(text)
        if m and (m.group(1) or _ABOUT.match(text, m.end())):
            return True
    return False


def detect_relation(text: str) -> tuple[str | None, str | None]:
    """(relation, detail) from the lexicon; detail is the writer's role (親, 母, 民生委員 …)."""
    r = read_relation(text)
    return r.relation, r.detail


_KIN = re.compile(f"({alternation(kinship().kin_words(subject_only=False))})")


def _first_kin(text: str) -> str | None:
    """The first relative named; of 主人の兄 or 娘の夫, the one the phrase names (兄, 夫)."""
    m = _KIN.search(text)
    while m is not None:
        head = _KIN.match(text, m.end() + 1) if text[m.end() : m.end() + 1] == "の" else None
        if head is None:
            return m.group(1)
        m = head
    return None


_DURATION = re.compile(
    r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>年|ヶ月|か月|カ月|ケ月|ヵ月)(?P<q>間|以上|近く|くらい|ぐらい|位|ほど|余り|あまり|半)?"
)
_HALF_YEAR = re.compile(r"半年")


def duration_years(text: str) -> float | None:
    """How long the situation has lasted, only where the sentence is about it (not ages or eras)."""
    text = normalize(text)
    lex = lexicon()
    for sentence in re.split(r"[。！？!?\n]", text):
        if not lex.duration_context.search(sentence):
            continue
        for m in _DURATION.finditer(sentence):
            before = sentence[: m.start()]
            if _SCHOOL_YEAR.search(before) or _ERA.search(before):
                continue
            tail = sentence[m.end() : m.end() + 2]
            if tail.startswith("生"):  # 2年生: a school year
                continue
            n = float(m.group("n"))
            if m.group("unit") != "年":
                n = n / 12
            elif m.group("q") == "半":
                n += 0.5
            if 0 < n <= 70:
                return round(n, 1)
        if _HALF_YEAR.search(sentence):
            return 0.5
    return None


def detect_status(text: str) -> tuple[str, ...]:
    text = _JA_SPACE.sub("", normalize(text))  # elderly typing: いえから でません
    return tuple(dict.fromkeys(label for p, label in lexicon().status if p.search(text)))


_CLAUSE_END = re.compile(r"[。！？!?\n]|(?<=[てで])、|けど|けれど|が、")
WRITER_NEEDS_EXCLUDED = ("health", "work")


def _clauses(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _CLAUSE_END.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def detect_needs(
    text: str,
    entities: Sequence[Mapping[str, Any]] | None = None,
    *,
    answering: bool = False,
    writer_is_concerned: bool | None = None,
) -> tuple[str, ...]:
    """Needs said as wishes, questions or worries (「働きたい」「生活費が底をつきそう」), not every
    topic in a story (「仕事を辞めてから」).

    `answering`: the message answers the needs question, so any mention counts.
    `writer_is_concerned`: False when someone else is concerned; then health and work words in a
    clause about the writer (私は心配で眠れません) are the writer's, not the person's needs.
    """
    lex = lexicon()
    spans = _clauses(text)

    def clause_of(pos: int) -> str:
        return next((text[a:b] for a, b in spans if a <= pos < b), text)

    def counts(key: str, start: int) -> bool:
        clause = clause_of(start)
        if (
            writer_is_concerned is False
            and key in WRITER_NEEDS_EXCLUDED
            and lex.writer_subject.search(clause)
            and not lex.concerned_word.search(clause)
        ):
            return False
        return answering or bool(lex.need_markers.search(clause))

    found = [
        e["value"]
        for e in entities or ()
        if e.get("entity") == "need" and e.get("value") in NEED_KEYS and counts(e["value"], int(e.get("start") or 0))
    ]
    for key, pattern in lex.needs.items():
        if any(counts(key, m.start()) for m in pattern.finditer(text)):
            found.append(key)
    return tuple(dict.fromkeys(found))


def extract_profile(
    text: str,
    entities: Sequence[Mapping[str, Any]] | None = None,
    *,
    requested_slot: str | None = None,
    known_relation: str | None = None,
    known_concerned: str | None = None,
) -> ProfileUpdate:
    """What this one message says. `requested_slot` is the question just asked, if any;
    `known_concerned` the relative the consultation is already known to be about.

    A bare number counts as an age only right after the age question; free text counts as
    the situation only right after the situation question.
    """
    norm = normalize(text or "")
    if norm.startswith("/"):
        return _button_update(entities)
    if not norm:
        return ProfileUpdate()

    correction = is_correction(norm)
    # 「45じゃなくて54です」: what is right comes after the correction word.
    said = corrected_part(norm) if correction else norm
    rel, relation, detail, relation_strength = _relation_part(norm, said, entities, known_relation)
    # Only a relative already known to be the person: the first one named in this same message may
    # be anyone (主人(78)と私(75)と、長男(49)の三人で).
    concerned_kin = kinship().kin_of(known_concerned) if known_concerned else None
    age = _age_part(norm, said, entities, requested_slot, correction, relation, concerned_kin)

    status = detect_status(norm)
    duration = duration_years(norm)
    situation_text = None
    if requested_slot == "situation_status" or status or duration is not None:
        situation_text = norm[:MAX_SITUATION_CHARS]

    relation_now = known_relation or relation
    needs = detect_needs(
        norm,
        entities,
        answering=requested_slot == "needs_status",
        writer_is_concerned=None if relation_now is None else relation_now == "self",
    )
    return ProfileUpdate(
        relation=relation,
        relation_detail=detail,
        age_min=age.min,
        age_max=age.max,
        duration_years=duration,
        status=status,
        situation_text=situation_text,
        needs=needs,
        relation_strength=relation_strength,
        concerned=rel.concerned,
        age_strength=age.strength,
        age_owner=age.owner,
        correction=correction,
        relation_form=rel.mentioned and relation == rel.relation,
    )


def _button_update(entities: Sequence[Mapping[str, Any]] | None) -> ProfileUpdate:
    """A button: only its entities count (relation, need), never the payload text."""
    ent_rel = [v for v in _entity_values(entities, "relation") if v in RELATIONS]
    ent_needs = [v for v in _entity_values(entities, "need") if v in NEED_KEYS]
    return ProfileUpdate(
        relation=ent_rel[0] if ent_rel else None,
        needs=tuple(dict.fromkeys(ent_needs)),
        relation_strength=Strength.BUTTON if ent_rel else Strength.INFERRED,
    )


def _relation_part(
    norm: str, said: str, entities: Sequence[Mapping[str, Any]] | None, known_relation: str | None
) -> tuple[RelationReading, str | None, str | None, Strength]:
    """(the reading, relation, detail, strength): the words first, DIET's entity only with them."""
    rel = read_relation(said)
    if rel.relation is None and said != norm:
        rel = read_relation(norm)
    relation, detail, relation_strength = rel.relation, rel.detail, rel.strength
    if rel.mentioned and relation == "self":
        # 「わたしは八十一です」 then 「娘のことで」: a self-introduction is not said to be the subject
        # of the consultation, so it stays an inference a later statement can correct.
        relation_strength = min(relation_strength, Strength.INFERRED)
    if known_relation and _BARE_AGE.match(said):
        # 「45歳です」「54です」 answer the age: only in a first message is it a self-introduction.
        relation, detail, relation_strength = None, None, Strength.INFERRED
    if relation is None:
        relation = _diet_relation(norm, entities)
    return rel, relation, detail, relation_strength


_NOBODY_AFTER = re.compile(
    r"(?:さん)?(?:も|が|は)?(?:誰も|だれも|一人も|ひとりも)?(?:いない|いません|おらん|おりません|おらず|いなくて|いず|居ない|居らん)"
)


def _diet_relation(norm: str, entities: Sequence[Mapping[str, Any]] | None) -> str | None:
    """DIET's relation entity, where the words allow it."""
    ent = [
        str(e.get("value"))
        for e in entities or ()
        if e.get("entity") == "relation"
        and e.get("value") in RELATIONS
        # 頼れる身内も友人もいない: a person said not to exist is nobody's relation
        and not _NOBODY_AFTER.match(norm, int(e.get("end") or 0))
    ]
    # 本人 in the third person (「本人は…と言っています」) means someone else writes.
    # DIET's `self` alone is taken only with a first-person cue (not for 「ひきこもりって…」).
    if (
        ent
        and ent[0] == "self"
        and (
            _THIRD_PERSON_HONNIN.search(norm)
            or not (
                lexicon().first_person_situation.search(norm) or any(p.search(norm) for p in lexicon().self_inferred)
            )
        )
    ):
        return None
    # DIET's family / other for a relative or a friend named in passing, in a message that
    # tells the writer's own days (友人にも合わせる顔がない, 母の髪が白く): no guess, the bot asks.
    if ent and ent[0] in ("family", "other") and tells_own_life(norm) and not names_someone_else(norm):
        return None
    return ent[0] if ent else None


@dataclass(frozen=True)
class _AgeReading:
    min: int | None = None
    max: int | None = None
    owner: str | None = None
    strength: Strength = Strength.INFERRED


def _age_part(
    norm: str,
    said: str,
    entities: Sequence[Mapping[str, Any]] | None,
    requested_slot: str | None,
    correction: bool,
    relation: str | None,
    concerned: Kin | None = None,
) -> _AgeReading:
    """The age of the person concerned in this message, whose it is, and how strongly it was said."""
    onset_only = False
    # After 「…じゃなくて」 a bare number is the corrected age (45じゃなくて54です).
    expecting_age = requested_slot == "age_status" or correction
    match = extract_age(said, expecting_age=expecting_age, concerned=concerned)
    if match is None and said != norm:
        match = extract_age(norm, expecting_age=requested_slot == "age_status", concerned=concerned)
    if match is None and not correction:
        ent_min = _entity_values(entities, "age_min")
        ent_max = _entity_values(entities, "age_max")
        if ent_min:
            match = AgeMatch(int(ent_min[0]), int((ent_max or ent_min)[0]), 0, 0, "")
    onset = read_onset(said)
    if correction or (expecting_age and onset is not None and onset.now is None):
        # Answering the age question, 「中2です」 is the age now; only a start with how long it has
        # lasted (「高2で中退して、それから6年」) still gives the age now.
        onset = None
    if onset is not None:
        # 「高校1年で…8年ほど」: the age when it began is not the age now (bot/language/onset.py).
        is_start = match is not None and match.start < onset.span[1] and onset.span[0] < match.end
        # The writer's own age read first (７８歳の母です 息子が４５歳で…やめてから十年): the start
        # and how long it has lasted still give the person's age now.
        writers = (
            match is not None
            and relation != "self"
            and (match.owner == "writer" or bool(_WRITER_ROLE_AGE.match(said, match.start)))
        )
        if match is None or is_start or (writers and onset.now is not None):
            later = extract_age(said[onset.span[1] :])  # 「中2の途中から…いま25になります」
            if later is not None:
                shift = onset.span[1]
                later = replace(later, start=later.start + shift, end=later.end + shift)
            mine = relation == "self"  # the writer's own age is the person's when they write of themselves
            if (
                later is not None
                and (later.owner != "writer" or mine)
                and not (_WRITER_ROLE_AGE.match(said, later.start) and not mine)
            ):
                match = later
            else:
                band = onset.now or (onset.start if onset.school_year else None)
                match = AgeMatch(band[0], band[1], 0, 0, "", "concerned") if band else None
                onset_only = True
    if relation == "family" and (
        match is None or match.owner == "writer" or (said == norm and _WRITER_ROLE_AGE.match(said, match.start))
    ):
        match = _age_of_withdrawn_parent(said) or match  # 父は60代半ばで…家にこもって
    if match is None and relation == "other":
        band = school_stage_band(said)  # 中学校の生徒 / 高校の教員です…クラスの生徒
        if band is not None:
            match = AgeMatch(band[0], band[1], 0, 0, "", "concerned")
    if match is None or _age_of_someone_not_withdrawn(said, match):
        return _AgeReading()
    owner = match.owner
    # The NLU pipeline's reading of whose age it is (GiNZA's parse) wins over the words …
    roles = [
        e.get("role")
        for e in entities or ()
        if e.get("entity") == "age_min" and e.get("role") and e.get("value") == match.min
    ]
    if roles and not correction:
        owner = str(roles[0])
    # … except the writer's own introduction (「30歳の兄です」) and a family member said to be
    # doing fine (「上の娘は30で、ちゃんと働いとります」).
    if _WRITER_ROLE_AGE.match(said, match.start) if said == norm else _WRITER_ROLE_AGE.search(said):
        owner = "writer"
    elif _NOT_WITHDRAWN.search(said[match.end :]) and not tells_withdrawal(said):
        owner = "writer"
    strength = Strength.INFERRED
    if (match.owner == "concerned" or expecting_age or correction) and not onset_only:
        strength = Strength.STATED  # a computed age routes, but is not said back
    return _AgeReading(match.min, match.max, owner, strength)


def _age_of_someone_not_withdrawn(text: str, match: AgeMatch) -> bool:
    """The age is said of one person and the withdrawal of another (利用者さんは80代の女性で、お孫さん
    4人が家にこもっている): it is not the person concerned's, even at the age question."""
    if not match.text or not 0 < match.start <= len(text):
        return False
    who = person_before(text, match.start)
    k = kinship()
    if who is None or who in k.neutral or who in k.first_person:
        return False  # 彼は29歳です: the one the message is about, whatever word named them before
    subjects = {
        _person_key(word)
        for relation, word in withdrawal_subjects(text)
        if word and relation in ("family", "other", "self") and word != "hearsay"
    }
    return bool(subjects) and _person_key(who) not in subjects


def _person_key(word: str) -> str:
    """One key for the ways of naming one person: 親友の弟 / 弟さん → the kin 弟; お孫さん / 孫 → 孫."""
    bare = re.sub(r"^(?:お|ご)|(?:さん|くん|君|ちゃん|様)$", "", word.rsplit("の", 1)[-1])
    kin = kinship().kin_of(bare)
    return kin.key if kin is not None else bare


def _age_of_withdrawn_parent(text: str) -> AgeMatch | None:
    """When the writer's parent is whose withdrawal is told (父は60代半ばで…家にこもって), the
    parent's age is the person concerned's. The age reader never gives a parent's age (70の母です
    is the writer), so it is read again with that parent as the person concerned."""
    parents = {
        word
        for relation, word in withdrawal_subjects(text)
        if relation == "family" and word and (kin := kinship().kin_of(word)) is not None and kin.subject_only
    }
    # The writer's own introduction (40代前半の一人娘です) is left out of the second reading.
    without_writer = _WRITER_ROLE_AGE.sub(lambda m: "、" * len(m.group(0)), text)
    for word in parents:
        found = extract_age(without_writer.replace(word, "本人"))
        if found is not None and found.owner != "writer":
            return AgeMatch(found.min, found.max, 0, 0, "", "concerned")
    return None


# 「中学生です」 then 「二年生です」: a bare grade narrows a school band said before.
_GRADE_ONLY = re.compile(r"^(いま|今)?\s?(\d)\s?(年生|年)(です|になります|になりました|だよ|じゃ|よ)?[。!]*$")
_SCHOOL_BANDS = {(6, 12): 5, (12, 15): 11, (15, 18): 14, (18, 22): 17}


# 「40代です」 then 「後半です」: a bare part of a decade narrows it.
_DECADE_PART_ONLY = re.compile(r"^(前半|初め|半ば|なかば|中盤|後半|終わり)(です|じゃ|だよ|くらい|ぐらい)?[。!]*$")
_DECADE_PARTS = {
    "前半": (0, 3),
    "初め": (0, 3),
    "半ば": (4, 6),
    "なかば": (4, 6),
    "中盤": (4, 6),
    "後半": (6, 9),
    "終わり": (6, 9),
}


def grade_refinement(text: str, age_min: Any, age_max: Any) -> tuple[int, int] | None:
    if age_min is None:
        return None
    part = _DECADE_PART_ONLY.match(normalize(text or ""))
    lo, hi = int(age_min), int(age_max if age_max is not None else age_min)
    if part and lo % 10 == 0 and hi == lo + 9:
        a, b = _DECADE_PARTS[part.group(1)]
        return lo + a, lo + b
    m = _GRADE_ONLY.match(normalize(text or ""))
    base = _SCHOOL_BANDS.get((int(age_min), int(age_max if age_max is not None else age_min)))
    if not m or base is None:
        return None
    grade = int(m.group(2))
    if not 1 <= grade <= 6 or (base != 5 and grade > 4):
        return None
    return base + grade, base + grade + 1


def merge_profile(
    slots: Mapping[str, Any],
    update: ProfileUpdate,
    *,
    text: str = "",
    age_button: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Slot changes for relation and age after one message, by the merge rule (bot.language.facts).

    `slots` are the tracker's current values, `fact_strength` included; the result may hold
    relation, relation_detail, concerned, age_min, age_max and fact_strength.
    """
    strengths = dict(slots.get("fact_strength") or {})
    changes: dict[str, Any] = {}

    cur_rel = fact_from_slots("relation", slots, strengths)
    # A correction overwrites only what it states (「いえ、娘です」), not a guess from its wording
    # (「45じゃなくて54です」 says nothing about who writes).
    corrects_relation = update.correction and update.relation_strength >= Strength.STATED
    new_rel = (
        Fact("relation", update.relation, update.relation_strength, corrects_relation) if update.relation else None
    )
    if update.relation_form and cur_rel is not None and new_rel is not None and cur_rel.value != new_rel.value:
        new_rel = None  # 「私も七十を過ぎて」 after 「息子は…」: a form tells who writes only at the start
    kept_rel = merge_fact(cur_rel, new_rel)
    relation = kept_rel.value if kept_rel else None
    if kept_rel is not None and kept_rel is new_rel:
        changes["relation"] = relation
        strengths["relation"] = int(kept_rel.strength)
        if update.relation_detail:
            changes["relation_detail"] = update.relation_detail
    if update.concerned and relation == "family" and (update.correction or not slots.get("concerned")):
        changes["concerned"] = update.concerned

    band: tuple[int, int] | None = None
    strength = update.age_strength
    if age_button is not None:
        band, strength = age_button, Strength.BUTTON
    elif update.age_min is not None:
        band = (update.age_min, update.age_max if update.age_max is not None else update.age_min)
        if update.age_owner == "writer" and relation in ("family", "other"):
            band = None  # the writer's own age (私も70を過ぎて), not the person's
        elif _another_relative(slots.get("concerned"), update.concerned, text):
            band = None  # 夫のことで… then 小学生の息子が2人いて: the sons' age, not the husband's
    else:
        refined = grade_refinement(text, slots.get("age_min"), slots.get("age_max"))
        if refined is not None:
            band, strength = refined, Strength.STATED
    if band is not None:
        cur_age = fact_from_slots("age", slots, strengths)
        new_age = Fact("age", band, strength, update.correction)
        kept = merge_fact(cur_age, new_age)
        if kept is new_age:
            changes["age_min"], changes["age_max"] = float(band[0]), float(band[1])
            strengths["age"] = int(strength)
    if strengths != dict(slots.get("fact_strength") or {}):
        changes["fact_strength"] = strengths
    return changes


def _another_relative(concerned: Any, named: str | None, text: str) -> bool:
    """The message names a relative other than the person concerned, and not that person."""
    if not concerned or not named:
        return False
    known, new = kinship().kin_of(str(concerned)), kinship().kin_of(named)
    if not (known and new and known.key != new.key):
        return False
    return not any(w in text for w in known.words)


def volunteers_facts(text: str) -> bool:
    """Does the message tell who writes, an age, the situation, a need, a worry, or a story in
    its own words? (then it is information: 「今朝は普通にごはん食べてたので、気にしてないふりを
    しています。それでいいのか分からなくて」 is never "not understood")"""
    u = extract_profile(text)
    return bool(
        u.relation
        or u.age_min is not None
        or u.status
        or u.duration_years is not None
        or u.needs
        or tells_worry(text)
        or _tells_a_story(text)
    )


_JAPANESE = re.compile(r"[\u3041-\u30ff\u4e00-\u9fff々]")
_ASKS_BOT = re.compile(r"[?？]|(ですか|ますか|でしょうか|ませんか|かな|かのう|の\?)[。!！\s]*$")


def _tells_a_story(text: str) -> bool:
    """Two sentences or a long one of Japanese that is not a question to the bot."""
    norm = normalize(text or "")
    letters = len(_JAPANESE.findall(norm))
    sentences = len([p for p in re.split(r"[。！!\n]+", norm) if len(_JAPANESE.findall(p)) >= 6])
    return (letters >= 24 or sentences >= 2) and not _ASKS_BOT.search(norm)


def tells_worry(text: str) -> bool:
    """Does the message tell a worry in words? (then it is information, not thanks or hello)"""
    return bool(lexicon().worry.search(normalize(text or "")))
