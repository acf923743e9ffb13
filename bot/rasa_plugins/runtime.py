"""Two fixes for Rasa 3.6 hot spots, found by profiling (docs/deploy.md §5).

Neither changes a prediction or a validation result; both apply in `rasa train` and `rasa run`
alike, because Rasa imports `bot.rasa_plugins` when it reads config.yml, before any component is built.

1. ``jsonschema.validate`` re-checks the *schema* against its metaschema on every call, and Rasa
   calls it for every action-server response (≈ 40 % of Rasa's busy CPU under load). Each
   distinct schema is now checked once and its validator reused; instances are validated as before.
2. ``SpacyNLP`` loads ja_ginza with everything but the parser, so every message also runs
   tok2vec, ner, morphologizer, compound_splitter and bunsetu_recognizer (≈ 11 ms of ≈ 12 ms).
   The featurizers read only tokens, tags, lemmas and static vectors, which come from GiNZA's
   tokenizer and vocabulary; `python -m bench.ginza_lite` checks the parses stay identical.
   tok2vec and the parser stay loaded but disabled: the age attribution runs them on the few
   messages whose age needs an owner (before, they were left out, and that attribution never ran
   in a served model).
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Dict, Optional, Tuple

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from bot import config

GINZA_MODEL = "ja_ginza"
GINZA_UNUSED = ("ner", "morphologizer", "compound_splitter", "bunsetu_recognizer")
# Loaded but not run on every message: the dependency parse, run only on a message whose age
# needs an owner (bot.language.attribution.age_owner), about 10 ms against 0.5 ms for the lean pass.
GINZA_ON_DEMAND = ("tok2vec", "parser")

_validators: Dict[Tuple[str, Any], Any] = {}
_validators_lock = threading.Lock()


def cached_validate(
    instance: Any, schema: Dict[str, Any], cls: Optional[type] = None, *args: Any, **kwargs: Any
) -> None:
    """Same contract as :func:`jsonschema.validate`, with each schema checked once."""
    key = (json.dumps(schema, sort_keys=True, default=str), cls)
    validator = _validators.get(key)
    if validator is None:
        klass: Any = cls or validator_for(schema)  # a jsonschema validator class (jsonschema is untyped)
        klass.check_schema(schema)
        validator = klass(schema, *args, **kwargs)
        with _validators_lock:
            _validators[key] = validator
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def lean_ginza_loader(original: Callable[[str], Any]) -> Callable[[str], Any]:
    def load_model(spacy_model_name: str) -> Any:
        if spacy_model_name != GINZA_MODEL:
            return original(spacy_model_name)
        import spacy

        spacy_load = spacy.load

        def load(name: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("disable", None)
            nlp = spacy_load(name, *args, exclude=list(GINZA_UNUSED), disable=list(GINZA_ON_DEMAND), **kwargs)
            from bot.language import attribution

            attribution.use_dependency_parser(dependency_parser(nlp))
            return nlp

        spacy.load = load
        try:
            return original(spacy_model_name)
        finally:
            spacy.load = spacy_load

    load_model.__wrapped__ = original  # type: ignore[attr-defined]
    return load_model


def dependency_parser(nlp: Any) -> Callable[[Any], Any]:
    """Runs the pipes left disabled (GINZA_ON_DEMAND) on a doc the lean pass made."""
    pipes = [nlp.get_pipe(name) for name in GINZA_ON_DEMAND if name in nlp.component_names]

    def parse(doc: Any) -> Any:
        for pipe in pipes:
            doc = pipe(doc)
        return doc

    return parse


def install() -> None:
    """Apply both fixes once per process (idempotent); MADOGUCHI_RASA_FIXES=0 leaves Rasa as
    shipped, for A/B runs of the bench."""
    if not config.settings().flag("MADOGUCHI_RASA_FIXES"):
        return
    from rasa.nlu.utils.spacy_utils import SpacyNLP

    jsonschema.validate = cached_validate
    if not hasattr(SpacyNLP.load_model, "__wrapped__"):
        SpacyNLP.load_model = staticmethod(lean_ginza_loader(SpacyNLP.load_model))
