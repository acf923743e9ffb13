"""What do the GiNZA components cost, and does the model need them?

    python -m bench.ginza_lite [--model models/x.tar.gz] [--out result.json]

Rasa's SpacyNLP loads ja_ginza with only the parser disabled, so every message still runs
tok2vec, ner, morphologizer, compound_splitter and bunsetu_recognizer. The pipeline reads only
tokens, lemmas and the *static* word vectors (SpacyTokenizer, SpacyFeaturizer), which come from
the tokenizer and the vocabulary, not from those components. This loads the same trained model
twice — as is, and with spaCy's components excluded — parses the same messages (conversations,
age set, crisis and calm suites) and reports: ms per message each way, how many parse results
differ (intent, confidence to 1e-6, entities), and spaCy alone per message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

import yaml

from bench.conversations import all_texts
from testing.common import ROOT, newest_model, percentile

# The "as is" side loads ja_ginza as Rasa ships it, so bot.rasa_plugins must not apply its fix on import.
os.environ["MADOGUCHI_RASA_FIXES"] = "0"
from bot.rasa_plugins.runtime import GINZA_UNUSED

EXCLUDE = list(GINZA_UNUSED)


def texts() -> list[str]:
    out = list(all_texts())
    out += [c["text"] for c in yaml.safe_load((ROOT / "tests/data/age_eval.yml").read_text(encoding="utf-8"))["cases"]]
    for name in ("crisis_messages.yml", "calm_messages.yml"):
        data = yaml.safe_load((ROOT / "tests/safety" / name).read_text(encoding="utf-8"))
        out += [m["text"] for m in (data["messages"] if isinstance(data, dict) else data)][:120]
    return out


async def _parse(model: str, items: list[str]) -> tuple[list[dict[str, Any]], list[float]]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    for t in items[:5]:
        await agent.parse_message(t)
    out, ms = [], []
    for t in items:
        t0 = time.perf_counter()
        out.append(await agent.parse_message(t))
        ms.append((time.perf_counter() - t0) * 1000)
    return out, ms


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a["intent"]["name"] != b["intent"]["name"]:
        return False
    if abs((a["intent"].get("confidence") or 0) - (b["intent"].get("confidence") or 0)) > 1e-6:
        return False
    ea = sorted((e["entity"], str(e.get("value"))) for e in a.get("entities", []))
    eb = sorted((e["entity"], str(e.get("value"))) for e in b.get("entities", []))
    return ea == eb


def run(model: str) -> dict[str, Any]:
    import spacy
    from rasa.nlu.utils.spacy_utils import SpacyNLP

    from bot.rasa_plugins.runtime import lean_ginza_loader

    items = texts()
    full, full_ms = asyncio.run(_parse(model, items))
    original = SpacyNLP.load_model
    SpacyNLP.load_model = staticmethod(lean_ginza_loader(original))
    try:
        lite, lite_ms = asyncio.run(_parse(model, items))
    finally:
        SpacyNLP.load_model = staticmethod(original)
    # spaCy alone
    nlp_full = spacy.load("ja_ginza", disable=["parser"])
    nlp_lite = spacy.load("ja_ginza", exclude=EXCLUDE)
    spacy_ms = {}
    for name, nlp in (("ja_ginza_as_rasa_loads_it", nlp_full), ("ja_ginza_without_components", nlp_lite)):
        for t in items[:5]:
            nlp(t)
        t0 = time.perf_counter()
        for t in items:
            nlp(t)
        spacy_ms[name] = round((time.perf_counter() - t0) * 1000 / len(items), 2)
    diff = [i for i, (a, b) in enumerate(zip(full, lite)) if not _same(a, b)]
    r = lambda xs: {
        "mean": round(sum(xs) / len(xs), 2),
        "p50": round(percentile(xs, 50) or 0, 2),
        "p95": round(percentile(xs, 95) or 0, 2),
    }
    return {
        "model": Path(model).name,
        "messages": len(items),
        "parse_ms_as_is": r(full_ms),
        "parse_ms_without_ginza_components": r(lite_ms),
        "spacy_ms_per_message": spacy_ms,
        "different_results": len(diff),
        "examples_of_differences": [items[i] for i in diff[:5]],
        "excluded": EXCLUDE,
    }


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    result = run(args.model or str(newest_model()))
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
