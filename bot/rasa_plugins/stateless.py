"""Rasa's `GraphComponent.create` for a component built from its configuration alone."""

from __future__ import annotations

from typing import Any, Dict, Text

from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage

#: Rasa's Tokenizer options that every tokenizer here keeps at Rasa's values.
TOKENIZER_DEFAULTS: Dict[Text, Any] = {
    "intent_tokenization_flag": False,
    "intent_split_symbol": "_",
    "token_pattern": None,
    "prefix_separator_symbol": None,
}


class CreatedFromConfig:
    """Mixed in before the Rasa base class: nothing trained, nothing stored, only the config."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> Any:
        build: Any = cls  # the component class takes its config (the mixin declares no __init__)
        return build(config)
