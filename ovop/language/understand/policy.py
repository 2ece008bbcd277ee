"""The decision policy: what a message read in typed parts (spans.py) becomes. One table, followed everywhere.

A wrong record is worse than a question. A figure is recorded at once only when every product named is one
the cooperative makes, every product has exactly one count, and nothing else competes for that count.

| per product, the message holds                                  | decision                                  | reason        |
|-----------------------------------------------------------------|-------------------------------------------|---------------|
| one plain count ("yaourt 40", "soow ñaar fukk")                  | record                                    |               |
| a correction ("35 pas 53", "30 non 20")                          | record the figure the producer kept       |               |
| a range or alternatives ("25-30", "25 ou 30", "20 walla 25")     | Yaourt : 25 ou 30 pots ? 1) 25 2) 30      | choose        |
| two different plain counts ("yaourt 40 50")                      | the same choice                           | choose        |
| a computed figure ("3 cartons de 20", "10+5", "2x12")            | 3 cartons de 20 = 60 pots ? 1) Oui 2) Non | confirm       |
| an approximation or a look-alike ("une vingtaine", "4O")         | the figure shown, confirmed               | confirm       |
| one count beside a sale, a future, "hier"/"demain", no stock word | the count, confirmed                      | confirm       |
| one count beside money, a date, a time, a phone or a percent     | the count, confirmed: they compete         | confirm       |
| only money, a date, a time, a phone or a percent                 | "750 F, c'est un prix ?" + ask the count  | not_count     |
| only an amount sold or to come                                   | ask the count                             | sale / future |
| no figure                                                        | ask the count                             | how_many      |
| negative, absurd, "1.500", another unit ("savon 3 cartons")      | ask the count                             | bad_quantity / how_many |
| a product the cooperative does not make                          | say so; nothing written                   | not_made      |
| a word like a product ("lait 20")                                | did you mean …? (figure shown)            | did_you_mean  |
| an unknown word right next to a count ("bissap 30")              | say so; nothing written                   | unknown_product |
| an unknown word elsewhere (a name, a place: "c Awa de Thiès")     | filler                                    |               |
| a word shared by products ("huile 5"), or no product named       | which product? only the cooperative's     | which_product |
| no product named, the cooperative makes one                      | that product                              |               |

Nothing is written until every item is clear: the first doubt is asked, the clear items wait in `partial`
and are shown with the question. What the flows may record after an answer is only what the question showed.
"""
from __future__ import annotations

import logging
from typing import Iterable, Sequence

from . import intents
from .catalogue import Catalogue
from .meaning import Meaning
from .numbers import _Qty
from .spans import (FIGURES, NOT_A_COUNT, TO_CONFIRM, Correction, DateMention, DayWord, Filler, Future, Money,
                    OrderRef, Percent, Phone, ProductMention, Quantity, Range, Reading, Sale, Span, TimeMention, read)
from .words import (MAX_QUANTITY, _FUTURE, _NO, _POLITE, _STOCK, _THANKS, _YES)

log = logging.getLogger(__name__)

_NOT_A_COUNT_NAMES = {Money: "money", DateMention: "date", TimeMention: "time", Phone: "phone", Percent: "percent"}
_COUNTS = (Quantity, Correction)


def understand(text: str, catalogue: Catalogue, cooperative_products: Sequence[str],
               pending_orders: Sequence[str] = (), optout_words: Iterable[str] = ()) -> Meaning:
    """The meaning of one message read on its own. Never raises: a crash is logged and read as 'unknown'."""
    try:
        meaning = _understand(text, catalogue, tuple(cooperative_products or ()), tuple(pending_orders or ()),
                              tuple(optout_words or ()))
    except Exception:  # a producer's text must never break the conversation
        log.exception("understand failed on %r", text)
        return Meaning("unknown")
    # The last guard of "a wrong record is worse than a question": no figure out of range is ever kept.
    kept = {**meaning.items, **meaning.partial}
    if any(not 0 <= quantity <= MAX_QUANTITY for quantity in kept.values()):
        log.error("understand kept a figure out of range in %r: %s", text, kept)
        return Meaning("clarify", reason="bad_quantity", product=next(iter(kept)) if len(kept) == 1 else None)
    return meaning


def _understand(text: str, catalogue: Catalogue, coop: tuple[str, ...], pending: tuple[str, ...],
                optout_words: tuple[str, ...]) -> Meaning:
    word = intents.keyword(text or "", optout_words)
    if word is not None:
        return word
    reading = read(text or "", catalogue, coop)
    if reading.too_long:
        return Meaning("unknown")
    words = reading.words
    spans = _settle(reading.spans)
    figures = [s for s in spans if isinstance(s, FIGURES)]
    if [type(s) for s in spans if not isinstance(s, Filler)] == [Quantity] and spans[0] is not None:
        only = next(s for s in spans if isinstance(s, Quantity))
        if only.qty.text == "0" and not only.qty.unit and len(spans) == 1:
            return Meaning("menu")  # outside a flow, 0 is the menu
    countable = [s for s in figures if not isinstance(s, NOT_A_COUNT)]
    named = [s for s in spans if isinstance(s, ProductMention) and s.status != "unknown"]

    typed = [s for s in countable if not (isinstance(s, Quantity) and s.qty.zero)]  # "je comprends rien"
    said = intents.sentence(words, bool(typed))
    if said is not None:
        return said
    refs = [s.reference for s in spans if isinstance(s, OrderRef)]
    reply = _order_reply(words, refs, spans, named, pending)
    if reply is not None:
        return reply
    if intents.asks_workshops(words):
        number = next((s.qty for s in spans if isinstance(s, Quantity) and s.qty.digits), None)
        return Meaning("workshops", value=number.text if number else None)
    if intents.asks_price(words) and not countable:
        return _price(named)
    return _stock(reading, spans, catalogue, coop)


# --- weak words -----------------------------------------------------------------------------------------

def _settle(spans: list[Span]) -> list[Span]:
    """A filler that is also an alias ('the' = thé) names a product only when nothing else is named; 'benn',
    'un' count next to a product, 'neuf' only before one."""
    if any(isinstance(s, ProductMention) and s.status != "unknown" and not s.weak for s in spans):
        spans = [Filler(s.start, s.end, s.text) if isinstance(s, ProductMention) and s.weak else s for s in spans]
    settled: list[Span] = []
    for index, span in enumerate(spans):
        if isinstance(span, Quantity) and span.qty.weak and not span.qty.unit:
            before = spans[index - 1] if index else None
            after = spans[index + 1] if index + 1 < len(spans) else None
            keep = _names(after) if span.qty.weak == "neuf" else (_names(before) or _names(after))
            if not keep or _strong(before) or _strong(after):
                span = Filler(span.start, span.end, span.qty.weak)
        settled.append(span)
    return settled


def _names(span: Span | None) -> bool:
    return isinstance(span, ProductMention) and span.status != "unknown"


def _strong(span: Span | None) -> bool:
    return isinstance(span, Quantity) and not span.qty.weak


# --- orders and prices ----------------------------------------------------------------------------------

def _order_reply(words: list[str], refs: list[str], spans: list[Span], named: list[ProductMention],
                 pending: Sequence[str]) -> Meaning | None:
    """yes / no / 'je peux 20' / '20 seulement' / 'on n'a plus rien' about an order, or None."""
    kind = intents.order_answer(words)
    counts = [s for s in spans if isinstance(s, (Quantity, Correction))]
    if not pending and not refs:
        # "ok", "dedet" with no order waiting: the orders flow says there is nothing to answer.
        bare = not named and not counts and words and (words[0] in _YES or words[0] in _NO)
        if bare and kind == "accept" and all(w in _YES or w in _POLITE for w in words) \
                and any(w in _THANKS for w in words):
            return Meaning("thanks")  # "ok merci" with no order waiting
        return Meaning(kind) if bare and kind and len(words) <= 3 else None
    if kind is None:
        if not (intents.offers_quantity(words) and len(counts) == 1):
            return None
        kind = "accept"
    elif named and not refs and kind == "accept" and not intents.offers_quantity(words):
        if not any(w in _YES for w in words[:2]):
            return None  # "yaourt 40" beside an order is a stock report
    if refs:
        order = refs[0]
    elif len(pending) == 1:
        order = pending[0]
    else:
        return Meaning("clarify", reason="which_order", candidates=tuple(pending), value=kind)
    if kind == "decline":
        return Meaning("decline", order=order)
    if len(counts) > 1 or any(isinstance(s, (Range,) + TO_CONFIRM) for s in spans):
        return Meaning("clarify", reason="bad_quantity", order=order)
    quantity = counts[0] if counts else None
    if isinstance(quantity, Quantity) and quantity.qty.bad():
        return Meaning("clarify", reason="bad_quantity", order=order, quantity=quantity.value)
    return Meaning("accept", order=order, quantity=quantity.value if quantity else None)


def _price(named: list[ProductMention]) -> Meaning:
    """'prix' -> price; 'c'est combien le savon ?' -> price of savon (any product's price may be asked)."""
    clear = [m for m in named if m.code]
    if len({m.code for m in clear}) == 1:
        return Meaning("price", product=clear[0].code, candidates=clear[0].candidates)
    return Meaning("price", candidates=tuple(c for m in named for c in m.candidates))


# --- stock ----------------------------------------------------------------------------------------------

def _pair(spans: list[Span]) -> tuple[list[tuple[ProductMention, list[Span]]], list[Span]]:
    """Products with the figures that belong to them: 'savon 12 huile 5' (product first) or '40 pot soow'
    (figure first). Figures with no product are returned apart."""
    core = [s for s in spans if isinstance(s, ProductMention) or isinstance(s, FIGURES)]
    items: list[tuple[ProductMention, list[Span]]] = []
    if not core:
        return [], []
    if isinstance(core[0], ProductMention):
        for span in core:
            if isinstance(span, ProductMention):
                items.append((span, []))
            else:
                items[-1][1].append(span)
        return items, []
    waiting: list[Span] = []
    for span in core:
        if isinstance(span, ProductMention):
            items.append((span, waiting))
            waiting = []
        else:
            waiting.append(span)
    if items:
        items[-1][1].extend(waiting)
        return items, []
    return [], waiting


def _stock(reading: Reading, spans: list[Span], catalogue: Catalogue, coop: tuple[str, ...]) -> Meaning:
    """A stock report: every item clear -> 'stock', else the first thing to ask."""
    spans = _names_and_places(reading, spans)
    items, orphans = _pair(spans)
    # An unknown word is a product only when a count goes with it ("lait 20"); else it is a name or filler.
    kept: list[tuple[ProductMention, list[Span]]] = []
    for mention, figures in items:
        if mention.status == "unknown" and not any(not isinstance(f, NOT_A_COUNT) for f in figures):
            if kept:  # "hats 14 for now, call me on 77 123 45 67": the phone still belongs to the report
                kept[-1][1].extend(figures)
            else:
                orphans = orphans + list(figures)
            continue
        kept.append((mention, list(figures)))
    doubt_day = any(isinstance(s, DayWord) and s.when in ("past", "future") for s in spans) or \
        any(isinstance(s, DateMention) for s in spans)  # is it today's stock? shown and confirmed
    stock_word = any(w in _STOCK for w in reading.words) or intents.says_remaining(reading.words)
    if not stock_word and any(w in _FUTURE for w in reading.words):
        doubt_day = True  # "dinanu pare samedi, 30 pots": is 30 the stock, or what is coming?
    if not kept:
        return _no_product(orphans, reading, catalogue, coop, doubt_day, stock_word)
    if orphans and any(not isinstance(f, NOT_A_COUNT) for f in orphans):
        return Meaning("clarify", reason="which_product", candidates=coop, quantity=_plain(orphans))

    clear: dict[str, float] = {}
    problem: Meaning | None = None
    for mention, figures in kept:
        issue = _item(reading, mention, figures, catalogue, coop, clear, doubt_day, stock_word)
        if isinstance(issue, Meaning):
            problem = problem or issue
        elif issue is not None and mention.code:
            clear[mention.code] = issue
    if problem is None:
        used = sum(1 for _, figures in kept for f in figures if not isinstance(f, NOT_A_COUNT))
        every = [s for s in spans if isinstance(s, FIGURES) and not isinstance(s, NOT_A_COUNT)]
        if clear and used != len(every):  # a count we could not place ("yaourt 12 dans le frigo et 8 ..."): ask
            code = next(iter(clear))
            options = tuple(dict.fromkeys(v for f in every for v in _options(f)))[:3]
            if len(clear) == 1 and len(options) > 1:
                return Meaning("clarify", reason="choose", product=code, options=options)
            return Meaning("clarify", reason="how_many", product=code)
        return Meaning("stock", items=clear) if clear else Meaning("unknown")
    problem.partial = {c: q for c, q in clear.items() if c != problem.product}
    return problem


def _names_and_places(reading: Reading, spans: list[Span]) -> list[Span]:
    """An unknown word is a product only when a count stands right next to it ("bissap 30", "40 bissap");
    elsewhere it is a name, a place or a word we do not know ("c Awa de Thiès", "ce matin"): filler."""
    out: list[Span] = []
    for k, span in enumerate(spans):
        if isinstance(span, ProductMention) and (span.status == "unknown" or span.weak):
            before = spans[k - 1] if k else None
            after = spans[k + 1] if k + 1 < len(spans) else None
            if not (_touches(reading, before, span) or _touches(reading, span, after)):
                span = Filler(span.start, span.end, span.text)
        out.append(span)
    return out


def _touches(reading: Reading, left: Span | None, right: Span | None) -> bool:
    """True when a count and a word stand side by side, with nothing but spaces between them."""
    if left is None or right is None:
        return False
    if not any(isinstance(s, FIGURES) and not isinstance(s, NOT_A_COUNT) for s in (left, right)):
        return False
    return not reading.text[left.end:right.start].strip()


def _plain(figures: list[Span]) -> float | None:
    counts = [f for f in figures if isinstance(f, _COUNTS)]
    return counts[0].value if len(counts) == 1 and not _bad(counts[0]) else None


def _bad(figure: Span) -> bool:
    return isinstance(figure, Quantity) and figure.qty.bad()


def _item(reading: Reading, mention: ProductMention, figures: list[Span], catalogue: Catalogue,
          coop: Sequence[str], clear: dict[str, float], doubt_day: bool, stock_word: bool) -> float | Meaning | None:
    """The figure to record for one product, or the question to ask about it."""
    if mention.status == "unknown":
        return Meaning("clarify", reason="unknown_product", value=mention.text, quantity=_plain(figures))
    if mention.status == "which":
        ours = tuple(c for c in mention.candidates if not coop or c in coop)
        if not ours:  # "huile 5" where the cooperative makes no oil
            return Meaning("clarify", reason="not_made", candidates=tuple(coop), value=mention.text)
        return Meaning("clarify", reason="which_product", candidates=ours, value=mention.text,
                       quantity=_plain(figures))
    if mention.status == "maybe":
        return Meaning("clarify", reason="did_you_mean", candidates=mention.candidates, value=mention.text,
                       quantity=_plain(figures))
    code = mention.code
    if coop and code not in coop:
        return Meaning("clarify", reason="not_made", product=code, candidates=tuple(coop), value=mention.text)
    decision = _figure(reading, code, figures, catalogue, doubt_day, stock_word)
    if isinstance(decision, Meaning):
        decision.value = decision.value if decision.value is not None else mention.text
        return decision
    if decision is not None and code in clear and clear[code] != decision:  # "yaourt 40 ... yaourt 20"
        return Meaning("clarify", reason="choose", product=code, options=(clear[code], decision))
    return decision


def _figure(reading: Reading, code: str, figures: list[Span], catalogue: Catalogue, doubt_day: bool,
            stock_word: bool) -> float | Meaning:
    """One product's figures -> the count to record, or the question (see the table at the top)."""
    counts = [f for f in figures if isinstance(f, _COUNTS)]
    corrections = [f for f in counts if isinstance(f, Correction)]
    if corrections:  # the producer said which figure is right: it settles this product's other counts
        counts = [corrections[-1]]
    doubts = [f for f in figures if isinstance(f, (Range,) + TO_CONFIRM)]
    moves = [f for f in figures if isinstance(f, (Sale, Future))]
    aside = [f for f in figures if isinstance(f, NOT_A_COUNT)]
    values = list(dict.fromkeys([f.value for f in counts] + [v for f in doubts for v in _options(f)]))

    if len(counts) == 1 and not doubts:
        count = counts[0]
        if isinstance(count, Quantity):
            if count.qty.bad():
                return Meaning("clarify", reason="bad_quantity", product=code, quantity=count.value)
            if not _unit_ok(catalogue, code, count.qty):
                return Meaning("clarify", reason="how_many", product=code, quantity=count.value,
                               shown=_shown(reading, count))
        grouped = isinstance(count, Quantity) and count.qty.grouped
        # A price, a date, a time, a phone number or a percent beside the count competes with it: confirm.
        if grouped or doubt_day or aside or (moves and not stock_word and not isinstance(count, Correction)):
            return Meaning("clarify", reason="confirm", product=code, quantity=count.value)
        return count.value
    if not counts and len(doubts) == 1:
        doubt = doubts[0]
        if isinstance(doubt, Range):
            return Meaning("clarify", reason="choose", product=code, options=doubt.options[:3])
        if doubt.value is None:  # "3 cartons": how many in a carton?
            return Meaning("clarify", reason="how_many", product=code, shown=_shown(reading, doubt))
        if not 0 <= doubt.value <= MAX_QUANTITY:
            return Meaning("clarify", reason="bad_quantity", product=code, quantity=doubt.value)
        return Meaning("clarify", reason="confirm", product=code, quantity=doubt.value,
                       shown=_shown(reading, doubt))
    if len(values) > 1:
        options = tuple(v for v in values if v is not None and 0 <= v <= MAX_QUANTITY)[:3]
        if len(options) > 1:
            return Meaning("clarify", reason="choose", product=code, options=options)
        return Meaning("clarify", reason="how_many", product=code)
    if moves:
        kind = "sale" if isinstance(moves[0], Sale) else "future"
        return Meaning("clarify", reason=kind, product=code, quantity=moves[0].value, shown=_shown(reading, moves[0]))
    if aside:
        return Meaning("clarify", reason="not_count", product=code, shown=_shown(reading, aside[0]),
                       value=_NOT_A_COUNT_NAMES[type(aside[0])])
    return Meaning("clarify", reason="how_many", product=code)


def _options(figure: Span) -> tuple[float, ...]:
    if isinstance(figure, Range):
        return figure.options
    value = getattr(figure, "value", None)
    return (value,) if value is not None else ()


def _shown(reading: Reading, span: Span) -> str:
    """The producer's own words for a span, as they typed them (folded to plain letters)."""
    return " ".join(reading.text[span.start:span.end].split()).replace("\x02", "")


def _unit_ok(catalogue: Catalogue, code: str, qty: _Qty) -> bool:
    """A quantity in another unit ('savon 3 kg') is not a count of the product's unit: ask."""
    return qty.unit is None or catalogue._units.get(code) in (None, "", qty.unit)


def _no_product(figures: list[Span], reading: Reading, catalogue: Catalogue, coop: tuple[str, ...],
                doubt_day: bool, stock_word: bool) -> Meaning:
    """No product named: a menu choice ('2'), or a report for the cooperative's only product ('stock 40')."""
    countable = [f for f in figures if not isinstance(f, NOT_A_COUNT)]
    only = coop[0] if len(coop) == 1 else None
    if not countable and not figures:
        if stock_word:  # "stock" alone
            if only:
                return Meaning("clarify", reason="how_many", product=only)
            return Meaning("clarify", reason="which_product", candidates=coop)
        return Meaning("unknown")
    single = figures[0] if len(figures) == 1 else None
    if isinstance(single, Quantity) and not single.qty.unit and not single.qty.zero and not stock_word \
            and not doubt_day and single.qty.digits and not single.qty.bad():
        if single.qty.text == "0":
            return Meaning("menu")
        return Meaning("choice", value=single.qty.text)  # "2": a menu entry
    if isinstance(single, Quantity) and single.qty.weak in ("un", "une", "neuf") and not single.qty.unit:
        return Meaning("choice", value=single.qty.text)
    if not countable:
        return Meaning("clarify", reason="not_count", product=only, shown=_shown(reading, figures[0]),
                       value=_NOT_A_COUNT_NAMES[type(figures[0])])
    if only:
        decision = _figure(reading, only, figures, catalogue, doubt_day, stock_word)
        if isinstance(decision, Meaning):
            return decision
        return Meaning("stock", items={only: decision})
    quantity = _plain(figures)
    units = {f.qty.unit for f in figures if isinstance(f, Quantity) and f.qty.unit}
    ranked = sorted(coop, key=lambda c: not (units and catalogue._units.get(c) in units))
    return Meaning("clarify", reason="which_product", candidates=tuple(ranked), quantity=quantity)
