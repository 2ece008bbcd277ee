"""Refusals: input the service will not take, said as a field, a stable code and the code's parameters.

The domain and the input schemas raise them; each surface words them in its own language from the code: the
API in English (REASONS below), the dashboard in French or English (ovop.web.dashboard.ui_text). Nothing parses
the words, so they can change without breaking a client that reads `code`.
"""
from __future__ import annotations

from typing import Any

# The English reason of each code, as the API says it after the field's name ("name: is required").
REASONS = {
    "required": "is required",
    "unknown_field": "is not a field of this request (fields: {allowed})",
    "not_a_string": "must be a string",
    "not_an_integer": "must be a whole number",
    "not_a_number": "must be a number",
    "not_a_boolean": "must be true or false",
    "not_a_list": "must be a list",
    "not_an_object": "must be an object",
    "not_one_of": "must be one of {choices}",
    "too_long": "must be at most {max} characters",
    "too_many": "must hold at most {max} items",
    "too_small": "must be at least {min}",
    "too_large": "must be at most {max}",
    "not_above": "must be more than {min}",
    "control_characters": "must not contain control characters",
    "not_a_code": "must be lowercase letters, digits and underscores, starting with a letter",
    "not_a_phone": "'{value}' is not a phone number (Senegal is assumed without +country code)",
    "not_a_date": "must be a date YYYY-MM-DD, e.g. 2026-12-15",
    "not_a_datetime": "must be an ISO 8601 date-time, e.g. 2026-12-10T10:00:00+00:00",
    "no_utc_offset": "needs a UTC offset, e.g. 2026-12-10T10:00:00+00:00 (Dakar is +00:00)",
    "not_a_time": "must be a local time HH:MM, e.g. 09:00",
    "in_the_past": "is in the past",
    "in_the_future": "must not be in the future",
    "not_in_the_future": "must be in the future",
    "after_start": "must not be after starts_at",
    "below_seats_taken": "must be at least {taken}, the seats already given",
    "repeated_reminder": "has two reminders {days} days before",
    "no_text": "must hold one text at least",
    "unknown_product": "unknown product code '{code}'",
    "unknown_cooperative": "there is no cooperative with id {id}",
    "unknown_cooperative_name": "unknown cooperative '{name}'",
    "not_made_here": "{cooperative} does not make '{product}'",
    "name_taken": "a cooperative named '{name}' already exists",
    "code_taken": "a product with code '{code}' already exists",
    "alias_taken": "'{alias}' is already an alias of product '{product}'",
    "phone_taken": "another producer already has the number {phone}",
    "code_fixed": "cannot be changed (it is the product's stable name)",
    "sandbox_fixed": "cannot be changed once the producer exists: a real producer's history would become sandbox "
                     "data, or made-up data real; create a new producer instead",
    "sandbox_with_real": "a sandbox producer cannot belong to a cooperative with real producers: their stock "
                         "reports and order answers would count as the cooperative's; choose a cooperative of "
                         "sandbox producers, or none",
    "bad_cursor": "is not a cursor from a previous answer (give back the `next` of a list as it came)",
    "refused_by_database": "was refused by the database; check the values sent",
    "invalid": "is not valid",
}


class Refusal(ValueError):
    """Input refused: `field` (a path such as "names.fr"), `code` (a key of REASONS) and its `params`."""

    status = 422

    def __init__(self, field: str, code: str, /, **params: Any):
        self.field, self.code, self.params = field, code, params
        super().__init__(f"{field}: {english(code, params)}")


class Invalid(Refusal):
    """A value that breaks a rule (HTTP 422)."""


class Duplicate(Refusal):
    """A value that must be unique and is already taken (HTTP 409)."""

    status = 409


def english(code: str, params: dict[str, Any]) -> str:
    """The English reason for a code, its parameters filled in (a list reads "a, b, c")."""
    shown = {key: ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
             for key, value in params.items()}
    try:
        return REASONS.get(code, REASONS["invalid"]).format(**shown)
    except (KeyError, IndexError, ValueError):
        return REASONS.get(code, REASONS["invalid"])
