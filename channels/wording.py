"""The connectors' own wording (`channels/texts.yml`): what a person reads when a message cannot
be handled (a sticker, an unknown command, an error), and the card labels."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict

import yaml

TEXTS_PATH = Path(__file__).resolve().parent / "texts.yml"


@lru_cache(maxsize=4)
def load_texts(path: str = str(TEXTS_PATH)) -> Dict[str, Any]:
    """The connector texts (``channels/texts.yml``), read once."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    missing = {"non_text", "group_only", "unknown_postback", "unknown_command", "error", "cards"} - set(data)
    if missing:
        raise ValueError(f"{path}: missing keys {sorted(missing)}")
    return data
