"""Read short replies against the question just asked, typed button titles, and steering phrases.

`read_reply` is the deterministic layer ahead of DIET (bot.rasa_plugins.components.DialogueReader wraps it):
  1. a typed option: text that matches, after normalisation, the title of a button just offered
     counts as that button (its payload's intent and entities);
  2. a steering phrase anywhere in the message (折り返し…, 人と話したい, どこに相談…) asks for that
     path, unless it is negated (電話は苦手);
  3. an explicit restart word (最初から, やり直し) restarts; nothing else does;
  4. a closed-class whole message (なし, 特にない, 大丈夫です, いまはいい, 結構です, 言いたくない,
     わからない, はい, いいえ) is read against the question just asked: at an intake or booking
     question it is a skip, at an offer it is a no.
It returns None when DIET should decide. Pure: no I/O besides the cached resource file.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

import yaml

from bot.language.normaliser import normalize
from bot.paths import RESOURCES

RESOURCE = RESOURCES / "replies.yml"

INTAKE_QUESTIONS = frozenset({"relation_status", "age_status", "situation_status", "needs_status"})
# Booking questions where "なし" means "skip this one" (the form then uses its default).
SKIPPABLE_BOOKING_QUESTIONS = frozenset({"nickname", "preferred_slot", "phone", "contact_method"})
# Questions that are offers: a decline is a "no".
OFFERS = frozenset({"recommendation_done", "consent", "confirm", "wants_recommendation"})
CALLBACK_FORM = "callback_form"
CALLBACK_PAYLOAD = "/request_callback"


@dataclass(frozen=True)
class Option:
    """A button as the bot offered it."""

    title: str
    payload: str


@dataclass(frozen=True)
class DialogueContext:
    """What the bot just did, as far as reading the next message needs it."""

    requested_slot: str | None = None
    active_loop: str | None = None
    crisis_active: bool = False
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Reading:
    intent: str
    entities: tuple[tuple[str, str | int | float], ...] = ()
    rule: str = ""


@dataclass(frozen=True)
class _Patterns:
    tail_noise: re.Pattern[str]
    whole: Mapping[str, re.Pattern[str]]
    reassure_like: re.Pattern[str]
    refusal_like: re.Pattern[str]
    put_off_like: re.Pattern[str]
    acknowledge: re.Pattern[str]
    call_time: re.Pattern[str]
    steer: Mapping[str, re.Pattern[str]]
    negation: re.Pattern[str]
    declined_topic: Mapping[str, re.Pattern[str]]
    topic_prefix: re.Pattern[str]
    gibberish_repeated: re.Pattern[str]
    gibberish_latin: re.Pattern[str]
    latin_words: re.Pattern[str]
    closing: Mapping[str, re.Pattern[str]]
    family_gathering: re.Pattern[str]


def _alternation(patterns: Sequence[str]) -> str:
    return "|".join(f"(?:{p})" for p in patterns)


@lru_cache(maxsize=1)
def patterns() -> _Patterns:
    raw = yaml.safe_load(RESOURCE.read_text(encoding="utf-8"))
    whole = {k: re.compile(f"^(?:{_alternation(v)})$") for k, v in raw["whole"].items() if isinstance(v, list)}
    return _Patterns(
        tail_noise=re.compile(raw["tail_noise"]),
        whole=whole,
        reassure_like=re.compile(raw["whole"]["reassure_like"]),
        refusal_like=re.compile(raw["whole"]["refusal_like"]),
        put_off_like=re.compile(raw["whole"]["put_off_like"]),
        acknowledge=re.compile(f"^(?:{raw['whole']['acknowledge']})$"),
        call_time=re.compile(_alternation(raw["call_time"])),
        steer={k: re.compile(_alternation(v)) for k, v in raw["steer"].items() if isinstance(v, list)},
        negation=re.compile(raw["steer"]["negation"]),
        declined_topic={k: re.compile(v) for k, v in raw["declined_topic"].items()},
        topic_prefix=re.compile(raw["topic_prefix"]),
        gibberish_repeated=re.compile(raw["gibberish"]["repeated"]),
        gibberish_latin=re.compile(raw["gibberish"]["latin_only"]),
        latin_words=re.compile(raw["gibberish"]["latin_words"], re.IGNORECASE),
        closing={k: re.compile(_alternation(v) if isinstance(v, list) else v) for k, v in raw["closing"].items()},
        family_gathering=re.compile(raw["family_gathering"]),
    )


def option_key(text: str) -> str:
    """Comparable form of a title or a typed text: normalised, letters and digits only."""
    norm = normalize(text or "").lower()
    return "".join(ch for ch in norm if unicodedata.category(ch)[0] in "LN")


_JA_SPACE = re.compile(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])")
_PAREN = re.compile(r"[(（\[［【「『].*?[)）\]］】」』]")


def _option_keys(title: str) -> set[str]:
    """A title can be typed whole, without its bracketed part, or as the bracketed part alone."""
    keys = {option_key(title), option_key(_PAREN.sub("", title))}
    keys |= {option_key(m.group(0)) for m in _PAREN.finditer(title)}
    return {k for k in keys if k}


def match_option(text: str, options: Sequence[Option]) -> Option | None:
    typed = option_key(text)
    if not typed:
        return None
    exact = [o for o in options if option_key(o.title) == typed]
    if exact:
        return exact[0]
    loose = [o for o in options if typed in _option_keys(o.title)]
    return loose[0] if len(loose) == 1 else None


_PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z0-9_./-]+?)(?P<entities>\{.*\})?$", re.S)


def parse_payload(payload: str) -> Reading | None:
    """`/intent{"entity": "value"}` → Reading (the format Rasa's buttons use)."""
    m = _PAYLOAD.match((payload or "").strip())
    if not m:
        return None
    entities: list[tuple[str, str | int | float]] = []
    if m.group("entities"):
        try:
            data = json.loads(m.group("entities"))
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        for key, value in data.items():
            for v in value if isinstance(value, list) else [value]:
                entities.append((str(key), str(v) if not isinstance(v, (int, float)) else v))
    return Reading(m.group("intent"), tuple(entities), "option")


def _strip(text: str) -> str:
    return patterns().tail_noise.sub("", text.strip())


_SENTENCES = re.compile(
    r"[。！!？?\n]+|[、,]\s*(?=(?:どうも|本当に|ほんとに|ほんとうに)?(?:ありがと|有難|有り難|助かりました|感謝))"
)
_STRONG_YES = re.compile(r"お願い|おねがい|頼み|たのみ|頼む")
# Parts that only frame the reply: thanks and an acknowledgement (わかりました).
_FRAMING = frozenset({"thanks", "acknowledge"})
_THANKS = re.compile(r"ありがと|有難|有り難|感謝|助かりました|お世話になりました")
_SOME_OTHER_TIME = re.compile(r"(また|まあ)(今度|こんど|次|つぎ)|次回|次の機会")


def _leaving(text: str) -> bool:
    """A put-off said with thanks, or 'some other time': the person is leaving, not skipping."""
    return bool((patterns().put_off_like.search(text) and _THANKS.search(text)) or _SOME_OTHER_TIME.search(text))


def _whole_class(text: str) -> str | None:
    """The closed class of a whole message; a message of two or three sentences counts when all
    but one of them only thank or acknowledge (「今日はここまでにします。ありがとうございました」)."""
    single = _single_class(text)
    if single is not None:
        return single
    parts = [p for p in _SENTENCES.split(text) if _strip(p)]
    if not 2 <= len(parts) <= 3:
        return None
    classes: list[str] = []
    for i, part in enumerate(parts):
        cls = "acknowledge" if patterns().acknowledge.match(_strip(part)) else _single_class(part)
        if cls is None:
            # 「はい、お願いします。昼間は家におります」: a yes said first, then a detail for the staff.
            return "affirm" if i > 0 and classes[0] == "affirm" and _STRONG_YES.search(parts[0]) else None
        classes.append(cls)
    replies = {c for c in classes if c not in _FRAMING}
    if len(replies) == 1:
        return replies.pop()
    if replies == {"decline", "stop"}:
        return "stop"  # 「本人に伝えてみます。今日はこれで」: put off, and leaving: a leave-taking
    return "thanks" if not replies and "thanks" in classes else None


def _single_class(text: str) -> str | None:
    core = _strip(text)
    if not core or len(core) > 24:
        return None
    stages = [core]
    for _ in range(2):  # 「お電話は」「今回は」; each stage is read (じゃあ|それで: not down to で)
        stages.append(_strip(patterns().topic_prefix.sub("", stages[-1])))
    for candidate in dict.fromkeys(stages):
        for name, pattern in patterns().whole.items():
            if candidate and pattern.match(candidate):
                return name
    return None


_CLOSING_SENTENCES = re.compile(r"(?<=[。！!？?\n])")
_CLOSING_CHUNKS = re.compile(r"[\s、,]+")
_QUESTION = re.compile(r"[？?]|(ですか|ますか|でしょうか|のかな|んかね|んかのう)$")


def closing_moves(
    text: str, *, crisis_active: bool = False, question_open: bool = False, nothing_asked: bool = False
) -> bool:
    """Is the message made only of closing moves (thanks, an acknowledgement, leaving words, the
    writer's own next step, asking whether they may write again)? Then it ends the conversation
    for now. A next step needs thanks or leaving words beside it, except when nothing is asked
    (「それでは息子に聞いてみてからにします」 after the windows, 「はい、今かけます」 after the lines):
    at a question it is a skip, at an offer a no (read elsewhere)."""
    norm = normalize(text or "").strip()
    if not norm or len(norm) > 100:
        return False
    kinds: set[str] = set()
    for sentence in _CLOSING_SENTENCES.split(norm):
        if not _strip(sentence):
            continue
        bare = _strip(sentence)
        asks = re.search(r"[？?]", sentence) or (
            _QUESTION.search(bare) and not patterns().closing["acknowledge"].match(bare)
        )
        if asks:
            # The one question a closing holds: may I write again (the goodbye answers it).
            if not patterns().closing["come_back"].match(patterns().closing["lead"].sub("", bare)):
                return False
            kinds.add("come_back")
            continue
        found = _closing_kinds(sentence)
        if found is None:
            return False
        kinds |= found
    if kinds & {"leave", "come_back"}:
        return True
    if "plan" in kinds and nothing_asked:
        return True
    if crisis_active:
        return False
    # Put off with nothing open (やっぱり今日はやめておきます。まだ整理がつかないので): leaving
    # for now; at an open question or offer the decline is read there instead.
    return {"plan", "thanks"} <= kinds or ("putoff" in kinds and not question_open)


def _closing_kinds(clause: str) -> set[str] | None:
    """The closing moves a sentence is made of, or None when any part is something else. Elderly
    typing spaces words and clauses alike (よう分かりました 今日のところは これで失礼します), and a
    comma may fall inside one move (それでは息子に、聞いてみてからにします): the chunks between
    spaces and commas are grouped every way until each group reads as one move."""
    chunks = [c for c in _CLOSING_CHUNKS.split(_strip(clause)) if c]
    if not chunks:
        return set()
    # best[i]: the moves of chunks[:i], when they can be grouped into moves
    best: list[set[str] | None] = [set()] + [None] * len(chunks)
    for end in range(1, len(chunks) + 1):
        for start in range(end - 1, -1, -1):
            before = best[start]
            if before is None:
                continue
            kind = _closing_move("".join(chunks[start:end]))
            if kind is not None:
                best[end] = before | {kind}
                break
    return best[-1]


def _closing_move(text: str) -> str | None:
    pats = patterns().closing
    text = _strip(text)
    if pats["acknowledge"].match(text):
        return "acknowledge"
    text = pats["lead"].sub("", text)
    if not text:
        return "acknowledge"
    return next((k for k in ("thanks", "leave", "plan", "putoff", "aside") if pats[k].match(text)), None)


# 「はい、今かけます」: the person phones the number themself; no callback is asked for.
_CALLING_THEMSELVES = re.compile(
    r"(今|いま|すぐ|これから|自分で)[^。]{0,6}?(かけ|掛け|電話し|でんわし|連絡し)(ます|てみます|る|てみる)"
)
_SPACED_CLAUSES = re.compile(r"[。！!？?\n、,]+|(?<=[^\x00-\x7f])\s+(?=[^\x00-\x7f])")


def yes_said_first(text: str) -> bool:
    """A yes said first, after thanks at most, then details for the staff (「はい 私の電話で
    よろしければ 昼はたいてい家におります」「ありがとうございます それではお願いします 午後なら」)."""
    norm = normalize(text or "").strip()
    if not norm or _QUESTION.search(_strip(norm)) or prefers_not_by_phone(norm) or _CALLING_THEMSELVES.search(norm):
        return False
    affirm = patterns().whole["affirm"]
    for clause in [_strip(c) for c in _SPACED_CLAUSES.split(norm) if _strip(c)][:3]:
        bare = patterns().closing["lead"].sub("", clause)
        if affirm.match(clause) or (bare and affirm.match(bare)):
            return True
        if _closing_move(clause) not in ("thanks", "acknowledge"):
            return False
    return False


def declined_topics(text: str) -> tuple[str, ...]:
    """Intake questions a message refuses by name (「年齢は言いたくないです」 → age)."""
    norm = _JA_SPACE.sub("", normalize(text or ""))
    return tuple(k for k, p in patterns().declined_topic.items() if p.search(norm))


# What ending and erasing are called, anywhere in a message (終わり, やめ, 消して, 削除 …), and
# what is kept (記録は残るんですか may lead to an erasure).
_SAYS_END = re.compile(
    r"終わ|おわ|おしまい|やめ|止め|辞め|ストップ|stop|中断|キャンセル|さよう?なら|おやすみ|寝|消|けし|けす|削除|忘れ|わすれ"
    r"|記録|残る|残ら|のこる|のこら|データ|履歴|ログ|個人情報",
    re.IGNORECASE,
)


def ends_without_saying_so(text: str) -> bool:
    """A question that names no ending or erasing (「これって誰でも送っていいやつ?」): whatever a
    classifier says, it neither stops the conversation nor erases anything."""
    norm = normalize(text or "").strip()
    return bool(_QUESTION.search(norm) or re.search(r"(か|かな|の|やつ|ん)$", norm)) and not _SAYS_END.search(norm)


def steering_intent(text: str) -> str | None:
    """request_callback / request_human / ask_where_to_go when the message asks for that path."""
    norm = normalize(text or "")
    if norm.startswith("/"):
        return None
    # Elderly typing puts spaces between words (どこに そうだんしたら): read without them.
    norm = _JA_SPACE.sub("", norm)
    pats = patterns()
    for intent, pattern in pats.steer.items():
        m = pattern.search(norm)
        if not m:
            continue
        if pats.negation.search(norm) and intent != "request_human":
            continue  # 電話は苦手: no callback; a person wished for by chat is still a person
        return intent
    return None


def names_family_gathering(texts: Sequence[str]) -> bool:
    """Does the conversation ask after a gathering of families (家族の集まり, 同じような親御さん)?"""
    return any(patterns().family_gathering.search(_JA_SPACE.sub("", normalize(t or ""))) for t in texts)


def declines_phone(text: str) -> bool:
    """A phone call said to be unwanted (電話で話すのはちょっと無理です, 電話とかはいいや): never a
    request for a callback, whatever a classifier says."""
    norm = _JA_SPACE.sub("", normalize(text or ""))
    return bool(patterns().negation.search(norm))


def prefers_not_by_phone(text: str) -> bool:
    """The person says the phone (or a callback) is not for them (電話は苦手, 折り返しは結構)."""
    norm = _JA_SPACE.sub("", normalize(text or ""))
    return bool(patterns().negation.search(norm))


def _in_context(word_class: str, text: str, ctx: DialogueContext) -> Reading | None:
    slot = ctx.requested_slot
    if word_class == "decline":
        if ctx.crisis_active and patterns().reassure_like.search(text):
            return None  # 「大丈夫です」 after a crisis check: a reassurance, checked once more
        if slot in INTAKE_QUESTIONS and not ctx.crisis_active and _leaving(text):
            return Reading("stop", rule="leaving@question")  # 「家族と話してみます。ありがとう」「また今度」
        if slot in INTAKE_QUESTIONS or slot in SKIPPABLE_BOOKING_QUESTIONS:
            return Reading("skip", rule="decline@question")
        if slot in OFFERS:
            if not ctx.crisis_active and patterns().put_off_like.search(text) and _THANKS.search(text):
                # 「主治医にも話してみます。ありがとうございました」: no to the offer, and a goodbye
                return Reading("stop", rule="put_off+thanks@offer")
            return Reading("deny", rule="decline@offer")
        if not ctx.crisis_active and patterns().refusal_like.search(text):
            return Reading("deny", rule="refusal")  # 結構です / 遠慮します: a no, whatever came before
        if not ctx.crisis_active and patterns().put_off_like.search(text):
            return Reading("stop", rule="put_off")  # 「ちょっと考えてみます」 with nothing asked: for now
        return None  # no question open: DIET decides (thanks, reassure, stop …)
    if word_class == "skip":
        return Reading("skip", rule="skip")
    if word_class == "dont_know":
        return Reading("dont_know", rule="dont_know")
    if word_class == "affirm":
        return Reading("affirm", rule="affirm")
    if word_class == "deny":
        if slot in INTAKE_QUESTIONS or slot in SKIPPABLE_BOOKING_QUESTIONS:
            return Reading("skip", rule="deny@question")
        return Reading("deny", rule="deny")
    if word_class == "restart":
        return Reading("start_over", rule="restart")
    if word_class in ("greet", "stop", "thanks"):
        return Reading(word_class, rule=word_class)
    return None


_KNOWN_MARKS = frozenset("👍🙆🙅❌⭕🙏")
_SMALL_KANA = re.compile("[ぁぃぅぇぉゃゅょゎァィゥェォャュョヮ]")


def is_gibberish(text: str) -> bool:
    """No words at all: symbols or emoji only, a repeated syllable, a keyboard mash in Latin letters."""
    norm = normalize(text or "").strip()
    if not norm or norm.startswith("/"):
        return False
    letters = [ch for ch in norm if unicodedata.category(ch)[0] in "LN"]
    if not letters:
        return not (set(norm) & _KNOWN_MARKS)
    pats = patterns()
    if pats.gibberish_latin.match(norm):
        return not pats.latin_words.match(norm)
    compact = _JA_SPACE.sub("", norm)
    m = pats.gibberish_repeated.match(compact)
    # はいはい, うんうん, そうそう: a reply said twice is still that reply.
    if not m or _whole_class(norm) is not None or _whole_class(m.group(1)) is not None:
        return False
    unit = m.group(1)
    # ぽぽぽ / ksksks (a short unit many times) or ふにゃふにゃ (an onomatopoeia), not どうもどうも.
    return (len(unit) <= 2 and len(compact) >= 3 * len(unit)) or bool(_SMALL_KANA.search(unit))


def read_reply(text: str, context: DialogueContext = DialogueContext()) -> Reading | None:
    """The deterministic reading of `text` in `context`, or None to let DIET decide."""
    if not text or text.lstrip().startswith("/"):
        return None
    option = match_option(text, context.options)
    if option is not None:
        return parse_payload(option.payload)
    # Made only of closing moves (「話を聞いてもろうてありがとう」 thanks for being heard; it asks
    # for nothing), it is a goodbye before any steering phrase inside it is read.
    word_class = _whole_class(normalize(text))
    if word_class in (None, "thanks", "decline") and closing_moves(
        text,
        crisis_active=context.crisis_active,
        question_open=context.requested_slot in OFFERS,
        nothing_asked=context.requested_slot is None and context.active_loop is None,
    ):
        return Reading("stop", rule="closing")
    steer = steering_intent(text)
    if steer is None and prefers_not_by_phone(text):
        # 「でんわはにがてなので、ここで文字でやりとりできたら」: a preference, heard as information.
        return Reading("inform", rule="prefers_text")
    if steer is not None:
        if steer == "request_callback" and context.active_loop == CALLBACK_FORM:
            return None  # already booking: the form reads 「電話で」 as its answer
        return Reading(steer, rule="steer")
    offered = next((o for o in context.options if o.payload.startswith(CALLBACK_PAYLOAD)), None)
    if (
        word_class is None
        and offered is not None
        and context.active_loop != CALLBACK_FORM
        and patterns().call_time.search(_JA_SPACE.sub("", normalize(text)))
    ):
        return parse_payload(offered.payload)  # 「夜か土曜だと助かります」 to the offer of a callback
    if (
        word_class is None
        and offered is not None
        and context.active_loop != CALLBACK_FORM
        and not context.crisis_active  # 「うん だいじょうぶ」 after the crisis lines is checked, not booked
        and not patterns().reassure_like.search(text)
        and yes_said_first(text)
    ):
        return parse_payload(offered.payload)  # yes to the offer of a callback, with details
    if word_class is None:
        return Reading("nlu_fallback", rule="gibberish") if is_gibberish(text) else None
    if word_class == "affirm" and context.requested_slot is None:
        # A yes to a message that offered a callback (人と話したいときは…折り返しを希望する) is that
        # button, not a yes to nothing.
        if offered is not None:
            return parse_payload(offered.payload)
    return _in_context(word_class, normalize(text), context)
