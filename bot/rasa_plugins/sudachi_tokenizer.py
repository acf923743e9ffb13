"""A SudachiPy tokenizer for Rasa: Japanese words without spaCy/GiNZA at run time.

``bot.rasa_plugins.sudachi_tokenizer.SudachiTokenizer`` is a ``MESSAGE_TOKENIZER`` (a drop-in for
``SpacyNLP`` + ``SpacyTokenizer``). It runs SudachiPy (installed with ginza, dictionary
``SudachiDict-core``) in split mode C by default and emits each morpheme's
``normalized_form()`` as token text and lemma, so 御母さん/お母さん, 出来る/できる, 分かる/わかる
become the same feature; offsets stay those of the surface form in the message, so entity
annotations still line up. Whitespace and symbol-only morphemes are dropped.

Cost: ~0.04 ms per short message against ~11–12 ms for ja_ginza (tok2vec), and no 400 MB
spaCy model in memory (see ``make bench``: bench/configs/sudachi.yml).

Config::

    - name: bot.rasa_plugins.sudachi_tokenizer.SudachiTokenizer
      mode: C            # A (short units), B (middle) or C (named entities / compounds whole)
      dict: core         # SudachiDict package: core (installed), small or full
      use_normalized_form: true
      pos: true          # put the coarse part of speech in token data ("pos")
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.rasa_plugins.stateless import TOKENIZER_DEFAULTS, CreatedFromConfig

# Coarse parts of speech that carry no word: whitespace, punctuation/symbols.
_SKIP_POS = {"空白", "補助記号"}
_MODES = {"A", "B", "C"}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class SudachiTokenizer(CreatedFromConfig, Tokenizer):
    """Tokenizes Japanese text with SudachiPy (no spaCy)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            **TOKENIZER_DEFAULTS,
            "mode": "C",
            "dict": "core",
            "use_normalized_form": True,
            "pos": True,
        }

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sudachipy"]

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return ["ja"]

    def __init__(self, config: Dict[Text, Any]) -> None:
        super().__init__(config)
        mode = str(config.get("mode", "C")).upper()
        if mode not in _MODES:
            raise ValueError(f"SudachiTokenizer: mode must be one of A, B, C (got {mode!r})")
        self._mode_name = mode
        self._dict_name = str(config.get("dict") or "core")
        self._normalized = bool(config.get("use_normalized_form", True))
        self._pos = bool(config.get("pos", True))
        self._local = threading.local()  # a sudachipy Tokenizer is not safe across threads

    def _tokenizer(self) -> Any:
        tok = getattr(self._local, "tok", None)
        if tok is None:
            from sudachipy import Dictionary, SplitMode

            tok = Dictionary(dict=self._dict_name).create(getattr(SplitMode, self._mode_name))
            self._local.tok = tok
        return tok

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        text = message.get(attribute)
        if not text:
            return []
        tokens: List[Token] = []
        for m in self._tokenizer().tokenize(text):
            surface = m.surface()
            if not surface.strip():
                continue
            pos = m.part_of_speech()[0]
            if pos in _SKIP_POS and not any(ch.isalnum() for ch in surface):
                continue
            form = m.normalized_form() if self._normalized else surface
            data = {"pos": pos} if self._pos else None
            tokens.append(Token(form, m.begin(), m.end(), data=data, lemma=form))
        if not tokens and text.strip():
            # Emoji/symbol-only messages: one token, like WhitespaceTokenizer does.
            stripped = text.strip()
            start = text.index(stripped)
            tokens = [Token(stripped, start, start + len(stripped), lemma=stripped)]
        return self._apply_token_pattern(tokens)
