"""Custom Rasa NLU components: thin GraphComponent wrappers over plain functions in `bot/`.

Pipeline order (config.yml): JapaneseNormalizer → SpacyNLP(ja_ginza) → … → DIETClassifier
→ AgeExtractor → FallbackClassifier → CrisisDetector. The crisis detector runs last so that
a lexicon hit overrides both DIET and the fallback: detection never rests on DIET alone.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.engine.graph import GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_CONFIDENCE,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_ROLE,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.domain.steering import NOT_UNDERSTOOD_ENTITY
from bot.language.age import extract_age
from bot.language.attribution import age_owner
from bot.language.crisis import detect_crisis
from bot.language.normaliser import normalize
from bot.language.profile import tells_worry, volunteers_facts
from bot.language.replies import (
    DialogueContext,
    Option,
    declined_topics,
    declines_phone,
    ends_without_saying_so,
    read_reply,
)
from bot.rasa_plugins import runtime
from bot.rasa_plugins.stateless import CreatedFromConfig

CRISIS_INTENT = "crisis"
DECLINED_ENTITY = "declined"
INFORM_INTENT = "inform"
FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
# Social intents a worried message must never be taken for (issue 18).
SOCIAL_INTENTS = frozenset({"thanks", "greet"})
# Intents that end the conversation or erase it: taken from DIET only when the message says so.
ENDING_INTENTS = frozenset({"stop", "delete_data"})
CALLBACK_INTENT = "request_callback"
DENY_INTENT = "deny"
REASSURE_INTENT = "reassure"
CRISIS_CATEGORY_ENTITY = "crisis_category"
CRISIS_SEVERITY_ENTITY = "crisis_severity"

# Rasa imports this module (config.yml) before it builds any component, in `rasa train` and
# `rasa run` alike: the one place its two runtime fixes are applied (bot/rasa_plugins/runtime.py).
runtime.install()


class _Stateless(CreatedFromConfig, GraphComponent):
    """Components with no trained state."""

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._config = config

    @staticmethod
    def _is_command(message: Message) -> bool:
        # Button payloads ("/intent{...}") are resolved by Rasa's RegexMessageHandler.
        return str(message.get(TEXT) or "").startswith("/")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class JapaneseNormalizer(_Stateless):
    """NFKC, zero-width/control removal and safe kanji numerals → digits, before tokenising.

    Without it, full-width digits never become spaCy numbers and ４５歳 / 四十五歳 / 45歳
    would be three different words to the featurizers.
    """

    def _normalize(self, message: Message) -> None:
        text = message.get(TEXT)
        if text and not self._is_command(message):
            message.set(TEXT, normalize(text))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            entities = example.get(ENTITIES)
            if entities:
                self._normalize_annotated(example, entities)
            else:
                self._normalize(example)
        return training_data

    def _normalize_annotated(self, example: Message, entities: List[Dict[Text, Any]]) -> None:
        """Normalise and move entity offsets with the text (十年→10年 shortens it).

        If an annotated span cannot be found again, the example keeps its original text.
        """
        text = example.get(TEXT) or ""
        norm = normalize(text)
        moved = []
        cursor = 0
        for ent in sorted(entities, key=lambda e: e[ENTITY_ATTRIBUTE_START]):
            span = normalize(text[ent[ENTITY_ATTRIBUTE_START] : ent[ENTITY_ATTRIBUTE_END]])
            pos = norm.find(span, cursor) if span else -1
            if pos < 0:
                return
            moved.append({**ent, ENTITY_ATTRIBUTE_START: pos, ENTITY_ATTRIBUTE_END: pos + len(span)})
            cursor = pos + len(span)
        example.set(TEXT, norm)
        example.set(ENTITIES, moved)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class AgeExtractor(_Stateless):
    """Adds `age_min` / `age_max` entities (years) for the age of the person concerned."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text or self._is_command(message):
                continue
            match = extract_age(text)
            if match is None:
                continue
            # Whose age it is — the person concerned, or the writer (私も70を過ぎて) — from
            # GiNZA's dependency parse, else from the words around it.
            doc = message.get(SPACY_DOCS[TEXT])
            owner = (age_owner(doc, match.start, match.end) if doc is not None else None) or match.owner
            entities = list(message.get(ENTITIES) or [])
            for name, value in (("age_min", match.min), ("age_max", match.max)):
                entity = _entity(name, value, (match.start, match.end), self)
                if owner:
                    entity[ENTITY_ATTRIBUTE_ROLE] = owner
                entities.append(entity)
            message.set(ENTITIES, entities, add_to_output=True)
        return messages


def dialogue_context(tracker: Optional[DialogueStateTracker]) -> DialogueContext:
    """What the bot just asked and offered, from the tracker Rasa hands the NLU graph."""
    if tracker is None or not getattr(tracker, "events", None):
        return DialogueContext()
    options: List[Option] = []
    for event in reversed(list(tracker.events)):
        kind = getattr(event, "type_name", "")
        if kind == "user":
            break
        if kind == "bot":
            for button in (getattr(event, "data", None) or {}).get("buttons") or []:
                if button.get("title") and button.get("payload"):
                    options.append(Option(str(button["title"]), str(button["payload"])))
    return DialogueContext(
        requested_slot=tracker.get_slot("requested_slot"),
        active_loop=tracker.active_loop_name,
        crisis_active=bool(tracker.get_slot("crisis_active")),
        options=tuple(reversed(options)),
    )


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class DialogueReader(_Stateless):
    """The deterministic layer ahead of DIET's verdict (bot/language/replies.py): typed button titles,
    short replies read against the question just asked, steering phrases and refusals by name.

    Rasa passes the conversation's tracker to components whose `process` takes a `tracker`
    argument; in NLU-only evaluation it is an empty one, so only context-free readings apply.
    """

    def process(self, messages: List[Message], tracker: Optional[DialogueStateTracker] = None) -> List[Message]:
        context = dialogue_context(tracker)
        for message in messages:
            text = str(message.get(TEXT) or "")
            if not text or self._is_command(message):
                continue
            entities = list(message.get(ENTITIES) or [])
            for topic in declined_topics(text):
                entities.append(_entity(DECLINED_ENTITY, topic, (0, len(text)), self))
            reading = read_reply(text, context)
            if reading is not None and reading.rule == "gibberish":
                entities.append(_entity(NOT_UNDERSTOOD_ENTITY, "gibberish", (0, len(text)), self))
            if reading is not None:
                for name, value in reading.entities:
                    entities.append(_entity(name, value, (0, len(text)), self))
                forced = {INTENT_NAME_KEY: reading.intent, PREDICTED_CONFIDENCE_KEY: 1.0}
                ranking = [
                    r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get(INTENT_NAME_KEY) != reading.intent
                ]
                message.set(INTENT, forced, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [forced, *ranking], add_to_output=True)
            elif self._is_information(message, text, crisis_active=context.crisis_active):
                forced = {INTENT_NAME_KEY: INFORM_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
                message.set(INTENT, forced, add_to_output=True)
            elif (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == CALLBACK_INTENT and declines_phone(text):
                # 「電話とかはいいや」: a no to the phone, not a request for a call.
                forced = {INTENT_NAME_KEY: DENY_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
                message.set(INTENT, forced, add_to_output=True)
            elif (message.get(INTENT) or {}).get(INTENT_NAME_KEY) in ENDING_INTENTS and ends_without_saying_so(text):
                # Never stop or erase on a question that does not say so: not understood instead.
                forced = {INTENT_NAME_KEY: "nlu_fallback", PREDICTED_CONFIDENCE_KEY: 1.0}
                message.set(INTENT, forced, add_to_output=True)
            if entities != list(message.get(ENTITIES) or []):
                message.set(ENTITIES, entities, add_to_output=True)
        return messages

    @staticmethod
    def _is_information(message: Message, text: str, *, crisis_active: bool = False) -> bool:
        """「妹のことで相談したいです」 read as not understood, or 「ありがとうございます。でも息子の
        将来が心配で」 read as thanks (or 「兄貴が実家に閉じこもっとるんよ」 as a reassurance, with no
        crisis open): the message tells who, how old or a worry — information."""
        intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        if intent in FALLBACK_INTENTS:
            return volunteers_facts(text)
        if intent in SOCIAL_INTENTS or (intent == REASSURE_INTENT and not crisis_active):
            return volunteers_facts(text) or tells_worry(text)
        return False


def _entity(name: str, value: Any, span: Tuple[int, int], extractor: Any) -> Dict[Text, Any]:
    return {
        ENTITY_ATTRIBUTE_TYPE: name,
        ENTITY_ATTRIBUTE_VALUE: value,
        ENTITY_ATTRIBUTE_START: span[0],
        ENTITY_ATTRIBUTE_END: span[1],
        ENTITY_ATTRIBUTE_CONFIDENCE: 1.0,
        EXTRACTOR: extractor.__class__.__name__,
    }


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class CrisisDetector(_Stateless):
    """Reviewed lexicon (bot/resources/crisis_lexicon.yml) on top of DIET's `crisis` intent.

    * a high-severity lexicon hit forces the `crisis` intent with confidence 1.0;
    * a past or denied risk (severity low) never becomes the `crisis` intent: the actions show
      the lines gently instead of raising an alarm;
    * DIET's `crisis` intent alone stands only at or above `diet_threshold`: hyperbole such as
      暑くて死にそう otherwise triggers it (measured by `make nlu-cv` on the calm suite).
    Any hit adds `crisis_category` / `crisis_severity` entities that the actions read.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"diet_threshold": 0.9}

    def process(self, messages: List[Message]) -> List[Message]:
        threshold = float(self._config.get("diet_threshold", 0.9))
        for message in messages:
            text = message.get(TEXT)
            if not text or self._is_command(message):
                continue
            signal = detect_crisis(text)
            if signal is not None:
                entities = list(message.get(ENTITIES) or [])
                span = self._span(text, signal.matched)
                for category in signal.categories:
                    entities.append(self._entity(CRISIS_CATEGORY_ENTITY, category.value, span))
                entities.append(self._entity(CRISIS_SEVERITY_ENTITY, signal.severity, span))
                message.set(ENTITIES, entities, add_to_output=True)
            if signal is not None and signal.urgent:
                self._force_crisis_intent(message)
                continue
            intent = message.get(INTENT) or {}
            if intent.get(INTENT_NAME_KEY) == CRISIS_INTENT and (
                signal is not None or float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0) < threshold
            ):
                self._demote_crisis_intent(message)
        return messages

    @staticmethod
    def _span(text: str, matched: Tuple[str, ...]) -> Tuple[int, int]:
        """Offsets of the first triggering fragment; the whole message when it cannot be found.

        Rasa's evaluation and any downstream consumer expect every entity to carry a span.
        """
        for fragment in matched:
            start = text.find(fragment) if fragment else -1
            if start >= 0:
                return start, start + len(fragment)
        return 0, len(text)

    def _entity(self, name: str, value: str, span: Tuple[int, int]) -> Dict[Text, Any]:
        return _entity(name, value, span, self)

    @staticmethod
    def _demote_crisis_intent(message: Message) -> None:
        """Use the best non-crisis intent instead (or `nlu_fallback` when there is none)."""
        ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get(INTENT_NAME_KEY) != CRISIS_INTENT]
        best = ranking[0] if ranking else {INTENT_NAME_KEY: "nlu_fallback", PREDICTED_CONFIDENCE_KEY: 1.0}
        message.set(INTENT, dict(best), add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)

    @staticmethod
    def _force_crisis_intent(message: Message) -> None:
        forced = {INTENT_NAME_KEY: CRISIS_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
        ranking: List[Dict[Text, Any]] = [
            r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get(INTENT_NAME_KEY) != CRISIS_INTENT
        ]
        message.set(INTENT, forced, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [forced, *ranking], add_to_output=True)
