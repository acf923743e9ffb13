"""Shared helpers for `python -m bench`: processes (RSS/CPU from /proc), ports, percentiles."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Sequence

from bot.serving_env import serving_env

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VENV_BIN = ROOT / ".venv" / "bin"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free 127.0.0.1 port (never 5005/5055/8000, which a dev stack may hold)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in (5005, 5055, 8000):
            return port


def base_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(serving_env(os.environ))
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "RASA_TELEMETRY_ENABLED": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "SANIC_HOST": "127.0.0.1",
        }
    )
    env.update(overrides)
    return env


def newest_model() -> Path:
    pinned = os.environ.get("MADOGUCHI_MODEL")
    if pinned:
        return Path(pinned)
    models = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise RuntimeError("no trained model in models/: run `make model` first")
    return models[-1]


# --- /proc -------------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    out.extend(int(c) for c in fh.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(_children(p))
    return seen


def rss_mb(pid: int, tree: bool = True) -> float:
    """VmRSS in MB (of the process and its children)."""
    total = 0
    for p in process_tree(pid) if tree else [pid]:
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return round(total / 1024, 1)


def cpu_seconds(pid: int, tree: bool = True) -> float:
    """utime + stime of the process (and its live children), in seconds."""
    total = 0
    for p in process_tree(pid) if tree else [pid]:
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def loadavg() -> float:
    with open("/proc/loadavg") as fh:
        return float(fh.read().split()[0])


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "loadavg_1m": loadavg()}


def git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# --- HTTP --------------------------------------------------------------------------------------
def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, step: float = 0.1) -> float:
    """Poll until ``url`` answers; returns seconds waited. Raises if the process died."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if http_ok(url, timeout=1.0):
            return time.monotonic() - start
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        time.sleep(step)
    raise TimeoutError(f"{url} did not come up in {timeout} s")


def post_json(url: str, payload: Any, timeout: float = 30.0) -> Any:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode("utf-8"), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def get_json(url: str, timeout: float = 30.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


# --- statistics --------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank-with-interpolation percentile (q in 0..100); None for no data."""
    if not values:
        return None
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(ms: Iterable[float]) -> dict[str, Any]:
    xs = list(ms)

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {
        "n": len(xs),
        "p50_ms": r(percentile(xs, 50)),
        "p95_ms": r(percentile(xs, 95)),
        "p99_ms": r(percentile(xs, 99)),
        "max_ms": r(max(xs) if xs else None),
        "mean_ms": r(sum(xs) / len(xs) if xs else None),
    }
