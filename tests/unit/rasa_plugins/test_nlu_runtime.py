"""The two Rasa runtime fixes (bot/rasa_plugins/runtime.py) change speed, never results."""

from __future__ import annotations

import json

import jsonschema
import pytest
from jsonschema.validators import Draft202012Validator

from bot.rasa_plugins import runtime

SCHEMA = {
    "type": "object",
    "properties": {"events": {"type": "array"}, "responses": {"type": "array"}},
    "required": ["events"],
}


def test_rasa_loads_the_components_with_the_fixes_installed() -> None:
    from rasa.nlu.utils.spacy_utils import SpacyNLP

    import bot.rasa_plugins.components  # noqa: F401  (what Rasa imports from config.yml)

    assert jsonschema.validate is runtime.cached_validate
    assert hasattr(SpacyNLP.load_model, "__wrapped__")


def test_importing_the_language_rules_or_the_plugin_package_patches_nothing() -> None:
    """Issue 19: no import has side effects; the staff app, the actions and the pure rules see
    jsonschema and Rasa as shipped."""
    import subprocess
    import sys

    probe = (
        "import jsonschema, sys; original = jsonschema.validate\n"
        "import bot.language.attribution, bot.language.age, bot.rasa_plugins, bot.services.rasa_api, staff\n"
        "assert jsonschema.validate is original, 'jsonschema was patched'\n"
        "assert 'rasa' not in sys.modules, 'Rasa was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    "instance",
    [
        {"events": [], "responses": []},
        {"events": "not a list"},
        {"responses": []},
        [],
    ],
)
def test_cached_validation_accepts_and_rejects_exactly_like_jsonschema(instance: object) -> None:
    def outcome(validate) -> str:
        try:
            validate(instance, SCHEMA)
        except jsonschema.ValidationError as exc:
            return f"invalid: {exc.message} at {list(exc.absolute_path)}"
        return "valid"

    original = jsonschema.validators.validate  # the library's own function, never replaced
    assert outcome(runtime.cached_validate) == outcome(original)


def test_each_schema_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = []
    real = Draft202012Validator.check_schema.__func__

    def counting(cls, schema, *args, **kwargs):
        checks.append(1)
        return real(cls, schema, *args, **kwargs)

    monkeypatch.setattr(Draft202012Validator, "check_schema", classmethod(counting))
    schema = {**SCHEMA, "$comment": "only in this test"}
    for _ in range(50):
        runtime.cached_validate({"events": []}, schema)
    assert len(checks) == 1
    with pytest.raises(jsonschema.SchemaError):
        runtime.cached_validate({}, {"type": "no such type"})


def test_lean_ja_ginza_gives_the_same_tokens_lemmas_tags_and_vectors() -> None:
    import numpy as np
    import spacy
    from rasa.nlu.utils.spacy_utils import SpacyNLP

    lean = SpacyNLP.load_model("ja_ginza").model
    full = spacy.load("ja_ginza", disable=["parser"])
    assert not set(runtime.GINZA_UNUSED) & set(lean.component_names)
    assert "tok2vec" in full.component_names
    for text in ("母です 息子が45歳で十年 部屋から出てきません", "ひとと はなすのが こわい", "大丈夫です!!"):
        a, b = lean(text), full(text)
        assert [(t.text, t.lemma_, t.tag_, t.idx) for t in a] == [(t.text, t.lemma_, t.tag_, t.idx) for t in b]
        assert np.array_equal(a.vector, b.vector)


def test_cross_validation_folds_are_reproducible(monkeypatch):
    """Rasa shuffles its folds unseeded; tools.nlu_cv seeds them so a data change can be measured."""
    import sklearn.model_selection as model_selection

    from tools.nlu_cv import _seed_fold_split

    monkeypatch.setattr(model_selection, "StratifiedKFold", model_selection.StratifiedKFold)
    labels = ["a", "b", "c"] * 20
    _seed_fold_split(42)
    draws = [
        [tuple(test) for _, test in model_selection.StratifiedKFold(n_splits=2, shuffle=True).split(labels, labels)]
        for _ in range(2)
    ]
    assert draws[0] == draws[1]
    _seed_fold_split(7)
    other = [tuple(test) for _, test in model_selection.StratifiedKFold(n_splits=2, shuffle=True).split(labels, labels)]
    assert other != draws[0]


def test_cross_validation_result_is_reused_only_while_its_inputs_are_unchanged(tmp_path, monkeypatch):
    """tools.nlu_eval keeps a cross-validation result keyed on the NLU data, the config, the pinned
    packages and the project modules the run imported; any change to one of them reruns it."""
    from tools import nlu_eval

    for rel in (
        "data/nlu/a.yml",
        "config.yml",
        "constraints.txt",
        "tools/nlu_cv.py",
        "tools/nlu_eval.py",
        "bot/language/normaliser.py",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel, encoding="utf-8")
    monkeypatch.setattr(nlu_eval, "ROOT", tmp_path)
    monkeypatch.setattr(nlu_eval, "CV_CACHE", tmp_path / "cache")
    monkeypatch.setattr(nlu_eval, "CV_REFERENCE", tmp_path / "reference")
    monkeypatch.delenv("MADOGUCHI_NLU_CV_CACHE", raising=False)
    assert nlu_eval.cached_cross_validation(2, "config.yml") is None

    result = {"folds": 2, "intent_macro_f1": 0.91}
    entry = {
        "at": "then",
        "sources": ["bot/language/normaliser.py"],
        "inputs": nlu_eval._inputs("config.yml", ["bot/language/normaliser.py"]),
        "result": result,
    }
    nlu_eval.CV_CACHE.mkdir()
    nlu_eval._cache_file(2, "config.yml").write_text(json.dumps(entry), encoding="utf-8")
    assert nlu_eval.cached_cross_validation(2, "config.yml") == {**result, "cached_from": "then"}
    assert nlu_eval.cached_cross_validation(3, "config.yml") is None  # other folds: other entry
    monkeypatch.setenv("MADOGUCHI_NLU_CV_CACHE", "0")
    assert nlu_eval.cached_cross_validation(2, "config.yml") is None
    monkeypatch.delenv("MADOGUCHI_NLU_CV_CACHE")

    (tmp_path / "bot/resources").mkdir(parents=True)
    (tmp_path / "bot/resources/replies.yml").write_text("closing: {}", encoding="utf-8")
    (tmp_path / "bot/resources/staff_texts.yml").write_text("status: {}", encoding="utf-8")
    # a module of the run that reads a word list: that list is an input, the staff texts are not
    (tmp_path / "bot/language/normaliser.py").write_text('RESOURCE = RESOURCES / "replies.yml"', encoding="utf-8")
    entry["inputs"] = nlu_eval._inputs("config.yml", ["bot/language/normaliser.py"])
    nlu_eval._cache_file(2, "config.yml").write_text(json.dumps(entry), encoding="utf-8")
    assert nlu_eval.cached_cross_validation(2, "config.yml") is not None
    for rel in (
        "data/nlu/a.yml",
        "config.yml",
        "constraints.txt",
        "bot/language/normaliser.py",
        "bot/resources/replies.yml",
    ):
        before = (tmp_path / rel).read_text(encoding="utf-8")
        (tmp_path / rel).write_text(before + " changed", encoding="utf-8")
        assert nlu_eval.cached_cross_validation(2, "config.yml") is None, rel
        (tmp_path / rel).write_text(before, encoding="utf-8")
    (tmp_path / "bot/resources/staff_texts.yml").write_text("status: {changed: 1}", encoding="utf-8")
    assert nlu_eval.cached_cross_validation(2, "config.yml") is not None
    # Kept in the repository, the result serves a fresh clone (no results/ cache) on the same inputs.
    kept = nlu_eval.keep_as_reference(2, "config.yml")
    assert kept.parent == tmp_path / "reference"
    for cached in nlu_eval.CV_CACHE.glob("*.json"):
        cached.unlink()
    assert nlu_eval.cached_cross_validation(2, "config.yml") == {**result, "cached_from": "then"}
    (tmp_path / "data/nlu/b.yml").write_text("new file", encoding="utf-8")
    assert nlu_eval.cached_cross_validation(2, "config.yml") is None


def test_a_result_is_not_kept_for_code_edited_while_the_folds_trained(tmp_path, monkeypatch):
    """The inputs are read before the run: a module edited while it runs would otherwise be hashed
    afterwards and the result kept for code the run never used."""
    import subprocess

    from tools import nlu_eval

    for rel in ("data/nlu/a.yml", "config.yml", "constraints.txt", "tools/nlu_cv.py", "tools/nlu_eval.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel, encoding="utf-8")
    module = tmp_path / "bot/language/replies.py"
    module.parent.mkdir(parents=True)
    module.write_text("old", encoding="utf-8")
    monkeypatch.setattr(nlu_eval, "ROOT", tmp_path)
    monkeypatch.setattr(nlu_eval, "CV_CACHE", tmp_path / "cache")
    monkeypatch.setattr(nlu_eval, "CV_REFERENCE", tmp_path / "reference")
    monkeypatch.setattr(nlu_eval, "_cross_validated_config", lambda config, out: tmp_path / config)
    monkeypatch.delenv("MADOGUCHI_NLU_CV_CACHE", raising=False)
    out = tmp_path / "out"
    edit = {"during": True}

    def fake_run(cmd, **kwargs):
        (out / "intent_report.json").write_text(
            json.dumps({"macro avg": {"f1-score": 0.9}, "weighted avg": {"f1-score": 0.9}}), encoding="utf-8"
        )
        (out / "sources.json").write_text(json.dumps(["bot/language/replies.py"]), encoding="utf-8")
        if edit["during"]:
            module.write_text("edited while it ran", encoding="utf-8")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(nlu_eval.subprocess, "run", fake_run)
    nlu_eval.run_cross_validation(2, "config.yml", out)
    assert nlu_eval.cached_cross_validation(2, "config.yml") is None
    edit["during"] = False
    nlu_eval.run_cross_validation(2, "config.yml", out)
    assert nlu_eval.cached_cross_validation(2, "config.yml") is not None


def test_the_cross_validation_leaves_out_only_the_response_selector(tmp_path, monkeypatch) -> None:
    """The FAQ answer is picked after DIET: without it every intent and entity figure is the same."""
    import yaml

    from tools import nlu_eval

    served = yaml.safe_load((nlu_eval.ROOT / "config.yml").read_text(encoding="utf-8"))
    derived = yaml.safe_load(nlu_eval._cross_validated_config("config.yml", tmp_path).read_text(encoding="utf-8"))
    names = [c["name"] for c in served["pipeline"]]
    assert "ResponseSelector" in names
    assert [c["name"] for c in derived["pipeline"]] == [n for n in names if n != "ResponseSelector"]
    assert [c for c in derived["pipeline"] if c["name"] == "DIETClassifier"] == [
        c for c in served["pipeline"] if c["name"] == "DIETClassifier"
    ]


def test_the_served_pipeline_attributes_ages_by_the_parse() -> None:
    """The lean pass has no parse; the attribution gets one on demand (before, it never ran)."""
    from rasa.nlu.utils.spacy_utils import SpacyNLP

    from bot.language.age import extract_age
    from bot.language.attribution import age_owner

    served = SpacyNLP.load_model("ja_ginza").model
    for text, owner in (("私も70を過ぎて体がきついです", "writer"), ("息子は27歳です", "concerned")):
        doc = served(text)
        assert not doc.has_annotation("DEP")  # every message stays on the lean pass
        match = extract_age(text)
        assert match is not None and age_owner(doc, match.start, match.end) == owner
