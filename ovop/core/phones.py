"""Phone numbers as people write them ("77 123 45 67", "00221…") to E.164, Senegal by default."""
from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "SN"


class InvalidPhone(ValueError):
    """A phone number that cannot be a real mobile or fixed number."""


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    """'+221771234567' from any common writing; InvalidPhone with a reason otherwise."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhone("a phone number is required")
    text = raw.strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:"):]
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"'{raw}' is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"'{raw}' is not a valid phone number (Senegal is assumed without +country code)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
