"""bot.domain.postback: compact button keys, round trip and rejection of anything malformed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import postback


@pytest.mark.parametrize(
    "payload, key",
    [
        ("/affirm", "i=affirm"),
        ("/skip", "i=skip"),
        ('/inform{"relation":"family"}', "i=inform&e=relation&v=family"),
        ('/choose_slot{"preferred_slot":"2026-11-30_am"}', "i=choose_slot&e=preferred_slot&v=2026-11-30_am"),
        ('/inform{ "relation" : "self" }', "i=inform&e=relation&v=self"),
        ("/affirm{}", "i=affirm"),
        ("/faq/ask_hours", "i=faq/ask_hours"),
    ],
)
def test_encode_known_payloads(payload: str, key: str) -> None:
    assert postback.encode(payload) == key
    assert postback.decode(key) == _canonical(payload)


def _canonical(payload: str) -> str:
    intent, brace, rest = payload.partition("{")
    if not brace:
        return payload
    entities = json.loads(brace + rest)
    return intent + (json.dumps(entities, separators=(",", ":")) if entities else "")


def test_longest_slot_key_fits_telegram_callback_data() -> None:
    key = postback.encode('/choose_slot{"preferred_slot":"2026-11-30_am"}')
    assert len(key.encode("utf-8")) <= postback.TELEGRAM_MAX_BYTES


@pytest.mark.parametrize("key", postback.RICH_MENU_KEYS)
def test_rich_menu_keys_decode(key: str) -> None:
    assert postback.decode(f"i={key}") == f"/{key}"


@pytest.mark.parametrize(
    "payload",
    [
        "affirm",  # not an intent payload
        "/Affirm",  # upper case
        "/affirm2",  # digits
        '/inform{"a":"x","b":"y"}',  # two entities
        '/inform{"relation":"fam ily"}',  # space in value
        '/inform{"relation":"a\\"b"}',  # quote in value
        '/inform{"relation":{"x":1}}',  # non-string value
        '/inform{"relation":5}',
        "/inform{not json}",
        "/" + "a" * 41,
        "/affirm@0.9",
        '/inform{"relation":"家族"}',  # non-ASCII value
    ],
)
def test_encode_rejects(payload: str) -> None:
    with pytest.raises(postback.PostbackError):
        postback.encode(payload)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "storeId=12345",  # LINE docs sample: another app's data
        "richmenu-changed-to-b",
        "i=",
        "i=Affirm",
        "i=affirm&",
        "i=affirm&i=deny",
        "i=inform&e=relation",  # value missing
        "i=inform&v=family",  # entity missing
        "i=inform&e=relation&v=fam{ily}",
        'i=inform&e=relation&v="x"',
        "i=inform&e=relation&v=a b",
        "i=inform&e=relation&v=x&x=1",
        "i=/affirm",
        "i=a//b",
        "e=relation&v=family",
        "i=" + "a" * 41,
        "i=inform&e=relation&v=" + "x" * 65,
        "x" * 400,
    ],
)
def test_decode_rejects_malformed(data: str) -> None:
    assert postback.decode(data) is None


def test_decode_rejects_non_strings() -> None:
    assert postback.decode(None) is None
    assert postback.decode(b"i=affirm") is None


_names = st.from_regex(r"[a-z_]{1,40}", fullmatch=True)
_values = st.from_regex(r"[A-Za-z0-9_.:\-]{1,64}", fullmatch=True)


@given(intent=_names, entity=st.none() | _names, value=_values)
def test_round_trip(intent: str, entity: str | None, value: str) -> None:
    payload = f"/{intent}" if entity is None else f"/{intent}" + json.dumps({entity: value}, separators=(",", ":"))
    key = postback.encode(payload)
    assert "{" not in key and '"' not in key and len(key) <= postback.LINE_MAX_CHARS
    assert postback.decode(key) == payload


@given(st.text(max_size=120))
def test_decode_never_raises_and_only_yields_safe_payloads(data: str) -> None:
    result = postback.decode(data)
    if result is not None:
        assert result.startswith("/")
        assert postback.decode(postback.encode(result)) == result
