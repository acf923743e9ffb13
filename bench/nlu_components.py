"""Bench-only NLU component: one token per character (for bench/configs/char_ngrams.yml).

Japanese has no spaces, so WhitespaceTokenizer sees a whole sentence as one token. This
tokenizer emits each non-space character as a token, so the char-n-gram pipeline can still
tag entities and needs no dictionary and no spaCy. It is a comparison baseline, not a
production component.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class CharacterTokenizer(Tokenizer):
    """Every non-whitespace character is a token."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "CharacterTokenizer":
        return cls(config)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        text = message.get(attribute) or ""
        return [Token(ch, i, i + 1, lemma=ch) for i, ch in enumerate(text) if not ch.isspace()]
