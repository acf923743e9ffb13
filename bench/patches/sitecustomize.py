"""Bench-only, opt-in runtime patches for A/B runs of candidate speed-ups (never loaded unless
bench/patches is put on PYTHONPATH):

    python -m bench --rasa-env PYTHONPATH=bench/patches:. \
                    --rasa-env MADOGUCHI_BENCH_PATCHES=jsonschema,ginza_lite

* ``jsonschema`` — Rasa validates every action-server response with ``jsonschema.validate``,
  which first re-validates the *schema* against the draft 2020-12 metaschema on every call
  (``check_schema``: ~40 % of Rasa's busy CPU under load in the profile). Here each distinct schema
  is checked once and its validator reused; instances are validated exactly as before.
* ``ginza_lite`` — load ja_ginza without tok2vec/parser/ner/morphologizer/compound_splitter/
  bunsetu_recognizer: the Rasa pipeline only reads tokens, lemmas and static vectors, which
  come from the tokenizer and the vocabulary (bench.ginza_lite checks the parses are identical).
"""
import os

_PATCHES = set(filter(None, os.environ.get("MADOGUCHI_BENCH_PATCHES", "").split(",")))

if "jsonschema" in _PATCHES:
    import json

    import jsonschema
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    _validators = {}

    def _validate(instance, schema, cls=None, *args, **kwargs):  # same contract as jsonschema.validate
        key = (json.dumps(schema, sort_keys=True, default=str), cls)
        validator = _validators.get(key)
        if validator is None:
            klass = cls or validator_for(schema)
            klass.check_schema(schema)
            validator = _validators[key] = klass(schema, *args, **kwargs)
        error = best_match(validator.iter_errors(instance))
        if error is not None:
            raise error

    jsonschema.validate = _validate

if "ginza_lite" in _PATCHES:
    import importlib.abc
    import sys

    _EXCLUDE = ["tok2vec", "parser", "ner", "morphologizer", "compound_splitter", "bunsetu_recognizer"]

    def _patch_spacy(spacy):
        original = spacy.load

        def load(name, *args, **kwargs):
            if str(name) == "ja_ginza":
                kwargs.pop("disable", None)
                kwargs["exclude"] = _EXCLUDE
            return original(name, *args, **kwargs)

        spacy.load = load

    class _Finder(importlib.abc.MetaPathFinder):
        """Patch spacy.load right after spacy is imported (importing it here would be slow)."""

        def find_spec(self, fullname, path, target=None):
            if fullname != "spacy":
                return None
            sys.meta_path.remove(self)
            import importlib.util

            spec = importlib.util.find_spec("spacy")
            loader = spec.loader
            exec_module = loader.exec_module

            def exec_and_patch(module):
                exec_module(module)
                _patch_spacy(module)

            loader.exec_module = exec_and_patch
            return spec

    sys.meta_path.insert(0, _Finder())
