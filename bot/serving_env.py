"""deploy/serving.env as a dict, for the Python launchers (tests, bench)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, Optional

SERVING_ENV_FILE = Path(__file__).resolve().parent.parent / "deploy" / "serving.env"


def serving_env(environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The file's KEY=VALUE pairs, except those `environ` already sets (they win)."""
    environ = environ or {}
    out: Dict[str, str] = {}
    for line in SERVING_ENV_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if key.strip() not in environ:
            out[key.strip()] = value.strip()
    return out
