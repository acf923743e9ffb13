"""Labels shared by the staff pages, the CSV files and the notifications (`texts.yml`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping, cast

import yaml

from bot.paths import RESOURCES

TEXTS_PATH = RESOURCES / "staff_texts.yml"


@lru_cache(maxsize=1)
def texts() -> Mapping[str, Any]:
    with open(TEXTS_PATH, encoding="utf-8") as fh:
        return cast(Mapping[str, Any], yaml.safe_load(fh))


def t(key: str, **values: object) -> str:
    """`t("flash.claimed")`; a missing key returns the key (visible, never a crash)."""
    node: Any = texts()
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return key
        node = node[part]
    text = str(node)
    return text.format(**values) if values else text


def label(group: str, code: str | None) -> str:
    """Japanese label of a stored code (`label("status", "new")` → 新規); unknown codes as is."""
    table: Mapping[str, str] = texts().get(group) or {}
    if code is None:
        return table.get("unknown") or str(texts().get("unknown", ""))
    return table.get(code, code)
