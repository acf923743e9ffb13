"""Recall / false-positive report for the crisis detector.

    python -m tools.safety_report [--crisis PATH] [--calm PATH] [--lexicon PATH]

Loads the two reviewed suites (tests/safety/crisis_messages.yml and calm_messages.yml),
runs every message through `bot.language.crisis.CrisisDetector` and prints:

* recall per crisis category (a message counts as detected when the signal is high and its
  category set contains the labelled category), and overall;
* per calm look-alike family: how many were flagged high (false positives), how many got
  the soft `history` signal, and agreement with the labelled `expected` outcome;
* false-positive rate per detection category (which categories fire on calm messages);
* throughput.

Exit status: 0 when recall is 100%, 1 when any crisis message is missed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import yaml

from bot.language.crisis import HIGH_CATEGORIES, CrisisCategory, CrisisDetector, CrisisSignal

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CRISIS_SUITE = REPO_ROOT / "tests" / "safety" / "crisis_messages.yml"
DEFAULT_CALM_SUITE = REPO_ROOT / "tests" / "safety" / "calm_messages.yml"

CALM_EXPECTATIONS = ("none", "history")


@dataclass(frozen=True)
class SuiteMessage:
    text: str
    category: str
    expected: str | None = None  # calm suite only


class SuiteError(ValueError):
    """A suite file is malformed."""


def load_suite(path: str | Path, *, calm: bool) -> list[SuiteMessage]:
    """Messages of one suite file (`messages:` list of {text, category[, expected]})."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    items = data.get("messages") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise SuiteError(f"{path}: expected a `messages:` list")
    valid_crisis = {c.value for c in HIGH_CATEGORIES}
    out: list[SuiteMessage] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise SuiteError(f"{path}: messages[{i}] needs a string `text`")
        category = str(item.get("category") or "")
        if not category:
            raise SuiteError(f"{path}: messages[{i}] needs a `category`")
        expected: str | None = None
        if calm:
            expected = str(item.get("expected") or "")
            if expected not in CALM_EXPECTATIONS:
                raise SuiteError(f"{path}: messages[{i}] expected must be one of {CALM_EXPECTATIONS}")
        elif category not in valid_crisis:
            raise SuiteError(f"{path}: messages[{i}] unknown crisis category {category!r}")
        out.append(SuiteMessage(item["text"], category, expected))
    return out


def outcome(signal: CrisisSignal | None) -> str:
    """'none', 'history' (soft, low) or 'high'."""
    if signal is None:
        return "none"
    return "high" if signal.urgent else "history"


def detected(message: SuiteMessage, signal: CrisisSignal | None) -> bool:
    """A crisis message is detected when high and carrying its labelled category."""
    return signal is not None and signal.urgent and CrisisCategory(message.category) in signal.categories


@dataclass
class Report:
    crisis_total: Counter[str] = field(default_factory=Counter)
    crisis_hit: Counter[str] = field(default_factory=Counter)
    crisis_high_any: Counter[str] = field(default_factory=Counter)
    misses: list[tuple[SuiteMessage, CrisisSignal | None]] = field(default_factory=list)
    calm_total: Counter[str] = field(default_factory=Counter)
    calm_high: Counter[str] = field(default_factory=Counter)
    calm_soft: Counter[str] = field(default_factory=Counter)
    calm_agree: Counter[str] = field(default_factory=Counter)
    calm_expected_none: int = 0
    calm_soft_on_none: int = 0
    fp_by_detected: Counter[str] = field(default_factory=Counter)
    false_positives: list[tuple[SuiteMessage, CrisisSignal]] = field(default_factory=list)
    disagreements: list[tuple[SuiteMessage, str]] = field(default_factory=list)
    seconds: float = 0.0
    n_messages: int = 0

    # -- headline figures --------------------------------------------------------------
    @property
    def recall(self) -> float:
        total = sum(self.crisis_total.values())
        return sum(self.crisis_hit.values()) / total if total else 1.0

    @property
    def fp_rate(self) -> float:
        """Share of calm messages flagged high (urgent)."""
        total = sum(self.calm_total.values())
        return sum(self.calm_high.values()) / total if total else 0.0

    @property
    def soft_fp_rate(self) -> float:
        """Share of calm messages labelled `none` that got the soft history signal."""
        return self.calm_soft_on_none / self.calm_expected_none if self.calm_expected_none else 0.0

    @property
    def agreement(self) -> float:
        total = sum(self.calm_total.values())
        return sum(self.calm_agree.values()) / total if total else 1.0


def evaluate(
    detector: CrisisDetector,
    crisis: Sequence[SuiteMessage],
    calm: Sequence[SuiteMessage],
) -> Report:
    report = Report()
    start = time.perf_counter()
    for msg in crisis:
        signal = detector.detect(msg.text)
        report.crisis_total[msg.category] += 1
        if signal is not None and signal.urgent:
            report.crisis_high_any[msg.category] += 1
        if detected(msg, signal):
            report.crisis_hit[msg.category] += 1
        else:
            report.misses.append((msg, signal))
    for msg in calm:
        signal = detector.detect(msg.text)
        got = outcome(signal)
        report.calm_total[msg.category] += 1
        if msg.expected == "none":
            report.calm_expected_none += 1
            if got == "history":
                report.calm_soft_on_none += 1
        if got == "high":
            assert signal is not None
            report.calm_high[msg.category] += 1
            report.false_positives.append((msg, signal))
            for cat in signal.categories:
                if cat is not CrisisCategory.HISTORY:
                    report.fp_by_detected[cat.value] += 1
        elif got == "history":
            report.calm_soft[msg.category] += 1
        if got == msg.expected:
            report.calm_agree[msg.category] += 1
        else:
            report.disagreements.append((msg, got))
    report.seconds = time.perf_counter() - start
    report.n_messages = len(crisis) + len(calm)
    return report


def _pct(num: int, den: int) -> str:
    return f"{100.0 * num / den:6.1f}%" if den else "     -"


def render(report: Report) -> str:
    lines: list[str] = []
    add = lines.append
    add("Crisis suite — recall per category")
    add(f"  {'category':<14}{'n':>6}{'detected':>10}{'recall':>9}{'high(any)':>11}")
    for cat in [c.value for c in HIGH_CATEGORIES]:
        n = report.crisis_total[cat]
        add(
            f"  {cat:<14}{n:>6}{report.crisis_hit[cat]:>10}{_pct(report.crisis_hit[cat], n):>9}"
            f"{report.crisis_high_any[cat]:>11}"
        )
    n_cr = sum(report.crisis_total.values())
    n_hit = sum(report.crisis_hit.values())
    add(f"  {'overall':<14}{n_cr:>6}{n_hit:>10}{_pct(n_hit, n_cr):>9}")
    add("")
    add("Calm suite — look-alike families (FP = flagged high)")
    add(f"  {'family':<16}{'n':>5}{'FP':>5}{'FP rate':>9}{'history':>9}{'agree':>9}")
    for fam in sorted(report.calm_total):
        n = report.calm_total[fam]
        add(
            f"  {fam:<16}{n:>5}{report.calm_high[fam]:>5}{_pct(report.calm_high[fam], n):>9}"
            f"{report.calm_soft[fam]:>9}{_pct(report.calm_agree[fam], n):>9}"
        )
    n_ca = sum(report.calm_total.values())
    n_fp = sum(report.calm_high.values())
    add(
        f"  {'overall':<16}{n_ca:>5}{n_fp:>5}{_pct(n_fp, n_ca):>9}"
        f"{sum(report.calm_soft.values()):>9}{_pct(sum(report.calm_agree.values()), n_ca):>9}"
    )
    add("")
    add("False-positive rate per detection category (calm messages flagged with it)")
    for cat in [c.value for c in HIGH_CATEGORIES]:
        add(f"  {cat:<14}{report.fp_by_detected[cat]:>5}{_pct(report.fp_by_detected[cat], n_ca):>9}")
    add("")
    add("Overall")
    add(f"  recall                         {100 * report.recall:6.2f}%  ({n_hit}/{n_cr})")
    add(f"  false-positive rate (high)     {100 * report.fp_rate:6.2f}%  ({n_fp}/{n_ca})")
    add(
        f"  soft history on `none` calm    {100 * report.soft_fp_rate:6.2f}%  "
        f"({report.calm_soft_on_none}/{report.calm_expected_none})"
    )
    add(f"  calm expectation agreement     {100 * report.agreement:6.2f}%")
    if report.n_messages:
        add(f"  speed                          {1e6 * report.seconds / report.n_messages:8.1f} µs/message")
    if report.misses:
        add("")
        add("MISSED crisis messages (fix the lexicon, not the suite):")
        for msg, sig in report.misses:
            got = "none" if sig is None else f"{sig.severity} {[c.value for c in sig.categories]}"
            add(f"  [{msg.category}] {msg.text[:70]!r} -> {got}")
    if report.false_positives:
        add("")
        add("Calm messages flagged high:")
        for msg, sig in report.false_positives:
            add(f"  [{msg.category}] {msg.text[:70]!r} -> {[c.value for c in sig.categories]} {sig.matched}")
    other = [(m, g) for m, g in report.disagreements if g != "high"]
    if other:
        add("")
        add("Calm expectation mismatches (not high):")
        for msg, got in other:
            add(f"  [{msg.category}] expected {msg.expected}, got {got}: {msg.text[:70]!r}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.safety_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--crisis", type=Path, default=DEFAULT_CRISIS_SUITE)
    parser.add_argument("--calm", type=Path, default=DEFAULT_CALM_SUITE)
    parser.add_argument("--lexicon", type=Path, default=None, help="lexicon YAML (default: shipped)")
    args = parser.parse_args(argv)
    try:
        detector = CrisisDetector(args.lexicon)
        crisis = load_suite(args.crisis, calm=False)
        calm = load_suite(args.calm, calm=True)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"safety_report: {exc}", file=sys.stderr)
        return 2
    report = evaluate(detector, crisis, calm)
    print(render(report))
    if report.misses:
        print(f"\nFAIL: recall {100 * report.recall:.2f}% < 100%", file=sys.stderr)
        return 1
    return 0


def _entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    _entry()


__all__ = [
    "SuiteMessage",
    "SuiteError",
    "Report",
    "load_suite",
    "evaluate",
    "render",
    "main",
    "outcome",
    "detected",
]
