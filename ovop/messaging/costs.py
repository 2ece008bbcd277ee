"""What a message costs: its SMS encoding and segments as carriers count them, and an estimate in F CFA.

An SMS is billed per segment: 160 GSM-7 characters alone, 153 a part once it is longer (the extension table's
€ [ ] { } ~ ^ | \\ count double); one character outside GSM-7 makes the whole text UCS-2, 70 UTF-16 code units
alone and 67 a part (an emoji counts 2). The counting itself lives with GSM-7 folding (ovop.language.i18n).

The estimate, from MESSAGE_PRICES ({"sms": {provider: F CFA a segment}, "whatsapp": {category: F CFA a message}}):

| the message                                  | its cost                                  |
|----------------------------------------------|-------------------------------------------|
| SMS                                          | segments × sms[provider]                  |
| WhatsApp template of a utility kind          | whatsapp["utility"]                       |
| WhatsApp template of a marketing kind        | whatsapp["marketing"]                     |
| WhatsApp free text (inside the 24 h window)  | whatsapp["service"]                       |
| carried by the console (local mode, sandbox) | 0: nothing left through a provider        |
| a price or a category MESSAGE_PRICES lacks   | None: unknown, never a guess              |

Template categories, as WhatsApp bills them (CATEGORIES): what answers the producer's own business is utility,
what the boutique pushes is marketing.

| kind                                                                       | category  |
|----------------------------------------------------------------------------|-----------|
| order_alert, order_reminder, order_cancelled, order_thanks                 | utility   |
| workshop_reminder, workshop_promoted, stock_reminder                       | utility   |
| staff_reply (an answer outside the window needs a template)                | utility   |
| price_tip, broadcast                                                       | marketing |
| reply (the producer just wrote: always inside the window, a list too)      | service   |

A message the service starts by SMS fits one segment, or `sms_parts` cuts it into numbered parts ("1/2 …",
"2/2 …") that each fit one; ovop.messaging.notify queues each part as its own outbox row.
"""
from __future__ import annotations

from dataclasses import dataclass

from ovop.language.i18n import SMS_LIMITS, sms_encoding, sms_segments, sms_units

GSM7, UCS2 = "gsm7", "ucs2"
CONSOLE = "console"
UTILITY, MARKETING, SERVICE = "utility", "marketing", "service"
CATEGORIES = {
    "order_alert": UTILITY, "order_reminder": UTILITY, "order_cancelled": UTILITY, "order_thanks": UTILITY,
    "workshop_reminder": UTILITY, "workshop_promoted": UTILITY, "stock_reminder": UTILITY,
    "staff_reply": UTILITY,
    "price_tip": MARKETING, "broadcast": MARKETING,
    "reply": SERVICE,
}
# The providers whose TwiML or webhook answer carries a reply; anything else (the phone simulator, `flask chat`)
# never reaches a phone through a provider.
REPLYING_PROVIDERS = frozenset({"twilio", "smsgate"})


@dataclass(frozen=True)
class Size:
    """An SMS text's encoding (gsm7 | ucs2) and the segments it is billed as."""

    encoding: str
    segments: int


def measure(text: str) -> Size:
    """The encoding and segment count of `text` sent as one SMS, exactly as carriers count them."""
    return Size(GSM7 if sms_encoding(text) == "GSM-7" else UCS2, sms_segments(text))


@dataclass(frozen=True)
class Estimate:
    """What the message columns record: who carried it, its SMS size (None on WhatsApp) and its cost."""

    provider: str | None
    segments: int | None
    encoding: str | None
    cost: float | None

    def columns(self) -> dict:
        return {"provider": self.provider, "segments": self.segments, "encoding": self.encoding,
                "cost": self.cost}


def category(kind: str | None, *, template: bool) -> str | None:
    """WhatsApp's price category of a message: service for free text, else the kind's (None: not known)."""
    return CATEGORIES.get(kind or "") if template else SERVICE


def unit_price(prices: dict, provider: str | None, channel: str, kind: str | None, *,
               template: bool = False) -> float | None:
    """F CFA for one SMS segment or one WhatsApp message; 0 on the console; None when no price is known."""
    if provider == CONSOLE:
        return 0.0
    if channel == "sms":
        return (prices.get("sms") or {}).get(provider or "")
    chosen = category(kind, template=template)
    return (prices.get("whatsapp") or {}).get(chosen) if chosen else None


def estimate(prices: dict, *, provider: str | None, channel: str, kind: str | None, body: str | None,
             template: bool = False) -> Estimate:
    """The estimate of one message sent on `channel` by `provider` (see the table above)."""
    size = measure(body or "") if channel == "sms" else None
    price = unit_price(prices, provider, channel, kind, template=template)
    cost = None if price is None else round(price * (size.segments if size else 1), 2)
    return Estimate(provider, size.segments if size else None, size.encoding if size else None, cost)


def reply_provider(inbound_provider: str | None) -> str:
    """Who carries the answer to an inbound message: the provider that brought it, else the console."""
    return inbound_provider if inbound_provider in REPLYING_PROVIDERS else CONSOLE


# --- one segment, or numbered parts -----------------------------------------------------------------

def fits_one_segment(text: str) -> bool:
    return sms_segments(text) == 1


def sms_parts(text: str) -> list[str]:
    """`text` when it fits one SMS segment; else numbered parts "1/3 …" that each fit one, cut between words.

    Line breaks are preferred cut points, then spaces; a word longer than a part is cut where it must be.
    """
    if fits_one_segment(text):
        return [text]
    total = 2
    while True:
        parts = _cut(text, total)
        if len(parts) <= total:
            return [f"{number}/{len(parts)} {part}" for number, part in enumerate(parts, start=1)]
        total = len(parts)


def _cut(text: str, total: int) -> list[str]:
    """Pieces of `text` that each fit one segment once prefixed with "n/total ": whole lines where they fit."""
    room = SMS_LIMITS[sms_encoding(text)][0] - len(f"{total}/{total} ")
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        if (joined := _joined(current, "\n", line, room)) is not None:
            current = joined
            continue
        if current:
            pieces.append(current)
        current = ""
        for word in line.split(" "):  # a line longer than a part: cut between its words
            if (joined := _joined(current, " ", word, room)) is not None:
                current = joined
                continue
            if current:
                pieces.append(current)
            current = word
            while sms_units(current) > room:  # one word longer than a part
                head = _longest_head(current, room)
                pieces.append(head)
                current = current[len(head):]
    if current:
        pieces.append(current)
    return [piece.strip() for piece in pieces if piece.strip()]


def _joined(current: str, separator: str, chunk: str, room: int) -> str | None:
    """`current` and `chunk` joined by `separator` when that still fits `room`; else None."""
    candidate = f"{current}{separator}{chunk}" if current else chunk
    return candidate if sms_units(candidate) <= room else None


def _longest_head(word: str, room: int) -> str:
    end = len(word)
    while end > 1 and sms_units(word[:end]) > room:
        end -= 1
    return word[:end]
