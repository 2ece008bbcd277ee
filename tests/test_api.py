"""The staff JSON API: auth, errors, cooperatives, products, producers (with erasure) and the message log."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from ovop.domain import directory
from ovop.models import ConversationState, Message, OutboxItem, Producer, Product, ProductAlias
from tests.conftest import TOKEN

PHONE = "+221771234567"
YAOURT = {"code": "yaourt", "unit": "pot", "names": {"fr": "yaourt", "wo": "soow", "en": "yoghurt"},
          "aliases": ["yahourt", "sow"], "low_stock_threshold": 20}
SAVON = {"code": "savon", "unit": "pièce", "names": {"fr": "savon"}}


@pytest.fixture
def coop(api) -> dict:
    """Two products and a cooperative making yoghurt."""
    assert api.post("/products", YAOURT)[0] == 201
    assert api.post("/products", SAVON)[0] == 201
    status, body = api.post("/cooperatives", {"name": "GIE Takku Liggéey", "region": "Thiès", "products": ["yaourt"]})
    assert status == 201
    return body


def raw(client, method, path, data, content_type="application/json"):
    """A call with a body exactly as given, not encoded by the test client."""
    response = client.open(f"/api/v1{path}", method=method, data=data, content_type=content_type,
                           headers={"Authorization": f"Bearer {TOKEN}"})
    return response.status_code, response.get_json(silent=True)


# --- auth and the shape of errors -------------------------------------------------------------------------

@pytest.mark.parametrize("header", [None, f"Basic {TOKEN}", "Bearer wrong-token", "Bearer", TOKEN, "Bearer  "])
def test_it_refuses_calls_without_the_right_token(client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/producers", headers=headers)
    assert response.status_code == 401
    assert "error" in response.get_json()


@pytest.mark.parametrize("data, content_type", [
    ("{", "application/json"),
    ('{"name": }', "application/json"),
    ('{"name": "x"}', "text/plain"),
    ("", "application/json"),
])
def test_it_answers_400_to_a_body_that_is_not_json(client, data, content_type):
    status, body = raw(client, "POST", "/cooperatives", data, content_type)
    assert status == 400 and "JSON" in body["error"]


@pytest.mark.parametrize("data", ["[]", '["name"]', '"GIE"', "12", "null", "true"])
def test_it_answers_400_to_json_that_is_not_an_object(client, data):
    status, body = raw(client, "POST", "/cooperatives", data)
    assert status == 400 and "error" in body


@pytest.mark.parametrize("method, path", [
    ("GET", "/nothing-here"), ("GET", "/producers/abc"), ("GET", "/producers/-1"), ("GET", "/producers/0"),
    ("GET", "/producers/1.5"), ("GET", "/producers/99999999999999999999999"), ("PATCH", "/cooperatives/abc"),
    ("GET", "/cooperatives/12"), ("GET", "/producers/12"), ("GET", "/products/nope"), ("GET", "/products/12"),
    ("GET", "/products/99999999999999999999999"), ("DELETE", "/producers/abc"),
])
def test_it_answers_404_json_to_what_does_not_exist(api, method, path):
    status, body = api._call(method, path, {} if method == "PATCH" else None)
    assert status == 404 and "error" in body


def test_it_answers_405_json_to_a_wrong_method(api):
    status, body = api._call("PUT", "/cooperatives", {})
    assert status == 405 and "error" in body


# --- cooperatives -----------------------------------------------------------------------------------------

def test_it_creates_lists_gets_and_patches_a_cooperative(api, coop):
    assert coop["id"] and coop["products"] == ["yaourt"] and coop["region"] == "Thiès"
    assert datetime.fromisoformat(coop["created_at"]).utcoffset() == timedelta(0)
    assert api.get("/cooperatives") == (200, {"items": [coop], "next": None})
    assert api.get(f"/cooperatives/{coop['id']}") == (200, coop)
    status, body = api.patch(f"/cooperatives/{coop['id']}", {"region": "Thiès ", "products": ["savon", "yaourt"]})
    assert status == 200 and body["products"] == ["savon", "yaourt"] and body["name"] == coop["name"]
    status, body = api.patch(f"/cooperatives/{coop['id']}", {**body, "region": None})  # a GET answer sent back
    assert status == 200 and body["region"] is None


def test_it_refuses_a_second_cooperative_of_the_same_name(api, coop):
    status, body = api.post("/cooperatives", {"name": "  GIE Takku   Liggéey "})
    assert (status, body["field"]) == (409, "name")
    other = api.post("/cooperatives", {"name": "Vanniers de Louga"})[1]
    assert api.patch(f"/cooperatives/{other['id']}", {"name": coop["name"]})[0] == 409


@pytest.mark.parametrize("fields, field", [
    ({}, "name"), ({"name": None}, "name"), ({"name": 12}, "name"), ({"name": "  "}, "name"),
    ({"name": "x" * 121}, "name"), ({"name": ["GIE"]}, "name"), ({"name": "GIE\x00"}, "name"),
    ({"name": "GIE", "region": 3}, "region"), ({"name": "GIE", "products": "yaourt"}, "products"),
    ({"name": "GIE", "products": [1]}, "products"), ({"name": "GIE", "products": ["tomate"]}, "products"),
    ({"name": "GIE", "products": None}, "products"), ({"name": "GIE", "colour": "red"}, "colour"),
])
def test_it_refuses_invalid_cooperatives(api, coop, fields, field):
    status, body = api.post("/cooperatives", fields)
    assert (status, body["field"]) == (422, field), body
    assert api.patch(f"/cooperatives/{coop['id']}", fields or {"name": None})[0] == 422


def test_it_answers_409_when_a_concurrent_request_took_the_name_first(api, coop, monkeypatch):
    def without_the_check(session, cooperative, fields):
        cooperative.name = fields["name"]  # as if another request committed between our check and our insert
        return cooperative

    monkeypatch.setattr(directory, "update_cooperative", without_the_check)
    status, body = api.post("/cooperatives", {"name": coop["name"]})
    assert status == 409 and "error" in body


# --- products ---------------------------------------------------------------------------------------------

def test_it_creates_lists_gets_and_patches_a_product(api, coop):
    status, body = api.get("/products/yaourt")
    assert status == 200 and body["names"] == YAOURT["names"] and body["aliases"] == ["yahourt", "sow"]
    assert body["learnt_aliases"] == [] and body["low_stock_threshold"] == 20 and body["unit"] == "pot"
    assert api.get(f"/products/{body['id']}") == (200, body)
    assert [item["code"] for item in api.get("/products")[1]["items"]] == ["savon", "yaourt"]
    status, patched = api.patch(f"/products/{body['id']}", {"names": {"wo": None}, "low_stock_threshold": 0,
                                                             "code": "yaourt", "learnt_aliases": ["ignored"]})
    assert status == 200 and patched["names"] == {"fr": "yaourt", "wo": None, "en": "yoghurt"}
    assert patched["low_stock_threshold"] == 0 and patched["learnt_aliases"] == []


def test_it_replaces_staff_aliases_and_keeps_learnt_ones(api, db, coop):
    with db.transaction() as session:
        product = session.scalar(select(Product).where(Product.code == "yaourt"))
        product.aliases.append(ProductAlias(alias="yawur", source="learnt"))
        product.aliases.append(ProductAlias(alias="sooww", source="learnt"))
    status, body = api.patch("/products/yaourt", {"aliases": ["Sow", "lait caillé", "sooww", "lait  caillé"]})
    assert status == 200
    assert sorted(body["aliases"]) == ["Sow", "lait caillé", "sooww"] and body["learnt_aliases"] == ["yawur"]
    assert api.patch("/products/yaourt", {"aliases": []})[1]["aliases"] == []


def test_it_refuses_an_alias_that_already_names_another_product(api, coop):
    status, body = api.patch("/products/savon", {"aliases": ["SOW"]})
    assert (status, body["field"]) == (409, "aliases")
    assert api.post("/products", {**SAVON, "code": "savon_noir", "aliases": ["yahourt"]})[0] == 409


def test_it_refuses_a_second_product_with_the_same_code(api, coop):
    status, body = api.post("/products", {**SAVON, "names": {"fr": "autre savon"}})
    assert (status, body["field"]) == (409, "code")


@pytest.mark.parametrize("fields, field", [
    ({"code": None}, "code"), ({"code": "Savon Noir"}, "code"), ({"code": "123"}, "code"),
    ({"code": "_x"}, "code"), ({"code": "é"}, "code"), ({"code": 5}, "code"), ({"code": "x" * 41}, "code"),
    ({"unit": None}, "unit"), ({"unit": 1}, "unit"), ({"names": None}, "names"), ({"names": {}}, "names.fr"),
    ({"names": ["savon"]}, "names"), ({"names": {"fr": "savon", "de": "Seife"}}, "names.de"),
    ({"names": {"fr": 1}}, "names.fr"), ({"names": {"fr": "savon", "wo": ["x"]}}, "names.wo"),
    ({"aliases": "sabou"}, "aliases"), ({"aliases": [None]}, "aliases"), ({"aliases": [""]}, "aliases"),
    ({"low_stock_threshold": -1}, "low_stock_threshold"), ({"low_stock_threshold": "5"}, "low_stock_threshold"),
    ({"low_stock_threshold": 5.5}, "low_stock_threshold"), ({"low_stock_threshold": True}, "low_stock_threshold"),
    ({"low_stock_threshold": 2**40}, "low_stock_threshold"), ({"low_stock_threshold": None}, "low_stock_threshold"),
    ({"price": 500}, "price"),
])
def test_it_refuses_invalid_products(api, coop, fields, field):
    status, body = api.post("/products", {**SAVON, "code": "savon_noir", **fields})
    assert (status, body["field"]) == (422, field), body


def test_it_never_changes_a_product_code(api, coop):
    status, body = api.patch("/products/savon", {"code": "savon_noir"})
    assert (status, body["field"]) == (422, "code")
    assert api.get("/products/savon")[0] == 200


# --- producers --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("written", ["77 123 45 67", "+221 77 123 45 67", "00221771234567", "771234567",
                                     "whatsapp:+221771234567", "+221-77-123-45-67"])
def test_it_stores_phones_in_e164_whatever_the_writing(api, coop, written):
    status, body = api.post("/producers", {"phone": written, "name": "Awa Ndiaye", "cooperative_id": coop["id"]})
    assert status == 201 and body["phone"] == PHONE and body["id"]
    status, body = api.post("/producers", {"phone": "+221 77 123 45 67", "name": "Awa again"})
    assert (status, body["field"]) == (409, "phone")


@pytest.mark.parametrize("phone", ["123", "abc", "", "   ", 12345, 221771234567, None, True, ["771234567"],
                                   {"n": 1}, "+33 6", "77 123 45 67 89 01 23", "77\x001234567"])
def test_it_refuses_invalid_phones(api, coop, phone):
    status, body = api.post("/producers", {"phone": phone, "name": "Awa"})
    assert (status, body["field"]) == (422, "phone"), body
    assert body["error"]


def test_it_requires_a_phone(api, coop):
    status, body = api.post("/producers", {"name": "Awa"})
    assert (status, body["field"]) == (422, "phone")


def test_it_creates_gets_and_patches_a_producer(api, coop):
    status, made = api.post("/producers", {"phone": "77 123 45 67", "name": "Awa Ndiaye", "cooperative_id": coop["id"],
                                           "language": "wo", "channel": "sms"})
    assert status == 201
    assert made["products"] == ["yaourt"]  # the cooperative's products when none are given
    assert (made["language"], made["channel"], made["opted_out"], made["last_inbound_at"]) == ("wo", "sms", False, None)
    assert datetime.fromisoformat(made["created_at"]).utcoffset() == timedelta(0)
    assert api.get(f"/producers/{made['id']}") == (200, made)
    status, body = api.patch(f"/producers/{made['id']}", {"phone": "78 000 00 01", "products": ["savon"],
                                                          "opted_out": True, "created_at": "ignored"})
    assert status == 200 and body["phone"] == "+221780000001" and body["products"] == ["savon"]
    assert body["opted_out"] is False  # read-only fields are ignored
    status, body = api.patch(f"/producers/{made['id']}", {"cooperative_id": None, "name": None})
    assert status == 200 and body["cooperative_id"] is None and body["name"] is None


def test_it_keeps_an_explicitly_empty_product_list(api, coop):
    status, body = api.post("/producers", {"phone": PHONE, "cooperative_id": coop["id"], "products": []})
    assert status == 201 and body["products"] == [] and body["language"] == "fr" and body["channel"] == "whatsapp"


def test_it_refuses_a_phone_already_taken_when_patching(api, coop):
    first = api.post("/producers", {"phone": PHONE})[1]
    second = api.post("/producers", {"phone": "78 000 00 01"})[1]
    status, body = api.patch(f"/producers/{second['id']}", {"phone": "77 123 45 67"})
    assert (status, body["field"]) == (409, "phone")
    assert api.patch(f"/producers/{first['id']}", {"phone": "0022177 123 45 67"})[0] == 200  # its own number


@pytest.mark.parametrize("fields, field", [
    ({"cooperative_id": 999}, "cooperative_id"), ({"cooperative_id": "1"}, "cooperative_id"),
    ({"cooperative_id": True}, "cooperative_id"), ({"cooperative_id": 2**70}, "cooperative_id"),
    ({"cooperative_id": 1.0}, "cooperative_id"), ({"cooperative_id": -1}, "cooperative_id"),
    ({"products": ["tomate"]}, "products"), ({"products": "yaourt"}, "products"), ({"products": None}, "products"),
    ({"language": "de"}, "language"), ({"language": None}, "language"), ({"language": ["fr"]}, "language"),
    ({"channel": "telegram"}, "channel"), ({"channel": 1}, "channel"), ({"name": 5}, "name"),
    ({"name": "x" * 121}, "name"), ({"name": "\ud800"}, "name"), ({"nickname": "Awa"}, "nickname"),
])
def test_it_refuses_invalid_producers(api, coop, fields, field):
    status, body = api.post("/producers", {"phone": PHONE, **fields})
    assert (status, body["field"]) == (422, field), body
    made = api.post("/producers", {"phone": "78 000 00 01"})[1]
    assert api.patch(f"/producers/{made['id']}", fields)[0] == 422


def test_it_lists_producers_filtered_by_cooperative_and_search(api, coop):
    other = api.post("/cooperatives", {"name": "Vanniers de Louga", "products": ["savon"]})[1]
    awa = api.post("/producers", {"phone": PHONE, "name": "Awa Ndiaye", "cooperative_id": coop["id"]})[1]
    fatou = api.post("/producers", {"phone": "78 000 00 01", "name": "Fatou Sarr", "cooperative_id": other["id"]})[1]

    def ids(query=""):
        status, body = api.get(f"/producers{query}")
        assert status == 200, body
        return [item["id"] for item in body["items"]]

    assert ids() == [awa["id"], fatou["id"]]
    assert ids(f"?cooperative_id={other['id']}") == [fatou["id"]]
    assert ids("?q=ndiaye") == [awa["id"]]
    assert ids("?q=77 123") == [awa["id"]]
    assert ids("?q=00221780000001") == [fatou["id"]]
    assert ids("?q=100%25") == [] and ids("?q=_") == []
    assert ids(f"?cooperative_id={coop['id']}&q=fatou") == []


@pytest.mark.parametrize("query, field", [("?cooperative_id=abc", "cooperative_id"),
                                          ("?cooperative_id=99999999999999999999", "cooperative_id"),
                                          ("?q=a%00b", "q")])
def test_it_refuses_bad_producer_filters(api, query, field):
    status, body = api.get(f"/producers{query}")
    assert (status, body["field"]) == (422, field)


def test_it_erases_a_deleted_producer(api, db, coop):
    made = api.post("/producers", {"phone": "77 123 45 67", "name": "Awa Ndiaye", "cooperative_id": coop["id"]})[1]
    with db.transaction() as session:
        session.add_all([
            # One from before she was registered (known by number only), one linked to her, one from someone else.
            Message(direction="in", channel="sms", phone=PHONE, body="yaourt 40", status="received"),
            Message(direction="out", channel="sms", phone=PHONE, producer_id=made["id"], body="Merci Awa",
                    status="sent", reply_twiml="<Response>Merci Awa</Response>"),
            Message(direction="in", channel="sms", phone="+221780000001", body="savon 3", status="received"),
            ConversationState(phone=PHONE, producer_id=made["id"], data={"flow": "stock"}),
        ])
        session.flush()
        session.add(OutboxItem(dedupe_key="tip:1", kind="tip", recipient=PHONE, producer_id=made["id"],
                               channel="sms", body="Prix du yaourt: 500 F"))

    assert api.delete(f"/producers/{made['id']}") == (204, None)

    with db.transaction() as session:
        producer = session.get(Producer, made["id"])
        assert (producer.name, producer.phone) == (None, None) and producer.deleted_at is not None
        rows = session.scalars(select(Message).order_by(Message.id)).all()
        assert [(m.body, m.phone, m.reply_twiml) for m in rows[:2]] == [(None, None, None), (None, None, None)]
        assert rows[1].producer_id == made["id"]  # the row stays, anonymous
        assert rows[2].body == "savon 3"
        assert session.scalars(select(ConversationState)).all() == []
        item = session.scalars(select(OutboxItem)).one()
        assert (item.body, item.status) == (None, "cancelled")  # withdrawn, as the sender does at send time
    for method in ("GET", "DELETE"):
        assert api._call(method, f"/producers/{made['id']}")[0] == 404
    assert api.patch(f"/producers/{made['id']}", {"name": "Awa"})[0] == 404
    assert api.get("/producers")[1]["items"] == []
    status, again = api.post("/producers", {"phone": "+221 77 123 45 67", "name": "Awa Ndiaye"})
    assert status == 201 and again["id"] != made["id"]


# --- the message log --------------------------------------------------------------------------------------

@pytest.fixture
def log(api, db, coop) -> dict:
    """Four logged messages a minute apart (oldest first), two of them linked to a producer."""
    awa = api.post("/producers", {"phone": PHONE, "name": "Awa"})[1]
    start = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    rows = [("in", "whatsapp", PHONE, awa["id"], "yaourt 40", "received", None),
            ("out", "whatsapp", PHONE, awa["id"], "40 pots notés", "delivered", None),
            ("in", "sms", "+221780000001", None, "bonjour", "received", None),
            ("out", "sms", "+221780000001", None, "Pour rejoindre…", "failed", 21610)]
    with db.transaction() as session:
        for minute, (direction, channel, phone, producer_id, body, status, error) in enumerate(rows):
            at = start + timedelta(minutes=minute)
            session.add(Message(direction=direction, channel=channel, phone=phone, producer_id=producer_id,
                                body=body, status=status, error_code=error, created_at=at, updated_at=at))
    return {"awa": awa["id"]}


def test_it_lists_messages_newest_first(api, log):
    status, body = api.get("/messages")
    assert status == 200 and [m["body"] for m in body["items"]] == [
        "Pour rejoindre…", "bonjour", "40 pots notés", "yaourt 40"]
    newest = body["items"][0]
    assert newest["created_at"] == "2026-03-02T09:03:00+00:00"
    assert {key: newest[key] for key in ("direction", "phone", "channel", "status", "error_code", "producer_id")} \
        == {"direction": "out", "phone": "+221780000001", "channel": "sms", "status": "failed",
            "error_code": 21610, "producer_id": None}


@pytest.mark.parametrize("query, bodies", [
    ("?phone=77 123 45 67", ["40 pots notés", "yaourt 40"]),
    ("?phone=%2B221771234567&direction=in", ["yaourt 40"]),
    ("?direction=out", ["Pour rejoindre…", "40 pots notés"]),
    ("?channel=sms&status=received", ["bonjour"]),
    ("?status=nothing", []),
    ("?limit=1", ["Pour rejoindre…"]),
    ("?limit=500&direction=", ["Pour rejoindre…", "bonjour", "40 pots notés", "yaourt 40"]),
])
def test_it_filters_messages(api, log, query, bodies):
    status, body = api.get(f"/messages{query}")
    assert status == 200 and [m["body"] for m in body["items"]] == bodies


def test_it_filters_messages_by_producer(api, log):
    status, body = api.get(f"/messages?producer_id={log['awa']}")
    assert status == 200 and [m["body"] for m in body["items"]] == ["40 pots notés", "yaourt 40"]


@pytest.mark.parametrize("query, field", [
    ("?direction=sideways", "direction"), ("?phone=123", "phone"), ("?phone=abc", "phone"),
    ("?channel=fax", "channel"), ("?limit=0", "limit"), ("?limit=501", "limit"), ("?limit=abc", "limit"),
    ("?limit=-5", "limit"), ("?producer_id=abc", "producer_id"), ("?producer_id=99999999999999999999", "producer_id"),
    ("?status=a%00", "status"),
])
def test_it_refuses_bad_message_filters(api, query, field):
    status, body = api.get(f"/messages{query}")
    assert (status, body["field"]) == (422, field), body


# --- no input makes the API fail ---------------------------------------------------------------------------

STRANGE = [None, True, False, 0, -1, 2**70, 1e308, 1.5, "", " ", "x" * 5000, "\x00", "\ud800", [], [None], {},
           {"fr": None}, "😀"]


@pytest.mark.parametrize("value", STRANGE, ids=repr)
@pytest.mark.parametrize("path, fields", [
    ("/cooperatives", {"name": "GIE", "region": None, "products": []}),
    ("/products", {"code": "savon_noir", "unit": "pot", "names": {"fr": "savon"}, "aliases": [],
                   "low_stock_threshold": 0}),
    ("/producers", {"phone": "78 000 00 01", "name": "Awa", "cooperative_id": 1, "language": "fr",
                    "channel": "sms", "products": []}),
])
def test_it_never_fails_on_strange_values(api, coop, path, fields, value):
    for field in fields:
        status, body = api.post(path, {**fields, field: value})
        assert status in (201, 409, 422), (field, status, body)
        assert "error" in body or "id" in body
