"""`make eval`: every case in tests/conversations/ through the REST API of a running stack.

What the bot understood is read from the tracker (slots); what it did on each turn is read from
the turn's events (actions run, responses sent). Prints the figures, appends them to
tests/conversations/results/history.jsonl, and with --gate exits 1 when a gate is not met.

    python -m tests.conversations.evaluate --url http://127.0.0.1:5005 [--gate] [--only st-] [-v]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tests.conversations.cases import HERE, Case, Gold, load_cases, load_real_cases

RESULTS = HERE / "results"
GATES = {"relation": 0.95, "age": 0.95, "windows": 0.95, "steering": 1.0, "crisis_recall": 1.0}
# Ceilings (at most): a wrong writer said back, or any false fact in the reflection, hurts more
# than a question (issue 18).
CEILINGS = {"relation_wrong": 0.01, "reflection_false_facts": 0}
# The real-derived tier (tests/conversations/real/), on all of it and on each split.
REAL_GATES = {"relation": 0.85, "age": 0.90, "windows": 0.90, "steering": 1.0, "crisis_recall": 1.0}
REAL_CEILINGS = {"relation_wrong": 0.03, "reflection_false_facts": 0}
# Action and response names behind each signal (the only place that knows them).
# `crisis_alarm` is internal: the full crisis reply (calm look-alikes must not get it; the
# gentle lines for a past, resolved risk are `hotlines` only).
_ACTION_SIGNALS = {
    "action_crisis_support": "crisis_alarm",
    "action_show_hotlines": "hotlines",
    "action_offer_human": "human",
    "action_start_over": "restart",
    "action_stop": "stopped",
    "action_ask_delete": "erase",
    "action_delete_data": "erase",
    "action_ibasho_schedule": "ibasho_dates",
}
_RESPONSE_SIGNALS = {
    "utter_greet": "greeting",
    "utter_greet_returning": "greeting",
    "utter_ask_relation_status": "asks_relation",
    "utter_ask_age_status": "asks_age",
    "utter_ask_situation_status": "asks_situation",
    "utter_ask_needs_status": "asks_needs",
    "utter_fallback": "fallback",
    "utter_reflect": "reflect",
    "utter_ask_consent": "callback",
    "utter_ask_contact_method": "callback",
    "utter_ask_phone": "callback",
    "utter_ask_preferred_slot": "callback",
    "utter_ask_nickname": "callback",
    "utter_confirm_summary": "callback",
    "utter_ticket_booked": "booked",
    "utter_ticket_booked_anytime": "booked",
    "utter_ticket_stored_later": "booked",
    "utter_human_offer": "human",
    # The offer of a callback (「よければ、担当の職員から折り返し…ご希望ですか？」 with its buttons) is
    # an offer of a person too: the path starts with one tap.
    "utter_offer_callback": "human",
    "utter_ask_delete": "erase",
    "utter_deleted": "erase",
    "utter_stop": "stopped",
    "utter_start_over": "restart",
}
# Booking questions asked by custom actions rather than by a response.
_CALLBACK_ACTIONS = {"action_ask_preferred_slot", "action_ask_confirm"}


@dataclass
class TurnResult:
    user: str
    signals: list[str]
    texts: list[str]
    windows: list[str]
    ok: bool = True
    failed: list[str] = field(default_factory=list)
    reflections: list[str] = field(default_factory=list)


@dataclass
class CaseResult:
    id: str
    kind: str
    style: str
    turns: list[TurnResult]
    slots: dict[str, Any]
    relation_ok: bool
    relation_outcome: str  # right | asked | wrong
    reflection_false: list[str]
    age_ok: bool
    needs_ok: bool
    windows_ok: bool | None
    crisis_ok: bool
    steering_ok: bool | None
    windows: list[str]
    first_recommendation: int | None
    error: str | None = None
    tier: str = "own"
    split: str = ""


class Client:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def _open(self, req: urllib.request.Request | str, timeout: float = 60) -> Any:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def say(self, sender: str, text: str) -> list[dict[str, Any]]:
        body = json.dumps({"sender": sender, "message": text}).encode("utf-8")
        req = urllib.request.Request(
            f"{self.url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
        )
        return self._open(req)

    def tracker(self, conversation_id: str) -> dict[str, Any]:
        q = {"include_events": "ALL"}
        if self.token:
            q["token"] = self.token
        return self._open(f"{self.url}/conversations/{conversation_id}/tracker?{urllib.parse.urlencode(q)}")


def turn_reflections(events: list[dict[str, Any]]) -> list[str]:
    """The reflection sentences (utter_reflect) sent after the last user message."""
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    return [
        e.get("text") or ""
        for e in events[last_user + 1 :]
        if e.get("event") == "bot" and (e.get("metadata") or {}).get("utter_action") == "utter_reflect"
    ]


def with_derived_signals(signals: list[str]) -> list[str]:
    """`person`: a booking question, a booking or the offer of a person; `guided`: windows, or the
    crisis lines."""
    out = set(signals)
    if out & {"callback", "human", "booked"}:
        out.add("person")
    if out & {"windows", "hotlines", "crisis_alarm"}:
        out.add("guided")
    return sorted(out)


@lru_cache(maxsize=1)
def _said_back_family_words() -> frozenset[str]:
    import yaml

    from bot.language.kinship import kinship

    w = yaml.safe_load((HERE.parent.parent / "bot" / "resources" / "reflect.yml").read_text(encoding="utf-8"))
    return frozenset(kinship().said_back().values()) | {w["who"]["family"]}


_AGE_SAID = re.compile(r"(\d+)歳の|(\d+)〜(\d+)歳くらいの")


def reflection_false_facts(texts: list[str], gold: Gold) -> list[str]:
    """Facts about who writes and the person's age that the reflection states and the gold
    labels contradict (a relation or an age stated where the labels say it is not known counts)."""
    false: list[str] = []
    for text in texts:
        if "ご自身" in text and gold.relation != "self":
            false.append("says the writer is the person")
        if any(word in text for word in _said_back_family_words()) and gold.relation != "family":
            false.append("says a family member is concerned")
        if "その方" in text and gold.relation == "self":
            false.append("says someone else is concerned")
        for m in _AGE_SAID.finditer(text):
            lo, hi = (int(m.group(1)),) * 2 if m.group(1) else (int(m.group(2)), int(m.group(3)))
            if gold.age is None or abs(lo - gold.age[0]) > 2 or abs(hi - gold.age[1]) > 2:
                false.append(f"says age {lo}-{hi}")
    return false


def _reflections_after_corrections(turns: list[TurnResult]) -> list[str]:
    """What the bot said back from the person's last correction on: before 「すみません、本当は
    自分のことです」 it rightly said back what it had been told."""
    from bot.language.facts import is_correction

    last = max((i for i, t in enumerate(turns) if is_correction(t.user)), default=0)
    return [x for t in turns[last:] for x in t.reflections]


def turn_signals(events: list[dict[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    """(signals, bot texts, window ids) of the events after the last user message."""
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    signals: list[str] = []
    texts: list[str] = []
    windows: list[str] = []
    for e in events[last_user + 1 :]:
        kind = e.get("event")
        if kind == "action":
            name = e.get("name") or ""
            if name in _ACTION_SIGNALS:
                signals.append(_ACTION_SIGNALS[name])
            if name in _CALLBACK_ACTIONS:
                signals.append("callback")
        elif kind == "bot":
            texts.append(e.get("text") or "")
            utter = (e.get("metadata") or {}).get("utter_action") or ""
            if utter in _RESPONSE_SIGNALS:
                signals.append(_RESPONSE_SIGNALS[utter])
            if utter.startswith("utter_faq"):
                signals.append("faq")
            custom = (e.get("data") or {}).get("custom") or {}
            if isinstance(custom, dict):
                if custom.get("windows"):
                    signals.append("windows")
                    windows = [w["id"] for w in custom["windows"]]
                if custom.get("hotlines") or custom.get("crisis_lines"):
                    signals.append("hotlines")
    return sorted(set(signals)), texts, windows


@lru_cache(maxsize=1)
def _response_by_text() -> dict[str, str]:
    """Response texts without template variables → response name (domain.yml)."""
    import yaml

    domain = yaml.safe_load((HERE.parent.parent / "domain.yml").read_text(encoding="utf-8"))
    return {
        v["text"]: name
        for name, variants in domain["responses"].items()
        for v in variants
        if "text" in v and "{" not in v["text"]
    }


def reply_signals(reply: list[dict[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    signals: list[str] = []
    texts = [m.get("text") or "" for m in reply]
    known = _response_by_text()
    for text in texts:
        name = known.get(text, "")
        if name in _RESPONSE_SIGNALS:
            signals.append(_RESPONSE_SIGNALS[name])
    return sorted(set(signals)), texts, []


def _age_ok(gold: tuple[int, int] | None, lo: Any, hi: Any) -> bool:
    if gold is None:
        return lo is None
    if lo is None:
        return False
    hi = lo if hi is None else hi
    return abs(float(lo) - gold[0]) <= 2 and abs(float(hi) - gold[1]) <= 2


def _routed(slots: dict[str, Any]) -> list[str]:
    from bot.domain.directory import get_directory
    from bot.domain.routing import Profile, route_windows

    relation = slots.get("relation")
    profile = Profile(
        relation=relation if relation in ("self", "family", "other") else None,
        age_min=slots.get("age_min"),
        age_max=slots.get("age_max"),
        needs=tuple(slots.get("needs") or ()),
    )
    return [r.window.id for r in route_windows(profile, get_directory())]


def run_case(client: Client, case: Case, conversation_id) -> CaseResult:
    sender = f"eval-{case.id}-{uuid.uuid4().hex[:8]}"
    cid = ""
    turns: list[TurnResult] = []
    shown: list[str] = []
    first_rec = None
    try:
        for i, turn in enumerate(case.turns):
            reply = client.say(sender, turn.user)
            cid = cid or conversation_id(sender)
            events = client.tracker(cid)["events"]
            if any(e.get("event") == "user" for e in events):
                signals, texts, windows = turn_signals(events)
            else:
                # The conversation was just erased (the tracker store deletes it right after
                # saving the erasing turn): read what this turn did from the reply itself.
                signals, texts, windows = reply_signals(reply)
            signals = with_derived_signals(signals)
            tr = TurnResult(
                turn.user,
                signals,
                texts,
                windows,
                reflections=turn_reflections(events) if any(e.get("event") == "user" for e in events) else [],
            )
            tr.failed = [f"+{s}" for s in turn.expect if s not in signals]
            tr.failed += [f"-{s}" for s in turn.expect_not if s in signals]
            tr.ok = not tr.failed
            if windows:
                shown = windows
                first_rec = i + 1 if first_rec is None else first_rec
            turns.append(tr)
        slots = client.tracker(cid).get("slots") or {}
    except Exception as exc:  # a broken case is reported, not fatal
        return CaseResult(
            case.id,
            case.kind,
            case.style,
            turns,
            {},
            False,
            "wrong",
            [],
            False,
            False,
            False,
            False,
            False if case.kind == "steering" or case.tier == "real" else None,
            [],
            None,
            error=repr(exc),
            tier=case.tier,
            split=case.split,
        )
    g = case.gold
    relation = slots.get("relation") if slots.get("relation") in ("self", "family", "other") else None
    needs = set(slots.get("needs") or ())
    windows = shown or _routed(slots)
    crisis_by = case.crisis_turn or len(turns)  # real tier: the crisis lines on the turn that shows it
    crisis_seen = any("hotlines" in t.signals or "crisis_alarm" in t.signals for t in turns[:crisis_by])
    outcome = "right" if relation == g.relation else ("asked" if relation is None else "wrong")
    windows_ok = None if g.crisis else (set(case.windows) <= set(windows) and not set(case.not_windows) & set(windows))
    return CaseResult(
        id=case.id,
        kind=case.kind,
        style=case.style,
        turns=turns,
        slots=slots,
        relation_ok=relation == g.relation,
        relation_outcome=outcome,
        reflection_false=reflection_false_facts(_reflections_after_corrections(turns), g),
        age_ok=_age_ok(g.age, slots.get("age_min"), slots.get("age_max")),
        needs_ok=set(g.needs) <= needs and not (set(g.needs_not) & needs),
        windows_ok=windows_ok,
        crisis_ok=crisis_seen if g.crisis else True,
        steering_ok=all(t.ok for t in turns)
        if case.kind == "steering" or (case.tier == "real" and any(t.expect or t.expect_not for t in case.turns))
        else None,
        windows=windows,
        first_recommendation=first_rec,
        tier=case.tier,
        split=case.split,
    )


def _rate(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarize(results: list[CaseResult]) -> dict[str, Any]:
    scored = [r for r in results if r.kind in ("first_messages", "multi_turn")]
    all_turns = [t for r in results for t in r.turns]
    repeats = 0
    triples = 0
    for r in results:
        prev, run = None, 0
        for t in r.turns:
            reply = "\n".join(t.texts)
            run = run + 1 if reply and reply == prev else 1
            repeats += run == 2
            triples += run == 3
            prev = reply
    fallback_runs = sum(
        1
        for r in results
        for a, b in zip(r.turns, r.turns[1:])
        if "fallback" in a.signals and "fallback" in b.signals and "windows" not in b.signals
    )
    multi = [r for r in results if r.kind == "multi_turn"]
    firsts = [r.first_recommendation for r in multi if r.first_recommendation]
    asks = sum(sum(s.startswith("asks_") for s in t.signals) for t in all_turns)
    crisis_cases = [r for r in results if _gold_crisis[r.id]]
    calm = [r for r in results if not _gold_crisis[r.id]]
    return {
        "cases": len(results),
        "by_kind": dict(Counter(r.kind for r in results)),
        "relation": _rate([r.relation_ok for r in scored]),
        "relation_asked": _rate([r.relation_outcome == "asked" for r in scored]),
        "relation_wrong": _rate([r.relation_outcome == "wrong" for r in scored]),
        "reflection_false_facts": sum(len(r.reflection_false) for r in scored),
        "age": _rate([r.age_ok for r in scored]),
        "needs": _rate([r.needs_ok for r in scored]),
        "windows": _rate([r.windows_ok for r in scored if r.windows_ok is not None]),
        "steering": _rate([bool(r.steering_ok) for r in results if r.steering_ok is not None]),
        "crisis_recall": _rate([r.crisis_ok for r in crisis_cases]),
        "calm_with_crisis_reply": _rate(
            [any(s == "crisis_alarm" for t in r.turns for s in t.signals) for r in calm if r.kind != "steering"]
        ),
        "turns_to_first_recommendation": round(sum(firsts) / len(firsts), 2) if firsts else None,
        "multi_turn_recommended": _rate([r.first_recommendation is not None for r in multi]),
        "fallback_rate": _rate(["fallback" in t.signals for t in all_turns]),
        "fallback_twice_in_a_row": fallback_runs,
        "identical_reply_twice": repeats,
        "identical_reply_three_times": triples,
        "questions_per_message": round(asks / len(all_turns), 3) if all_turns else None,
        "errors": sum(1 for r in results if r.error),
    }


_gold_crisis: dict[str, bool] = {}


def gate_failures(summary: dict[str, Any]) -> list[str]:
    """Every gate of the project's own cases and of the real-derived tier that is not met."""
    out = _tier_failures("", summary, GATES, CEILINGS)
    for part, figures in (summary.get("real") or {}).items():
        out += _tier_failures(f"real/{part} ", figures, REAL_GATES, REAL_CEILINGS)
    return out


def _tier_failures(
    label: str, summary: dict[str, Any], gates: dict[str, float], ceilings: dict[str, float]
) -> list[str]:
    out = []
    if not summary.get("cases"):
        return out
    for key, floor in gates.items():
        value = summary.get(key)
        if value is None or value < floor:
            out.append(f"{label}{key} {value} < {floor}")
    for key, ceiling in ceilings.items():
        value = summary.get(key)
        if value is not None and value > ceiling:
            out.append(f"{label}{key} {value} > {ceiling}")
    if summary["identical_reply_three_times"]:
        out.append(f"{label}identical reply three times in a row: {summary['identical_reply_three_times']}")
    if summary["errors"]:
        out.append(f"{label}{summary['errors']} cases failed to run")
    return out


def conversation_id_fn(var_dir: str | Path | None):
    """How the stack's REST channel names a sender's conversation (its pseudonym key)."""
    from bot.security.keys import ROOT
    from bot.security.pseudonym import ENV_KEY, pseudonymize_with

    path = Path(var_dir or ROOT / "var") / "sender.key"

    def conversation_id(sender: str) -> str:
        # Read when first needed: the stack writes its key on its first REST message.
        key = os.environ.get(ENV_KEY, "").encode("utf-8") or path.read_bytes().strip()
        return pseudonymize_with(key, "rest", sender)

    return conversation_id


def _git_rev() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE, check=False
        ).stdout.strip()
    except OSError:
        return ""


def report_failures(results: list[CaseResult], limit: int) -> None:
    """Failing cases, one line each. The held-out split is never shown case by case: nobody who
    fixes the bot reads it."""
    shown = 0
    for r in results:
        if r.split == "heldout":
            continue
        problems = []
        if r.error:
            problems.append(f"error {r.error}")
        if r.kind != "steering":
            if not r.relation_ok:
                problems.append(f"relation={r.slots.get('relation')} ({r.relation_outcome})")
            if r.reflection_false:
                problems.append(f"reflection: {'; '.join(r.reflection_false)}")
            if not r.age_ok:
                problems.append(f"age={r.slots.get('age_min')}-{r.slots.get('age_max')}")
            if not r.needs_ok:
                problems.append(f"needs={r.slots.get('needs')}")
            if r.windows_ok is False:
                problems.append(f"windows={r.windows}")
            if not r.crisis_ok:
                problems.append("crisis missed")
        for i, t in enumerate(r.turns):
            if t.failed:
                problems.append(f"turn{i + 1} {t.failed} got {t.signals}")
        if problems and shown < limit:
            print(f"  {r.id}: {'; '.join(problems)}")
            print("      " + " / ".join(t.user for t in r.turns)[:200])
            shown += 1


def run_evaluation(
    url: str,
    token: str | None,
    var_dir: str | Path | None,
    *,
    only: str = "",
    workers: int = 4,
    tiers: tuple[str, ...] = ("own", "real"),
) -> tuple[dict[str, Any], list[CaseResult]]:
    """Every case (or those whose id starts with `only`) against the stack at `url`.

    The top-level figures are the project's own cases; `summary["real"]` holds the real-derived
    tier, all of it and each split apart."""
    cases = (load_cases() if "own" in tiers else []) + (load_real_cases() if "real" in tiers else [])
    cases = [c for c in cases if c.id.startswith(only)]
    _gold_crisis.update({c.id: c.gold.crisis for c in cases})
    client = Client(url, token)
    conversation_id = conversation_id_fn(var_dir)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda c: run_case(client, c, conversation_id), cases))
    own = [r for r in results if r.tier == "own"]
    real = [r for r in results if r.tier == "real"]
    summary = summarize(own) if own else {"cases": 0}
    if real:
        summary["real"] = {
            "all": summarize(real),
            **{
                split: summarize(part)
                for split in ("dev", "heldout")
                if (part := [r for r in real if r.split == split])
            },
        }
    summary["seconds"] = round(time.monotonic() - started, 1)
    by_style: dict[str, list[bool]] = defaultdict(list)
    for r in own:
        if r.kind != "steering":
            by_style[r.style].append(r.relation_ok and r.age_ok and r.windows_ok is not False)
    summary["all_right_by_style"] = {k: _rate(v) for k, v in sorted(by_style.items())}
    return summary, results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the conversation evaluation against a running stack.")
    ap.add_argument("--url", default=os.environ.get("MADOGUCHI_RASA_URL", "http://127.0.0.1:5005"))
    ap.add_argument("--token", default=os.environ.get("RASA_API_TOKEN"))
    ap.add_argument("--var-dir", default=None, help="the stack's MADOGUCHI_VAR_DIR (sender key)")
    ap.add_argument("--only", default="", help="run only cases whose id starts with this")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument(
        "--tier",
        choices=("own", "real", "all"),
        default="all",
        help="the project's own cases, the real-derived tier, or both",
    )
    ap.add_argument("--gate", action="store_true", help="exit 1 if a gate is not met")
    ap.add_argument("--no-history", action="store_true")
    ap.add_argument("-v", "--verbose", type=int, nargs="?", const=60, default=0, help="list up to N failing cases")
    ap.add_argument("--json", type=Path, default=None, help="write per-case results here")
    args = ap.parse_args(argv)

    tiers = ("own", "real") if args.tier == "all" else (args.tier,)
    summary, results = run_evaluation(
        args.url, args.token, args.var_dir, only=args.only, workers=args.workers, tiers=tiers
    )
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    if args.verbose:
        report_failures(results, args.verbose)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=1), encoding="utf-8")
    if not args.no_history and not args.only:
        RESULTS.mkdir(exist_ok=True)
        with open(RESULTS / "history.jsonl", "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rev": _git_rev(), **summary},
                    ensure_ascii=False,
                )
                + "\n"
            )
    failures = gate_failures(summary)
    for f in failures:
        print(f"GATE: {f}")
    return 1 if (args.gate and failures) else 0


if __name__ == "__main__":
    sys.exit(main())
