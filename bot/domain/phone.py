"""Japanese phone numbers: validated and normalised with `phonenumbers` (region JP)."""

from __future__ import annotations

import re

import phonenumbers

from bot.language.normaliser import normalize

_PHONE_CANDIDATE = re.compile(r"\+?\d[\d\s()\-]{8,18}\d")


def normalize_phone(raw: str) -> str | None:
    """E.164 (+8190…) for a valid JP or international number, else None.

    Accepts full-width digits, ー separators, spaces and +81 forms via the text normaliser.
    """
    text = normalize(raw or "")
    match = _PHONE_CANDIDATE.search(text)
    if not match:
        return None
    try:
        number = phonenumbers.parse(match.group(0), "JP")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """National format for staff (090-○○○○-○○○○)."""
    number = phonenumbers.parse(e164, "JP")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def phone_for_staff(stored: str) -> str:
    """The stored E.164 number as staff dial it; anything unparseable is shown as stored."""
    try:
        return display_phone(stored)
    except phonenumbers.NumberParseException:
        return stored


def mask_phone(e164: str) -> str:
    """Shown back to the user to confirm without echoing the whole number."""
    national = display_phone(e164)
    return re.sub(r"\d(?=(?:\D*\d){4})", "*", national)


_DIGITS = re.compile(r"\d{3,}")


def looks_like_a_number(text: str) -> bool:
    """Three digits or more: an attempt at a phone number (answered with 「番号を確かめて」), not a refusal."""
    return bool(_DIGITS.search(normalize(text or "")))


# A number typed into free text (いまの様子, 呼び名): digits with separators, full-width or not.
_NUMBER_IN_TEXT = re.compile(r"[+＋]?[0-9０-９][0-9０-９\s()（）\-‐－ー―−]{8,18}[0-9０-９]")


def redact_phones(text: str, replacement: str) -> str:
    """`text` with every valid phone number in it replaced: free text shown to staff who may not
    see the person's number (the assignee and supervisors only) must not show it either."""
    if not text:
        return text

    def swap(m: re.Match[str]) -> str:
        return replacement if normalize_phone(m.group(0)) else m.group(0)

    return _NUMBER_IN_TEXT.sub(swap, text)
