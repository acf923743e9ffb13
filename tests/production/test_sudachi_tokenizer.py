"""bot.rasa_plugins.sudachi_tokenizer.SudachiTokenizer: normalized forms, offsets on the message text."""

from __future__ import annotations

import pytest

pytest.importorskip("sudachipy")

from rasa.shared.nlu.training_data.message import Message

from bot.rasa_plugins.sudachi_tokenizer import SudachiTokenizer


def tokens(text: str, **config):
    tok = SudachiTokenizer({**SudachiTokenizer.get_default_config(), **config})
    return tok.tokenize(Message(data={"text": text}), "text")


def test_offsets_point_at_the_surface_and_text_is_the_normalized_form() -> None:
    text = "息子が45歳で 家から出られません"
    toks = tokens(text)
    assert all(text[t.start : t.end].strip() for t in toks)
    assert "45" in [t.text for t in toks]
    assert "出る" in [t.lemma for t in toks]  # 出 (られ ませ ん) → dictionary/normalized form
    assert " " not in [t.text for t in toks]


def test_spelling_variants_become_one_feature() -> None:
    a = [t.text for t in tokens("わかりません")]
    b = [t.text for t in tokens("分かりません")]
    assert a == b


def test_symbol_only_messages_still_give_a_token() -> None:
    assert [t.text for t in tokens("！？")] == ["！？"]
    assert tokens("") == []


def test_modes_and_bad_mode() -> None:
    assert len(tokens("ひきこもり地域支援センター", mode="A")) >= len(tokens("ひきこもり地域支援センター", mode="C"))
    with pytest.raises(ValueError):
        tokens("x", mode="D")
