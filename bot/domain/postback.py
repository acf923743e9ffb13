"""Short, safe button keys: Rasa payloads ⇄ LINE postback data / Telegram callback_data.

Actions emit Rasa button payloads (``/affirm``, ``/inform{"relation":"family"}``). Platforms echo
whatever a button carried back to us, and anyone can forge a postback, so the wire form is a
compact, non-JSON key that :func:`decode` re-validates before anything reaches Rasa::

    /choose_slot{"preferred_slot":"2026-11-30_am"}  ⇄  i=choose_slot&e=preferred_slot&v=2026-11-30_am

Rich-menu areas use the same form without an entity (``i=greet``, ``i=ask_where_to_go``…).
Keys of retired intents that rich menus and old messages still carry decode to their successor.
"""

from __future__ import annotations

import json
import re

__all__ = ["encode", "decode", "PostbackError", "TELEGRAM_MAX_BYTES", "LINE_MAX_CHARS", "RICH_MENU_KEYS"]

TELEGRAM_MAX_BYTES = 64  # callback_data limit (bytes)
LINE_MAX_CHARS = 300  # postback.data limit (characters)

# Names: lower-case words, optionally one retrieval-intent level ("faq/ask"); at most 40 chars.
_NAME = re.compile(r"[a-z_]+(?:/[a-z_]+)?")
# Values: no quotes, braces, ampersands or spaces, so a key can never smuggle JSON or a second field.
_VALUE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_PAYLOAD = re.compile(r"/(?P<intent>[^{@\s]+)(?P<entities>\{.*\})?", re.DOTALL)

#: The rich menu's postbacks (see ``channels.richmenu``); each decodes to ``/<key>``.
RICH_MENU_KEYS = ("greet", "ask_where_to_go", "ibasho_schedule", "show_hotlines", "delete_data")

#: Intents merged into another: a rich menu uploaded before the merge still sends the old key.
RETIRED_INTENTS = {"show_windows": "ask_where_to_go"}


class PostbackError(ValueError):
    """The payload cannot be expressed as a safe postback key."""


def _valid_name(name: str) -> bool:
    return len(name) <= 40 and _NAME.fullmatch(name) is not None


def encode(payload: str) -> str:
    """Turn a Rasa button payload into a compact postback key.

    Args:
        payload (:obj:`str`): ``/intent`` or ``/intent{"entity": "value"}`` with at most one
            string-valued entity.

    Returns:
        :obj:`str`: ``i=intent`` or ``i=intent&e=entity&v=value`` (ASCII, so its length in
        characters equals its length in bytes).

    Raises:
        PostbackError: the payload is not of that form, or a name/value is outside the
            allowed charset.
    """
    m = _PAYLOAD.fullmatch(payload.strip())
    if not m:
        raise PostbackError("not an intent payload")
    intent = m.group("intent")
    if not _valid_name(intent):
        raise PostbackError("intent name outside [a-z_/]{1,40}")
    raw = m.group("entities")
    if not raw:
        return f"i={intent}"
    try:
        entities = json.loads(raw)
    except ValueError as exc:
        raise PostbackError("entities are not JSON") from exc
    if not isinstance(entities, dict) or len(entities) > 1:
        raise PostbackError("at most one entity is supported")
    if not entities:
        return f"i={intent}"
    ((entity, value),) = entities.items()
    if not _valid_name(entity):
        raise PostbackError("entity name outside [a-z_/]{1,40}")
    if not isinstance(value, str) or not _VALUE.fullmatch(value):
        raise PostbackError("entity value must be a short string of [A-Za-z0-9_.:-]")
    return f"i={intent}&e={entity}&v={value}"


def decode(data: str) -> str | None:
    """Turn a postback key back into the Rasa payload.

    Args:
        data (:obj:`str`): what the platform delivered (LINE ``postback.data``, Telegram
            ``callback_query.data``).

    Returns:
        :obj:`str` | :obj:`None`: ``/intent`` or ``/intent{"entity":"value"}``; :obj:`None` for
        anything malformed (unknown fields, repeated fields, bad charset, over-long input).
    """
    if not isinstance(data, str) or len(data) > LINE_MAX_CHARS:
        return None
    fields: dict[str, str] = {}
    for part in data.split("&"):
        key, sep, value = part.partition("=")
        if not sep or key not in ("i", "e", "v") or key in fields:
            return None
        fields[key] = value
    intent = fields.get("i")
    if intent is None or not _valid_name(intent):
        return None
    intent = RETIRED_INTENTS.get(intent, intent)
    if "e" not in fields and "v" not in fields:
        return f"/{intent}"
    entity, entity_value = fields.get("e"), fields.get("v")
    if entity is None or entity_value is None or not _valid_name(entity) or not _VALUE.fullmatch(entity_value):
        return None
    return f"/{intent}" + json.dumps({entity: entity_value}, separators=(",", ":"))
