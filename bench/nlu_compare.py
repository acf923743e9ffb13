"""NLU quality side by side: four pipelines, one seeded stratified 80/20 split of data/nlu.

    python -m bench.nlu_compare --out result.json [--configs project,sudachi] [--epochs-scale 1]

1. ``rasa data split nlu --training-fraction 0.8 --random-seed 42`` (stratified by intent).
2. ``rasa train nlu`` with each of bench/configs/*.yml on the training part (empty training
   cache each, so the time is a from-scratch time; wall and CPU seconds).
3. Each model parses, in this process: the held-out part (intent macro-F1 as Rasa computes it —
   labels = gold ∪ predicted, so nlu_fallback counts —, accuracy, faq response accuracy, and
   entity F1 for relation/need on (type, value) pairs after synonym mapping), the age
   evaluation set (tests/data/age_eval.yml), the crisis suite (→ intent crisis) and the calm
   look-alikes (false positives); parse ms per message.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from bench.components import timed
from testing.common import ROOT, VENV_BIN, base_env, percentile

CONFIGS = {
    "project": "bench/configs/project.yml",
    "rasa_default": "bench/configs/rasa_default.yml",
    "char_ngrams": "bench/configs/char_ngrams.yml",
    "sudachi": "bench/configs/sudachi.yml",
}
ENTITY_TYPES = ("relation", "need")
SEED = 42


def split(workdir: Path) -> Path:
    out = workdir / "split"
    res = timed(
        [
            str(VENV_BIN / "rasa"),
            "data",
            "split",
            "nlu",
            "-u",
            "data/nlu",
            "--training-fraction",
            "0.8",
            "--random-seed",
            str(SEED),
            "--out",
            str(out),
        ],
        log=workdir / "split.log",
    )
    if res["rc"] != 0 or not (out / "test_data.yml").exists():
        raise SystemExit(f"rasa data split failed; see {workdir / 'split.log'}")
    return out


def _scaled_config(src: Path, dst: Path, epochs_scale: float) -> Path:
    config = yaml.safe_load(src.read_text(encoding="utf-8"))
    if epochs_scale != 1:
        for comp in config.get("pipeline", []):
            if "epochs" in comp:
                comp["epochs"] = max(1, int(round(comp["epochs"] * epochs_scale)))
    dst.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return dst


def train(name: str, config: Path, split_dir: Path, workdir: Path, epochs_scale: float) -> dict[str, Any]:
    cfg = _scaled_config(ROOT / config, workdir / f"{name}.yml", epochs_scale)
    cache = workdir / f"cache-{name}"
    res = timed(
        [
            str(VENV_BIN / "rasa"),
            "train",
            "nlu",
            "-c",
            str(cfg),
            "--nlu",
            str(split_dir / "training_data.yml"),
            "-d",
            "domain.yml",
            "--out",
            str(workdir / "models"),
            "--fixed-model-name",
            name,
            "--quiet",
        ],
        log=workdir / f"train-{name}.log",
        env=base_env(RASA_CACHE_DIRECTORY=str(cache)),
    )
    shutil.rmtree(cache, ignore_errors=True)
    res["model"] = str(workdir / "models" / f"{name}.tar.gz")
    if res["rc"] != 0:
        tail = (workdir / f"train-{name}.log").read_text(errors="replace")[-3000:]
        res["error"] = tail
    return res


def _suites() -> tuple[list[dict], list[dict], list[dict]]:
    age = yaml.safe_load((ROOT / "tests/data/age_eval.yml").read_text(encoding="utf-8"))["cases"]
    crisis = yaml.safe_load((ROOT / "tests/safety/crisis_messages.yml").read_text(encoding="utf-8"))
    calm = yaml.safe_load((ROOT / "tests/safety/calm_messages.yml").read_text(encoding="utf-8"))
    crisis = crisis["messages"] if isinstance(crisis, dict) else crisis
    calm = calm["messages"] if isinstance(calm, dict) else calm
    return age, crisis, calm


def _test_examples(split_dir: Path) -> list[dict[str, Any]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(split_dir / "test_data.yml"))
    out = []
    for ex in data.intent_examples:
        ents = [(e["entity"], str(e.get("value"))) for e in ex.get("entities") or [] if e["entity"] in ENTITY_TYPES]
        out.append(
            {
                "text": ex.get("text"),
                "intent": ex.get("intent"),
                "response_key": ex.get("intent_response_key"),
                "entities": ents,
            }
        )
    return out


def _f1(tp: int, fp: int, fn: int) -> float:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def _age_of(entities: list[dict[str, Any]]) -> tuple[int, int] | None:
    lo = next((e["value"] for e in entities if e.get("entity") == "age_min"), None)
    hi = next((e["value"] for e in entities if e.get("entity") == "age_max"), None)
    return (int(lo), int(hi)) if lo is not None else None


async def _parse_all(model: str, texts: list[str]) -> tuple[list[dict[str, Any]], list[float], float]:
    from rasa.core.agent import Agent

    t0 = time.monotonic()
    agent = Agent.load(model)
    load_s = time.monotonic() - t0
    for t in texts[:5]:  # warm-up (first calls build TF functions)
        await agent.parse_message(t)
    out, ms = [], []
    for t in texts:
        t1 = time.perf_counter()
        out.append(await agent.parse_message(t))
        ms.append((time.perf_counter() - t1) * 1000)
    del agent
    gc.collect()
    return out, ms, load_s


def evaluate(model: str, tests: list[dict[str, Any]]) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    age, crisis, calm = _suites()
    texts = (
        [t["text"] for t in tests] + [c["text"] for c in age] + [c["text"] for c in crisis] + [c["text"] for c in calm]
    )
    parsed, ms, load_s = asyncio.run(_parse_all(model, texts))
    n1, n2, n3 = len(tests), len(tests) + len(age), len(tests) + len(age) + len(crisis)
    gold = [t["intent"] for t in tests]
    pred = [p["intent"]["name"] for p in parsed[:n1]]
    labels = sorted(set(gold) | set(pred))
    macro = f1_score(gold, pred, labels=labels, average="macro", zero_division=0)
    macro_gold = f1_score(gold, pred, labels=sorted(set(gold)), average="macro", zero_division=0)
    accuracy = sum(g == p for g, p in zip(gold, pred)) / len(gold)
    # faq: the response key picked by the ResponseSelector
    faq_total = faq_ok = 0
    for t, p in zip(tests, parsed[:n1]):
        if t["response_key"]:
            faq_total += 1
            got = (((p.get("response_selector") or {}).get("faq") or {}).get("response") or {}).get(
                "intent_response_key"
            )
            faq_ok += int(got == t["response_key"])
    # entities: (type, value) multisets per message
    ent: dict[str, dict[str, int]] = {k: {"tp": 0, "fp": 0, "fn": 0} for k in ENTITY_TYPES}
    for t, p in zip(tests, parsed[:n1]):
        g = Counter(t["entities"])
        q = Counter((e["entity"], str(e.get("value"))) for e in p.get("entities", []) if e["entity"] in ENTITY_TYPES)
        for (typ, _), c in (g & q).items():
            ent[typ]["tp"] += c
        for (typ, _), c in (q - g).items():
            ent[typ]["fp"] += c
        for (typ, _), c in (g - q).items():
            ent[typ]["fn"] += c
    entity_f1 = {k: round(_f1(**v), 4) for k, v in ent.items()}
    age_ok = 0
    for case, p in zip(age, parsed[n1:n2]):
        expected = tuple(case["age"]) if case.get("age") else None
        age_ok += int(_age_of(p.get("entities", [])) == expected)
    crisis_hits = sum(p["intent"]["name"] == "crisis" for p in parsed[n2:n3])
    calm_hits = sum(p["intent"]["name"] == "crisis" for p in parsed[n3:])
    return {
        "intent_macro_f1": round(macro, 4),
        "intent_macro_f1_gold_labels": round(macro_gold, 4),
        "intent_accuracy": round(accuracy, 4),
        "fallback_rate": round(pred.count("nlu_fallback") / len(pred), 4),
        "faq_response_accuracy": round(faq_ok / faq_total, 4) if faq_total else None,
        "entity_f1": entity_f1,
        "entity_macro_f1": round(sum(entity_f1.values()) / len(entity_f1), 4),
        "age_accuracy": round(age_ok / len(age), 4),
        "crisis_recall": round(crisis_hits / len(crisis), 4),
        "calm_false_positives": calm_hits,
        "calm_false_positive_rate": round(calm_hits / len(calm), 4),
        "parse_ms_mean": round(sum(ms) / len(ms), 2),
        "parse_ms_p50": round(percentile(ms, 50) or 0, 2),
        "parse_ms_p95": round(percentile(ms, 95) or 0, 2),
        "model_load_s": round(load_s, 1),
        "n_test": n1,
        "n_age": len(age),
        "n_crisis": len(crisis),
        "n_calm": len(calm),
    }


def model_rss_mb(model: str) -> float | None:
    """RSS of a fresh process that loaded the model and parsed one message."""
    code = (
        "import asyncio,sys\nfrom rasa.core.agent import Agent\n"
        "a=Agent.load(sys.argv[1]);asyncio.run(a.parse_message('こんにちは'))\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])"
    )
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", code, model], cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=600
    )
    try:
        return round(int(proc.stdout.strip().splitlines()[-1]) / 1024, 1)
    except (ValueError, IndexError):
        return None


def run(names: list[str], workdir: Path, epochs_scale: float = 1.0, measure_rss: bool = True) -> dict[str, Any]:
    split_dir = split(workdir)
    tests = _test_examples(split_dir)
    result: dict[str, Any] = {
        "split": {"seed": SEED, "train_fraction": 0.8, "n_test": len(tests), "n_train": None},
        "epochs_scale": epochs_scale,
        "pipelines": {},
    }
    from rasa.shared.nlu.training_data.loading import load_data

    result["split"]["n_train"] = len(load_data(str(split_dir / "training_data.yml")).intent_examples)
    for name in names:
        print(f"[nlu] training {name} …", flush=True)
        tr = train(name, Path(CONFIGS[name]), split_dir, workdir, epochs_scale)
        entry: dict[str, Any] = {"config": CONFIGS[name], "train_wall_s": tr["wall_s"], "train_cpu_s": tr["cpu_s"]}
        if tr["rc"] != 0:
            entry["error"] = tr.get("error", "training failed")
            result["pipelines"][name] = entry
            print(f"[nlu] {name}: training failed", flush=True)
            continue
        print(f"[nlu] evaluating {name} …", flush=True)
        entry.update(evaluate(tr["model"], tests))
        if measure_rss:
            entry["process_rss_mb"] = model_rss_mb(tr["model"])
        result["pipelines"][name] = entry
        print(
            f"[nlu] {name}: intent macro-F1 {entry['intent_macro_f1']}, entity F1 {entry['entity_f1']}, "
            f"parse {entry['parse_ms_mean']} ms, train {entry['train_wall_s']} s",
            flush=True,
        )
    p = result["pipelines"]
    if "project" in p and "rasa_default" in p and p["rasa_default"].get("intent_macro_f1"):
        result["headline_ratio_project_over_default"] = round(
            p["project"]["intent_macro_f1"] / p["rasa_default"]["intent_macro_f1"], 3
        )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--epochs-scale", type=float, default=1.0, help="scale all epochs (smoke runs only)")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (models, logs)")
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-nlu-"))
    try:
        result = run([n for n in args.configs.split(",") if n], workdir, args.epochs_scale, not args.no_rss)
        result["workdir"] = str(workdir) if args.keep else None
        Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
