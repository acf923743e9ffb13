"""Bench-only NLU component: one token per character (for bench/configs/char_ngrams.yml).

Japanese has no spaces, so WhitespaceTokenizer sees a whole sentence as one token. This
tokenizer emits each non-space character as a token, so the char-n-gram pipeline can still
tag entities and needs no dictionary and no spaCy. It is a comparison baseline, not a
production component.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.rasa_plugins.stateless import TOKENIZER_DEFAULTS, CreatedFromConfig


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class CharacterTokenizer(CreatedFromConfig, Tokenizer):
    """Every non-whitespace character is a token."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return dict(TOKENIZER_DEFAULTS)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        text = message.get(attribute) or ""
        return [Token(ch, i, i + 1, lemma=ch) for i, ch in enumerate(text) if not ch.isspace()]
