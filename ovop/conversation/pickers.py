"""Replies that may leave as a WhatsApp list picker instead of text with digits.

A flow that asks the producer to pick from a list (the menu, the workshops) answers a `ListPicker`: the text it
says on any channel (with its digits, as always), plus the Content template kind (TWILIO_TEMPLATES) and the
variables that make the same list a WhatsApp list picker. The engine never sends: `content_sids` (called by
ovop.conversation.inbound when it keeps the replies) decides, reply by reply, whether it leaves as that template
through the outbox (REST, ContentSid + ContentVariables: TwiML cannot carry a ContentSid) or as plain text.

A list picker is used only when all of this holds, else the reply is the text, exactly as before:
- the message came on WhatsApp through Twilio (never on SMS, never in the simulator or `flask chat`);
- TWILIO_TEMPLATES has the kind in the producer's own language (no French fallback: a list picker is only sent
  inside the 24 h window, where the text in the producer's language can always go instead).
It leaves as a reply (outbox kind "reply"), which the sender sends during the quiet hours too.

Its items' ids are payloads routed by ovop.conversation.buttons: `menu:stock`, `workshop:12`.
"""
from __future__ import annotations

from ovop.messaging.channels import templates

# Providers whose WhatsApp replies may be Content templates (the simulator and `flask chat` show text only).
BY_TEMPLATE = frozenset({"twilio"})
ITEM_MAX, DESCRIPTION_MAX = 24, 72  # Twilio's limits for a list item's label and its description


class ListPicker(str):
    """A reply's text that may instead leave as the list-picker template of `kind`, filled with `variables`.

    `size`: the number of items when the template is chosen by how many there are (its TWILIO_TEMPLATES key is
    then "<language>:<size>", e.g. "fr:3"); None when the kind has one template per language ("fr").
    """

    kind: str
    variables: dict[str, str]
    size: int | None

    def __new__(cls, text: str, kind: str, variables: dict[str, str] | None = None, size: int | None = None):
        picker = super().__new__(cls, text)
        picker.kind, picker.variables, picker.size = kind, dict(variables or {}), size
        return picker


def template_key(lang: str, size: int | None) -> str:
    """The TWILIO_TEMPLATES key of a list picker's template: "fr", or "fr:3" for one of three items."""
    return f"{lang}:{size}" if size else lang


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut (list labels and descriptions have limits)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def content_sids(config: dict, channel: str, provider: str, lang: str, replies: list[str]) -> list[str | None]:
    """For each reply, the ContentSid it leaves as, or None for plain text (the rules above)."""
    plain: list[str | None] = [None] * len(replies)
    if channel != "whatsapp" or provider not in BY_TEMPLATE \
            or not any(isinstance(reply, ListPicker) for reply in replies):
        return plain
    return [(templates(config).get(reply.kind) or {}).get(template_key(lang, reply.size)) or None
            if isinstance(reply, ListPicker) else None for reply in replies]
