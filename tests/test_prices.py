"""Prices: staff observations through the API, their change in every language, and "prix" by message."""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from datetime import date, datetime, timezone
from itertools import count

import pytest
from sqlalchemy import select

from ovop.core import clock
from ovop.domain import prices
from ovop.language.i18n import for_channel, is_gsm7, sms_segments
from ovop.models import PriceObservation, Producer, Product
from tests.helpers import add_producer, inbound_form

pytestmark = pytest.mark.clock  # reads dates or times of day: .ci/run also runs it at other hours

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)
PHONE = "+221770008888"
SIDS = (f"SMpr{n:06d}" for n in count())


def observe(db, code, price, on, market=prices.DEFAULT_MARKET, unit=None):
    with db.transaction() as session:
        product = session.scalar(select(Product).where(Product.code == code))
        session.add(PriceObservation(product=product, price=price, unit=unit or product.unit, market=market,
                                     observed_on=on))


@pytest.fixture
def producer(db):
    """A producer of yaourt and savon, with names in three languages as in the demo catalogue."""
    with db.transaction() as session:
        found = add_producer(session, PHONE, channel="whatsapp", products=("yaourt", "savon"))
        names = {"yaourt": ("yaourt", "soow", "yoghurt"), "savon": ("savon", "saabu", "soap")}
        for product in found.products:
            product.name_fr, product.name_wo, product.name_en = names[product.code]
            product.unit = "pot" if product.code == "yaourt" else "pièce"
        return found.id


def tip(db, producer_id, language):
    with db.transaction() as session:
        found = session.get(Producer, producer_id)
        found.language = language
        return prices.tip(session, found)


# --- the change, in words -----------------------------------------------------------------------------------

@pytest.mark.parametrize("before, after, direction, percent", [
    (None, 500, "new", 0),
    (500, 500, "same", 0),
    (500, 550, "up", 10),
    (500, 450, "down", 10),
    (300, 350, "up", 17),
    (1000, 1002, "up", 1),  # a real change never reads as 0 %
])
def test_a_quote_says_which_way_the_price_went_and_by_how_much(db, producer, before, after, direction, percent):
    if before is not None:
        observe(db, "yaourt", before, date(2026, 11, 30))
    observe(db, "yaourt", after, date(2026, 12, 7))
    with db.transaction() as session:
        quote = prices.quote(session, session.scalar(select(Product).where(Product.code == "yaourt")))
        assert (quote.direction, quote.percent, quote.latest.price) == (direction, percent, after)


def test_the_previous_observation_is_the_one_just_before_on_the_same_market_and_unit(db, producer):
    observe(db, "yaourt", 400, date(2026, 11, 20))
    observe(db, "yaourt", 450, date(2026, 11, 30))
    observe(db, "yaourt", 999, date(2026, 12, 3), market="Marché Sandaga")
    observe(db, "yaourt", 500, date(2026, 12, 7))
    observe(db, "savon", 300, date(2026, 11, 30), unit="carton")
    observe(db, "savon", 350, date(2026, 12, 7))
    with db.transaction() as session:
        yaourt, savon = (session.scalar(select(Product).where(Product.code == code)) for code in ("yaourt", "savon"))
        assert prices.quote(session, yaourt).previous.price == 450
        assert prices.quote(session, savon).direction == "new"  # a carton is not a piece


@pytest.mark.parametrize("language, expected", [
    ("fr", "Prix boutique OVOP :\nsavon : 350\u00a0F\u202fCFA/pièce, en baisse de 13%\n"
           "yaourt : 550\u00a0F\u202fCFA/pot, en hausse de 10%"),
    ("en", "OVOP boutique prices:\nsoap: 350\u00a0F\u202fCFA/pièce, down 13%\n"
           "yoghurt: 550\u00a0F\u202fCFA/pot, up 10%"),
    ("wo", "Njëgu butig OVOP:\nsaabu: 350\u00a0F\u202fCFA/pièce, wàññi na 13%\n"
           "soow: 550\u00a0F\u202fCFA/pot, yokk na 10%"),
])
def test_the_tip_words_the_change_in_the_producers_language(db, producer, language, expected):
    observe(db, "yaourt", 500, date(2026, 11, 30)), observe(db, "yaourt", 550, date(2026, 12, 7))
    observe(db, "savon", 400, date(2026, 11, 30)), observe(db, "savon", 350, date(2026, 12, 7))
    assert tip(db, producer, language) == expected


@pytest.mark.parametrize("language, expected", [
    ("fr", "savon : 350 F CFA/pièce, stable"), ("en", "soap: 350 F CFA/pièce, unchanged"),
    ("wo", "saabu: 350 F CFA/pièce, soppiku wul"),
])
def test_an_unchanged_price_says_so(db, producer, language, expected):
    observe(db, "savon", 350, date(2026, 11, 30)), observe(db, "savon", 350, date(2026, 12, 7))
    assert for_channel(tip(db, producer, language), "sms").splitlines()[1] == expected


@pytest.mark.parametrize("language", ["fr", "wo", "en"])
def test_the_tip_is_one_gsm7_segment_on_sms(db, producer, language):
    observe(db, "yaourt", 500, date(2026, 11, 30)), observe(db, "yaourt", 1250, date(2026, 12, 7))
    observe(db, "savon", 12500, date(2026, 11, 30)), observe(db, "savon", 11000, date(2026, 12, 7))
    text = for_channel(tip(db, producer, language), "sms")
    assert is_gsm7(text) and sms_segments(text) == 1, text


def test_a_producer_without_priced_products_gets_no_tip(db, producer):
    observe(db, "yaourt", 500, date(2026, 12, 7), market="Marché Sandaga")
    assert tip(db, producer, "fr") is None


# --- by message -------------------------------------------------------------------------------------------

def say(client, text, channel="whatsapp") -> list[str]:
    with clock.frozen_at(NOW, all_threads=True):
        response = client.post("/twilio/inbound", data=inbound_form(PHONE, text, next(SIDS), channel))
    assert response.status_code == 200
    return [message.text or "" for message in ElementTree.fromstring(response.get_data()).iter("Message")]


def test_prix_answers_the_prices_of_the_producers_products(client, db, producer):
    observe(db, "yaourt", 500, date(2026, 11, 30)), observe(db, "yaourt", 550, date(2026, 12, 7))
    assert say(client, "prix") == ["Prix boutique OVOP :\nyaourt : 550\u00a0F\u202fCFA/pot, en hausse de 10%"]
    assert say(client, "4") == say(client, "prix")  # menu 4


def test_prix_and_a_product_answers_that_product_only(client, db, producer):
    observe(db, "yaourt", 500, date(2026, 12, 7)), observe(db, "savon", 350, date(2026, 12, 7))
    assert say(client, "prix savon", channel="sms") == ["Prix boutique OVOP :\nsavon : 350 F CFA/pièce"]


def test_prix_without_any_observation_says_none_yet(client, db, producer):
    assert say(client, "prix") == ["Pas encore de prix relevé pour vos produits."]
    assert say(client, "prix savon") == ["Pas encore de prix relevé pour savon."]


# --- staff API --------------------------------------------------------------------------------------------

def test_api_records_and_lists_observations(api, db, producer):
    with clock.frozen_at(NOW, all_threads=True):
        status, created = api.post("/prices", {"product": "yaourt", "price": 500})
        assert status == 201
        assert {k: created[k] for k in ("product", "price", "unit", "market", "observed_on")} == {
            "product": "yaourt", "price": 500, "unit": "pot", "market": "Boutique OVOP Dakar",
            "observed_on": "2026-12-07"}
        api.post("/prices", {"product": "savon", "price": 350, "unit": "pièce", "market": "Marché Sandaga",
                             "observed_on": "2026-12-01"})
    status, listed = api.get("/prices")
    assert status == 200 and [item["product"] for item in listed["items"]] == ["yaourt", "savon"]
    assert [item["price"] for item in api.get("/prices?product=savon")[1]["items"]] == [350]
    assert [item["product"] for item in api.get("/prices?market=Marché Sandaga")[1]["items"]] == ["savon"]


@pytest.mark.parametrize("change, field", [
    ({"price": 0}, "price"),
    ({"price": -500}, "price"),
    ({"price": 499.5}, "price"),
    ({"price": "500"}, "price"),
    ({"price": True}, "price"),
    ({"price": None}, "price"),
    ({"price": 10**12}, "price"),
    ({"product": "caviar"}, "product"),
    ({"product": None}, "product"),
    ({"observed_on": "2026-12-08"}, "observed_on"),
    ({"observed_on": "07/12/2026"}, "observed_on"),
    ({"unit": 5}, "unit"),
    ({"currency": "XOF"}, "currency"),
])
def test_api_refuses_a_bad_observation_with_422(api, producer, change, field):
    with clock.frozen_at(NOW, all_threads=True):
        status, answer = api.post("/prices", {"product": "yaourt", "price": 500, **change})
    assert (status, answer["field"]) == (422, field)
