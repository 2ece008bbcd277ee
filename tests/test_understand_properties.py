"""Properties of bot.understand that must hold for any text a phone can send."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import understand as u
from bot.demo import DEMO_FILE

DEMO = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
CATALOGUE = u.Catalogue(
    u.CatalogueProduct(code=p["code"], unit=p["unit"], names=p["names"], aliases=tuple(p["aliases"]))
    for p in DEMO["products"])
CODES = [p["code"] for p in DEMO["products"]]
KINDS = {"thanks", "stock", "clarify", "help", "menu", "optout", "optin", "language", "accept", "decline", "workshops",
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT, coop=COOP, orders=ORDERS)
def test_understand_never_raises_on_any_text(text, coop, orders):
    # The private entry point has no safety net: a bug would surface here instead of becoming "unknown".
    _check(u._understand(text, CATALOGUE, tuple(coop), tuple(orders), ("bayi",)))
    _check(u.understand(text, CATALOGUE, coop, orders, ["bayi"]))


@settings(max_examples=500, deadline=None)
@given(text=PRODUCER_TEXT, coop=COOP, orders=ORDERS)
def test_understand_never_raises_on_producer_like_text(text, coop, orders):
    _check(u._understand(text, CATALOGUE, tuple(coop), tuple(orders), ()))


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
