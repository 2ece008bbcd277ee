"""Properties of ovop.language.understand that must hold for any text a phone can send."""
from __future__ import annotations

import json
import logging
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ovop.language import understand as u
from ovop.domain.demo import DEMO_FILE

DEMO = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
CATALOGUE = u.Catalogue(
    u.CatalogueProduct(code=p["code"], unit=p["unit"], names=p["names"], aliases=tuple(p["aliases"]))
    for p in DEMO["products"])
CODES = [p["code"] for p in DEMO["products"]]
KINDS = {"thanks", "stock", "clarify", "help", "menu", "optout", "optout_ask", "optin", "language", "accept", "decline", "workshops",
         "price", "cancel", "choice", "unknown"}

# Any text: control characters, emoji, combining marks, up to 5000 characters.
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=("Cs",)), max_size=5000)
# Texts made of the words producers use, so the deeper paths (numbers, products, orders) are exercised.
WORDS = st.sampled_from([
    "yaourt", "soow", "savon", "huile", "arachide", "d'arachide", "palme", "beurre", "chapeaux", "de", "paille",
    "lait", "thé", "the", "kinkéliba", "pagne", "diwu", "ñaar", "ñaari", "fukk", "ak", "juróom", "-", "benn",
    "téeméer", "junni", "vingt", "et", "un", "demi", "quatre", "neuf", "cent", "mille", "0", "12", "-5", "1,5",
    "1 200", "1.500", "10L", "pots", "litres", "cartons", "stock", "am", "na", "oui", "non", "waaw", "ok",
    "CMD-0012", "je", "peux", "seulement", "rekk", "prix", "atelier", "annuler", "stop", "langue", "wolof",
    "bonjour", "fini", "rupture", "?", "🙏", "\x00", "\n", ":", ",", "99999999999999999999",
])
PRODUCER_TEXT = st.lists(WORDS, max_size=14).map(" ".join)
COOP = st.lists(st.sampled_from(CODES), max_size=4, unique=True)
ORDERS = st.lists(st.sampled_from(["CMD-0001", "CMD-0012", "CMD-0100"]), max_size=3, unique=True)


def _check(meaning: u.Meaning) -> None:
    """Invariants of every meaning: a known kind, and a stock record only of catalogue products, in range."""
    assert meaning.kind in KINDS
    if meaning.kind == "stock":
        assert meaning.items
    else:
        assert meaning.items == {}
    for items in (meaning.items, meaning.partial):
        for code, quantity in items.items():
            assert code in CODES
            assert 0 <= quantity <= u.MAX_QUANTITY


class _Errors(logging.Handler):
    """Collects what the reader logs as errors: its safety net logs every crash it hides."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def _understood(text, coop, orders, optout=()):
    """u.understand, failing the test if its safety net had to hide a crash."""
    errors = _Errors()
    logger = logging.getLogger("ovop.language.understand")
    logger.addHandler(errors)
    try:
        meaning = u.understand(text, CATALOGUE, coop, orders, optout)
    finally:
        logger.removeHandler(errors)
    assert not errors.records, errors.records[0].getMessage()
    return meaning


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT, coop=COOP, orders=ORDERS)
def test_understand_never_raises_on_any_text(text, coop, orders):
    _check(_understood(text, coop, orders, ["bayi"]))


@settings(max_examples=500, deadline=None)
@given(text=PRODUCER_TEXT, coop=COOP, orders=ORDERS)
def test_understand_never_raises_on_producer_like_text(text, coop, orders):
    _check(_understood(text, coop, orders))


# --- a wrong record is worse than a question -----------------------------------------------------------

NAMES = {"yaourt": ["yaourt", "soow", "yogurt"], "savon": ["savon", "saabu", "soap"]}
FILLER = st.sampled_from(["bonjour", "merci", "svp", "Awa", "stp", "jerejef", "salam", "ok", "voici", "le stock",
                          "aujourd'hui", "il reste", "we have", "am na", ""])
COUNT = st.integers(min_value=0, max_value=5000)
MONEY = st.sampled_from(["{}f", "{} F", "{} fcfa", "{}frs", "prix {}", "à {}", "{} francs", "{} CFA"])
COMPETING = st.sampled_from(["{}-{}", "{} ou {}", "entre {} et {}", "{} walla {}", "{} {}", "{} or {}",
                             "{}+{}", "{}x{}", "{} à {}"])


def _numbers_in(text: str) -> set[float]:
    """Every figure written in a text of digits."""
    return {float(n.replace(",", ".")) for n in re.findall(r"\d+(?:[.,]\d+)?", text)}


@settings(max_examples=400, deadline=None)
@given(before=FILLER, name=st.sampled_from(NAMES["yaourt"]), count=COUNT, after=FILLER, money=MONEY,
       price=st.integers(min_value=50, max_value=100000), money_first=st.booleans())
def test_a_money_amount_is_never_written_as_stock(before, name, count, after, money, price, money_first):
    priced = money.format(price)
    parts = [before, priced, name, str(count), after] if money_first else [before, name, str(count), priced, after]
    meaning = _understood(" ".join(parts), ["yaourt"], [])
    if meaning.kind == "stock":
        assert meaning.items == {"yaourt": count}, (parts, meaning)


@settings(max_examples=400, deadline=None)
@given(before=FILLER, name=st.sampled_from(NAMES["yaourt"] + NAMES["savon"]), a=COUNT, b=COUNT, after=FILLER,
       pattern=COMPETING)
def test_two_numbers_for_one_product_never_write_either_without_a_question(before, name, a, b, after, pattern):
    text = f"{before} {name} {pattern.format(a, b)} {after}"
    meaning = _understood(text, ["yaourt", "savon"], [])
    assert meaning.kind != "stock" or a == b, (text, meaning)


@settings(max_examples=400, deadline=None)
@given(text=st.lists(st.sampled_from(["yaourt", "savon", "soow", "12", "40", "750f", "12/03", "25-30", "3 cartons de 20",
                                      "environ", "vendu", "demain", "le 9", "77 123 45 67", "20%", "10h", "pots",
                                      "4O", "une vingtaine", "et", "ou", "pas", "non", "merci", "2x12", "1,5"]),
                     max_size=10).map(" ".join))
def test_no_quantity_is_written_that_the_message_does_not_give(text):
    meaning = _understood(text, ["yaourt", "savon"], [])
    if meaning.kind == "stock":
        assert set(meaning.items.values()) <= _numbers_in(text) | {0.0}, (text, meaning)


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT | PRODUCER_TEXT)
def test_normalise_is_idempotent(text):
    once = u.normalise(text)
    assert u.normalise(once) == once
    assert once == once.strip() and "  " not in once


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT | PRODUCER_TEXT)
def test_parse_price_needs_digits(text):
    if not any(char.isdigit() for char in text):
        assert u.parse_price(text) is None


@given(text=st.text(alphabet="ñaariféeméerjunnifukkakjuróomtéeméerbenndërëm -", max_size=40))
def test_parse_price_never_reads_wolof_number_words(text):
    assert u.parse_price(text) is None


@settings(max_examples=200, deadline=None)
@given(text=ANY_TEXT | PRODUCER_TEXT)
def test_the_other_entry_points_never_raise(text):
    u.keyword(text, ["bayi"])
    quantity = u.parse_quantity(text)
    assert quantity is None or 0 <= quantity <= u.MAX_QUANTITY
    code, candidates = u.match_product(text, CATALOGUE, CODES[:2])
    assert code is None or code in CODES
    assert set(candidates) <= set(CODES)


@given(n=st.integers(min_value=0, max_value=u.MAX_QUANTITY))
def test_parse_quantity_reads_any_whole_number(n):
    assert u.parse_quantity(str(n)) == n
    assert u.parse_quantity(f"{n:,}".replace(",", " ")) == n
