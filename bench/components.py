"""Component figures: NLU parse latency, action server latency per action, full training time."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

from testing.common import ROOT, VENV_BIN, base_env, get_json, latency_summary, post_json


def parse_latency(rasa_url: str, texts: list[str], rounds: int = 2) -> dict[str, Any]:
    """POST /model/parse for each text, one at a time (server at rest): p50/p95."""
    for t in texts[:3]:  # warm-up
        post_json(f"{rasa_url}/model/parse", {"text": t})
    ms = []
    for _ in range(rounds):
        for t in texts:
            t0 = time.perf_counter()
            post_json(f"{rasa_url}/model/parse", {"text": t})
            ms.append((time.perf_counter() - t0) * 1000)
    return latency_summary(ms)


def rest_turn_latency(rasa_url: str, conversations: list[list[Any]], rounds: int = 2) -> dict[str, Any]:
    """Whole turns over the REST channel (NLU, policies, action calls, tracker save), one person
    at a time with the server otherwise at rest: what someone on `make run` waits for."""
    ms = []
    for r in range(rounds + 1):  # round 0 warms up
        for n, steps in enumerate(conversations):
            sender = f"bench-rest-{r}-{n}-{time.time_ns()}"
            for step in steps:
                text = step if isinstance(step, str) else step["text"]
                t0 = time.perf_counter()
                post_json(f"{rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": text}, timeout=120)
                if r:
                    ms.append((time.perf_counter() - t0) * 1000)
    return latency_summary(ms)


# --- action server -------------------------------------------------------------------------------
def recorded_action_calls(rasa_url: str, sender_ids: list[str], limit: int = 400) -> list[dict[str, Any]]:
    """Rebuild the exact requests Rasa sent to the action server from stored trackers.

    For each custom action run in a conversation, the tracker is cut just before the action's
    event and serialised the way Rasa does (``current_state(EventVerbosity.ALL)`` + the domain).
    """
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

    domain = Domain.load(str(ROOT / "domain.yml"))
    domain_dict = domain.as_dict()
    custom = set(domain.user_actions)
    forms = set(domain.form_names)
    # Called by Rasa without an "action" event of their own: the custom slot mapping after
    # every user message (inside action_extract_slots) and validate_<form> inside a form.
    extract = "action_extract_profile" if "action_extract_profile" in custom else None
    calls: list[dict[str, Any]] = []

    def add(name: str, sid: str, events: list[dict[str, Any]]) -> None:
        tracker = DialogueStateTracker.from_dict(sid, events, domain.slots)
        calls.append(
            {
                "next_action": name,
                "sender_id": sid,
                "tracker": tracker.current_state(EventVerbosity.ALL),
                "domain": domain_dict,
                "version": "3.6.21",
            }
        )

    for sid in sender_ids:
        state = get_json(f"{rasa_url}/conversations/{sid}/tracker?include_events=ALL")
        events = state.get("events") or []
        for i, e in enumerate(events):
            if e.get("event") == "user" and extract:
                add(extract, sid, events[: i + 1])
            elif e.get("event") == "action" and e.get("name") in custom:
                add(e["name"], sid, events[:i])
            elif e.get("event") == "action" and e.get("name") in forms and f"validate_{e['name']}" in custom:
                add(f"validate_{e['name']}", sid, events[:i])
            if len(calls) >= limit:
                return calls
    return calls


def _post_ms(url: str, body: bytes) -> float | None:
    """Milliseconds for one JSON POST answered, or None when it was refused or failed."""
    t0 = time.perf_counter()
    try:
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
    except Exception:
        return None
    return (time.perf_counter() - t0) * 1000


def action_latency(actions_url: str, calls: list[dict[str, Any]], rounds: int = 1) -> dict[str, Any]:
    """POST each recorded call to the action server /webhook: latency per action, and the cost of
    sending the whole domain with every call (Rasa does unless selective domain is on)."""
    per: dict[str, list[float]] = defaultdict(list)
    without_domain: list[float] = []
    with_domain: list[float] = []
    sizes = []
    errors = 0
    for _ in range(rounds):
        for call in calls:
            body = json.dumps(call).encode("utf-8")
            sizes.append(len(body))
            ms = _post_ms(f"{actions_url}/webhook", body)
            if ms is None:  # a rejected call is counted, not fatal
                errors += 1
                continue
            per[call["next_action"]].append(ms)
            if call["next_action"] == "action_extract_profile":
                with_domain.append(ms)
    # The same most frequent action without the domain in the payload.
    for call in calls:
        if call["next_action"] != "action_extract_profile":
            continue
        slim = {k: v for k, v in call.items() if k != "domain"}
        body = json.dumps(slim).encode("utf-8")
        ms = _post_ms(f"{actions_url}/webhook", body)
        if ms is not None:
            without_domain.append(ms)
    return {
        "calls": len(calls) * rounds,
        "errors": errors,
        "payload_kb_mean": round(sum(sizes) / len(sizes) / 1024, 1) if sizes else None,
        "domain_kb": round(len(json.dumps(calls[0]["domain"])) / 1024, 1) if calls else None,
        "per_action": {k: latency_summary(v) for k, v in sorted(per.items(), key=lambda kv: -len(kv[1]))},
        "all": latency_summary([x for v in per.values() for x in v]),
        "extract_profile_with_domain": latency_summary(with_domain),
        "extract_profile_without_domain": latency_summary(without_domain),
    }


# --- training ------------------------------------------------------------------------------------
def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(
    cmd: list[str],
    *,
    cwd: Path = ROOT,
    log: Optional[Path] = None,
    timeout: float = 3600,
    env: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    """Run a command; wall and CPU seconds (children rusage), return code."""
    cpu0, t0 = _children_cpu(), time.monotonic()
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env or base_env(), stdout=out, stderr=subprocess.STDOUT, timeout=timeout
        )
        rc = proc.returncode
    finally:
        if log:
            out.close()
    return {"wall_s": round(time.monotonic() - t0, 1), "cpu_s": round(_children_cpu() - cpu0, 1), "rc": rc}


def full_training(log: Path) -> dict[str, Any]:
    """`rasa train` (NLU + core, config.yml) into a temp dir, from scratch: an empty training
    cache (RASA_CACHE_DIRECTORY), so no component is reused from an earlier run."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    try:
        result = timed(
            env=base_env(RASA_CACHE_DIRECTORY=str(tmp / "cache")),
            cmd=[
                str(VENV_BIN / "rasa"),
                "train",
                "--config",
                "config.yml",
                "--domain",
                "domain.yml",
                "--data",
                "data",
                "--out",
                str(tmp),
                "--fixed-model-name",
                "bench",
                "--force",
                "--quiet",
            ],
            log=log,
        )
        model = tmp / "bench.tar.gz"
        result["model_mb"] = round(model.stat().st_size / 2**20, 1) if model.exists() else None
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
