"""`python -m tools.nlu_eval`: NLU cross-validation summary plus age and crisis figures.

1. Rasa's k-fold cross-validation on data/nlu with config.yml → intent and entity F1.
2. The trained model (MADOGUCHI_MODEL or the newest in models/) parses held-out messages:
   age extraction accuracy on tests/data/age_eval.yml and crisis recall / false positives on
   the safety suites. Figures are printed and written to results/nlu-summary.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bot import config as bot_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"


# The result of a cross-validation is a function of its inputs (the folds and DIET are seeded), so
# it is kept, keyed on them: the NLU data, the config, the pinned packages, the seed and the
# project's own modules that the run imported (tools/nlu_cv.py writes their list). `make test` on an
# unchanged NLU reuses it instead of training twice more (issue 20). MADOGUCHI_NLU_CV_CACHE=0, a
# changed input or `make clean` runs it again. A fresh clone has no cache and runs it.
CV_CACHE = RESULTS / "nlu-cv-cache"
# The result for the committed NLU, kept in the repository (`python -m tools.nlu_eval --keep`): a
# fresh clone whose data, config, pins and code are those it was computed on reads it instead of
# training twice more; any change to them runs the cross-validation again.
CV_REFERENCE = ROOT / "tests" / "data" / "nlu-cv"
FIXED_INPUTS = ("constraints.txt", "tools/nlu_cv.py", "tools/nlu_eval.py")
# Cross-validated without the ResponseSelector: it only picks the FAQ answer after DIET has said
# `faq`, so the intent and entity figures are the same, and each fold trains one model less.
NOT_CROSS_VALIDATED = ("ResponseSelector",)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


_RESOURCE = re.compile(r'RESOURCES\s*/\s*"([^"]+)"')


def _resources_read(sources: list[str]) -> set[str]:
    """The word lists the run's own modules read (RESOURCES / "replies.yml"): the reply and crisis
    lexicons change the intents as much as the code does; the staff texts do not."""
    found = set()
    for source in sources:
        path = ROOT / source
        if path.is_file():
            found |= {f"bot/resources/{name}" for name in _RESOURCE.findall(path.read_text(encoding="utf-8"))}
    return found


def _inputs(config: str, sources: list[str]) -> dict[str, str]:
    data = {str(p.relative_to(ROOT)) for p in (ROOT / "data" / "nlu").rglob("*.yml")}
    files = sorted(data | _resources_read(sources) | {config, *FIXED_INPUTS, *sources})
    return {f: _sha(ROOT / f) for f in files}


def _snapshot(config: str) -> dict[str, str]:
    """The hashes of every file a run may read: the NLU data, the config, the fixed inputs, the
    project's modules and word lists."""
    files = {str(p.relative_to(ROOT)) for p in (ROOT / "data" / "nlu").rglob("*.yml")}
    files |= {str(p.relative_to(ROOT)) for d in ("bot", "tools") for p in (ROOT / d).rglob("*.py")}
    files |= {str(p.relative_to(ROOT)) for p in (ROOT / "bot" / "resources").glob("*.yml")}
    return {f: _sha(ROOT / f) for f in sorted(files | {config, *FIXED_INPUTS})}


def _cache_file(folds: int, config: str) -> Path:
    seed = bot_config.settings().integer("MADOGUCHI_CV_SEED")
    name = hashlib.sha256(f"{folds}|{config}|{seed}".encode()).hexdigest()[:16]
    return CV_CACHE / f"{name}.json"


def cached_cross_validation(folds: int, config: str) -> dict[str, Any] | None:
    if not bot_config.settings().flag("MADOGUCHI_NLU_CV_CACHE"):
        return None
    for where in (CV_CACHE, CV_REFERENCE):
        try:
            entry = json.loads((where / _cache_file(folds, config).name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if entry.get("inputs") == _inputs(config, entry.get("sources", [])):
            return {**entry["result"], "cached_from": entry.get("at")}
    return None


def keep_as_reference(folds: int, config: str) -> Path:
    """Copy the cached result for the current inputs into the repository (CV_REFERENCE)."""
    if cached_cross_validation(folds, config) is None:
        raise SystemExit("no cross-validation result for the current data, config and code: run it first")
    CV_REFERENCE.mkdir(parents=True, exist_ok=True)
    for old in CV_REFERENCE.glob("*.json"):
        old.unlink()
    target = CV_REFERENCE / _cache_file(folds, config).name
    source = CV_CACHE / target.name
    entry = json.loads((source if source.exists() else target).read_text(encoding="utf-8"))
    target.write_text(json.dumps(entry, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return target


def _cross_validated_config(config: str, out: Path) -> Path:
    """`config` with the components in NOT_CROSS_VALIDATED left out (and no policies)."""
    raw = yaml.safe_load((ROOT / config).read_text(encoding="utf-8"))
    raw["pipeline"] = [c for c in raw["pipeline"] if c.get("name") not in NOT_CROSS_VALIDATED]
    raw.pop("policies", None)
    path = out / "config.cross-validated.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run_cross_validation(folds: int, config: str, out: Path) -> dict[str, Any]:
    cached = cached_cross_validation(folds, config)
    if cached is not None:
        return cached
    # What the run reads, as it is now: a file edited while the folds train would otherwise be
    # hashed afterwards and the result kept for code it never ran.
    before = _snapshot(config)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("intent_report.json", "phases.json", "sources.json"):
        (out / stale).unlink(missing_ok=True)
    started = time.monotonic()
    cmd = [
        sys.executable,
        "-m",
        "tools.nlu_cv",
        "--folds",
        str(folds),
        "--config",
        str(_cross_validated_config(config, out)),
        "--nlu",
        "data/nlu",
        "--out",
        str(out),
        "--quiet",
        "--no-plot",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"cross-validation failed ({proc.returncode})")
    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    entity = {}
    diet = out / "DIETClassifier_report.json"
    if diet.exists():
        entity = json.loads(diet.read_text(encoding="utf-8"))
    phases_file = out / "phases.json"
    phases = json.loads(phases_file.read_text(encoding="utf-8")) if phases_file.exists() else {}
    per_intent = {
        k: round(v["f1-score"], 4)
        for k, v in report.items()
        if isinstance(v, dict) and "support" in v and k not in ("macro avg", "weighted avg", "micro avg")
    }
    result = {
        "folds": folds,
        "seconds": round(time.monotonic() - started, 1),
        "phase_seconds": phases,
        "gated_intents": {k: per_intent.get(k, 0.0) for k in GATED_INTENTS},
        "intent_macro_f1": round(report["macro avg"]["f1-score"], 4),
        "intent_weighted_f1": round(report["weighted avg"]["f1-score"], 4),
        "intent_accuracy": round(report.get("accuracy", 0.0), 4),
        "entity_macro_f1": round(entity.get("macro avg", {}).get("f1-score", 0.0), 4) if entity else None,
        "worst_intents": sorted(
            (
                (k, round(v["f1-score"], 3))
                for k, v in report.items()
                if isinstance(v, dict) and "support" in v and k not in ("macro avg", "weighted avg", "micro avg")
            ),
            key=lambda kv: kv[1],
        )[:5],
    }
    sources_file = out / "sources.json"
    if sources_file.exists():  # without the list of modules, the result is not kept
        sources = json.loads(sources_file.read_text(encoding="utf-8"))
        inputs = _inputs(config, sources)
        changed = sorted(f for f, sha in inputs.items() if before.get(f, sha) != sha)
        if changed:
            print(f"cross-validation not kept: {', '.join(changed)} changed while it ran", file=sys.stderr)
            return result
        CV_CACHE.mkdir(parents=True, exist_ok=True)
        entry = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "sources": sources,
            "inputs": inputs,
            "result": result,
        }
        _cache_file(folds, config).write_text(json.dumps(entry, ensure_ascii=False, indent=1), encoding="utf-8")
    return result


# Issue 11's gate on the cross-validation: intent macro-F1 and each of these intents' F1.
GATE_MACRO_F1 = 0.90
GATED_INTENTS = ("affirm", "deny", "skip")
GATE_INTENT_F1 = 0.90


def gate_failures(cv: dict[str, Any]) -> list[str]:
    failures = []
    if cv["intent_macro_f1"] < GATE_MACRO_F1:
        failures.append(f"intent macro-F1 {cv['intent_macro_f1']:.3f} < {GATE_MACRO_F1}")
    for name, f1 in cv["gated_intents"].items():
        if f1 < GATE_INTENT_F1:
            failures.append(f"{name} F1 {f1:.3f} < {GATE_INTENT_F1}")
    return failures


def newest_model() -> str:
    pinned = bot_config.settings().raw("MADOGUCHI_MODEL")
    if pinned:
        return pinned
    models = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise SystemExit("no trained model in models/ (run make model)")
    return str(models[-1])


def _age_from(entities: list[dict[str, Any]]) -> tuple[int, int] | None:
    lo = next((e["value"] for e in entities if e.get("entity") == "age_min"), None)
    hi = next((e["value"] for e in entities if e.get("entity") == "age_max"), None)
    if lo is None:
        return None
    if hi is None:  # the AgeExtractor always adds the two together
        raise TypeError("an age_min entity without age_max")
    return int(lo), int(hi)


async def _parse_all(model: str, texts: list[str]) -> list[dict[str, Any]]:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    # Parse results carry message text at DEBUG: keep them out of the output.
    configure_structlog(logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)

    agent = Agent.load(model)
    return [await agent.parse_message(t) for t in texts]


def model_figures(model: str) -> dict[str, Any]:
    age_cases = yaml.safe_load((ROOT / "tests" / "data" / "age_eval.yml").read_text(encoding="utf-8"))["cases"]
    crisis = yaml.safe_load((ROOT / "tests" / "safety" / "crisis_messages.yml").read_text(encoding="utf-8"))
    calm = yaml.safe_load((ROOT / "tests" / "safety" / "calm_messages.yml").read_text(encoding="utf-8"))
    crisis_items = crisis["messages"] if isinstance(crisis, dict) else crisis
    calm_items = calm["messages"] if isinstance(calm, dict) else calm
    texts = [c["text"] for c in age_cases] + [c["text"] for c in crisis_items] + [c["text"] for c in calm_items]
    started = time.monotonic()
    parsed = asyncio.run(_parse_all(model, texts))
    seconds = time.monotonic() - started
    n_age, n_crisis = len(age_cases), len(crisis_items)
    age_ok = 0
    for case, result in zip(age_cases, parsed[:n_age]):
        expected = tuple(case["age"]) if case.get("age") else None
        age_ok += int(_age_from(result.get("entities", [])) == expected)
    crisis_hits = sum(r["intent"]["name"] == "crisis" for r in parsed[n_age : n_age + n_crisis])
    calm_hits = sum(r["intent"]["name"] == "crisis" for r in parsed[n_age + n_crisis :])
    return {
        "model": Path(model).name,
        "age_accuracy": round(age_ok / n_age, 4),
        "age_cases": n_age,
        "crisis_recall": round(crisis_hits / n_crisis, 4),
        "crisis_messages": n_crisis,
        "calm_false_positive_rate": round(calm_hits / len(calm_items), 4),
        "calm_messages": len(calm_items),
        "parse_ms_mean": round(1000 * seconds / len(texts), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--config", default="config.yml")
    ap.add_argument("--skip-cv", action="store_true")
    ap.add_argument(
        "--keep",
        action="store_true",
        help=f"after the run, keep its result in {CV_REFERENCE.relative_to(ROOT)} (committed with the data)",
    )
    ap.add_argument(
        "--gate",
        action="store_true",
        help=f"fail unless intent macro-F1 and {', '.join(GATED_INTENTS)} F1 are each >= 0.90 (issue 11)",
    )
    args = ap.parse_args(argv)
    summary: dict[str, Any] = {}
    if not args.skip_cv:
        summary["cross_validation"] = run_cross_validation(args.folds, args.config, RESULTS / "nlu-cv")
        if args.keep:
            print(f"kept as the reference: {keep_as_reference(args.folds, args.config).relative_to(ROOT)}")
    started = time.monotonic()
    summary["model"] = model_figures(newest_model())
    summary["model"]["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nlu-summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    cv = summary.get("cross_validation")
    if cv:
        how = (
            f"reused from {cv['cached_from']}: data, config and code unchanged"
            if cv.get("cached_from")
            else f"{cv['seconds']} s"
        )
        print(
            f"NLU cross-validation ({cv['folds']} folds, {how}): intent macro-F1 {cv['intent_macro_f1']:.3f}, "
            f"weighted F1 {cv['intent_weighted_f1']:.3f}, accuracy {cv['intent_accuracy']:.3f}, "
            f"entity macro-F1 {cv['entity_macro_f1']}"
        )
        print("  weakest intents: " + ", ".join(f"{k} {v}" for k, v in cv["worst_intents"]))
        print(
            "  gated: "
            + ", ".join(f"{k} {v:.3f}" for k, v in cv["gated_intents"].items())
            + "; seconds: "
            + ", ".join(f"{k} {v}" for k, v in cv["phase_seconds"].items())
        )
    m = summary["model"]
    print(
        f"Age extraction accuracy {m['age_accuracy']:.3f} on {m['age_cases']} held-out messages; "
        f"crisis recall {m['crisis_recall']:.3f} on {m['crisis_messages']}, calm false positives "
        f"{m['calm_false_positive_rate']:.3f} on {m['calm_messages']}; mean parse {m['parse_ms_mean']} ms "
        f"({m['seconds']} s with loading)"
    )
    failed = m["crisis_recall"] != 1.0
    if cv and args.gate:
        for failure in gate_failures(cv):
            print(f"NLU GATE FAILED: {failure}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
