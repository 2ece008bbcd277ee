"""Every list pages: the API walked page by page over more rows than a page holds, bad `limit` and `after`
refused naming the field, and the dashboard's lists read a page at a time with links to the next one."""
from __future__ import annotations

import base64
import json
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from ovop.models import (Broadcast, Cooperative, Message, Order, PriceObservation, Producer, Product, Registration,
                         StockReport, Workshop)
from tests.test_dashboard import Staff, with_dashboard

MOMENT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ROWS = 7  # each list gets this many rows (more where the world adds some); pages of 3


def _world(session) -> dict:
    """Rows of every kind, several sharing the value a list sorts by first, so that the id breaks the tie."""
    products = [Product(code=f"p{n}", unit="pot", name_fr=f"produit {n}") for n in (4, 2, 6, 1, 3, 5, 0)]
    cooperatives = [Cooperative(name=f"GIE {n}", products=products[:2] if n < 2 else []) for n in (3, 1, 6, 0, 5, 2, 4)]
    session.add_all(products + cooperatives)
    session.flush()
    names = ["Awa", "Binta", "Awa", None, "Coumba", "Awa", "Adama"]  # ASCII: any collation sorts them alike
    producers = [Producer(phone=f"+2217700001{n:02d}", name=name, cooperative=cooperatives[0])
                 for n, name in enumerate(names)]
    session.add_all(producers)
    session.flush()
    workshop = Workshop(title_fr="Hygiène", starts_at=MOMENT + timedelta(days=30), location="Dakar", capacity=2)
    others = [Workshop(title_fr=f"Atelier {n}", starts_at=MOMENT + timedelta(days=n % 3), location="Thiès",
                       capacity=10) for n in range(ROWS - 1)]
    session.add_all([workshop, *others])
    session.flush()
    for n, producer in enumerate(producers):
        session.add(Registration(workshop_id=workshop.id, producer_id=producer.id,
                                 status="registered" if n < 2 else "waitlisted",
                                 created_at=MOMENT + timedelta(minutes=n % 2), queued_at=MOMENT + timedelta(minutes=n)))
    for n in range(ROWS):
        session.add(Message(direction="in" if n % 2 else "out", channel="sms", phone=producers[n].phone,
                            producer_id=producers[n].id, body=f"message {n}", status="received",
                            created_at=MOMENT + timedelta(seconds=n % 3)))
        session.add(Order(reference=f"CMD-{n + 1:04d}", cooperative_id=cooperatives[0].id, product_id=products[0].id,
                          quantity=10 + n, unit="pot", due_date=date(2026, 3, 10), status="pending"))
        session.add(PriceObservation(product_id=products[n % 2].id, price=500 + n, unit="pot", market="Dakar",
                                     observed_on=date(2026, 3, 1 + n % 3)))
        session.add(Broadcast(text_fr=f"annonce {n}", audience={}, send_at=MOMENT + timedelta(hours=n % 2)))
        session.add(StockReport(cooperative_id=cooperatives[n % 2].id, product_id=products[n % 3].id, quantity=n,
                                unit="pot", reported_at=MOMENT + timedelta(hours=n % 2), source="message"))
    session.flush()
    return {"workshop": workshop.id}


@pytest.fixture
def world(db):
    with db.transaction() as session:
        return _world(session)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


# (path, what identifies an item, the order the list promises, as a key to sort by)
LISTS = [
    ("/cooperatives", lambda item: item["id"], lambda item: (item["name"], item["id"])),
    ("/products", lambda item: item["id"], lambda item: (item["code"], item["id"])),
    ("/producers", lambda item: item["id"], lambda item: (item["name"] or "", item["id"])),
    ("/messages", lambda item: item["id"], lambda item: (-_at(item["created_at"]).timestamp(), -item["id"])),
    ("/orders", lambda item: item["id"], lambda item: -item["id"]),
    ("/workshops", lambda item: item["id"], lambda item: (_at(item["starts_at"]), item["id"])),
    ("/workshops/{workshop}/registrations", lambda item: item["id"],
     lambda item: (_at(item["created_at"]), item["id"])),
    ("/prices", lambda item: item["id"],
     lambda item: (-date.fromisoformat(item["observed_on"]).toordinal(), -item["id"])),
    ("/broadcasts", lambda item: item["id"], lambda item: (-_at(item["send_at"]).timestamp(), -item["id"])),
    ("/stock", lambda item: (item["cooperative_id"], item["product"]), None),
    ("/stock/history", lambda item: item["id"], lambda item: (-_at(item["reported_at"]).timestamp(), -item["id"])),
]


def _walk(api, path: str, limit: int) -> tuple[list, int]:
    """Every item of a list, page after page, and how many pages it took."""
    items, after, pages = [], None, 0
    while True:
        joiner = "&" if "?" in path else "?"
        status, body = api.get(f"{path}{joiner}limit={limit}" + (f"&after={after}" if after else ""))
        assert status == 200, body
        assert set(body) == {"items", "next"} and len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        after = body["next"]
        if after is None:
            return items, pages
        assert pages < 100, "the cursor never ends"


@pytest.mark.parametrize("path, identity, order", LISTS, ids=[path for path, _, _ in LISTS])
def test_every_list_walks_its_pages_each_row_once_in_order(api, world, path, identity, order):
    path = path.format(**world)
    everything = api.get(f"{path}?limit=500")[1]
    assert everything["next"] is None and len(everything["items"]) > 3
    walked, pages = _walk(api, path, 3)
    assert [identity(item) for item in walked] == [identity(item) for item in everything["items"]]
    assert len({identity(item) for item in walked}) == len(walked)  # no row twice
    assert pages == -(-len(walked) // 3)  # the last page says so: no empty page after it
    if order is not None:
        assert walked == sorted(walked, key=order)


def test_stock_levels_page_by_cooperative_then_product(api, db, world):
    walked, _ = _walk(api, "/stock", 2)
    with db.transaction() as session:
        codes = {product.id: product.code for product in session.query(Product)}
    ids = {code: product_id for product_id, code in codes.items()}
    keys = [(item["cooperative_id"], ids[item["product"]]) for item in walked]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_filters_still_narrow_each_page(api, world):
    walked, _ = _walk(api, "/messages?direction=in", 2)
    assert [item["body"] for item in walked] == ["message 5", "message 1", "message 3"]  # newest first
    stale, _ = _walk(api, "/stock?stale=true", 1)
    everything = api.get("/stock?stale=true&limit=500")[1]["items"]
    assert stale == everything and stale and all(item["stale"] for item in stale)


def _cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


BAD_LIMITS = ["0", "-1", "501", "abc", "1.5", "9" * 40, "１０"]
BAD_CURSORS = ["nope", "%25%25%25", _cursor({"a": 1}), _cursor([]), _cursor([1, 2, 3, 4]), _cursor([True, True]),
               _cursor([2**40, 1]), _cursor([1.5, 1]), "W" * 3000, _cursor([[1], {"x": 2}]),
               base64.urlsafe_b64encode(b"\xff\xfe").decode(), _cursor(["a\u0000", 1])]


@pytest.mark.parametrize("path", [path for path, _, _ in LISTS])
@pytest.mark.parametrize("limit", BAD_LIMITS)
def test_a_bad_limit_is_refused_naming_it(api, world, path, limit):
    status, body = api.get(f"{path.format(**world)}?limit={limit}")
    assert status in (400, 422) and body["field"] == "limit" and body["error"], body


@pytest.mark.parametrize("path", [path for path, _, _ in LISTS])
@pytest.mark.parametrize("after", BAD_CURSORS)
def test_a_bad_cursor_is_refused_naming_it(api, world, path, after):
    status, body = api.get(f"{path.format(**world)}?after={after}")
    assert status in (400, 422) and body["field"] == "after" and body["error"], body


@pytest.mark.parametrize("path, cursor", [
    ("/orders", _cursor(["2026-03-02T09:00:00+00:00", 1])),  # a message's cursor: orders page by id alone
    ("/messages", _cursor(["2026-13-45T09:00:00+00:00", 1])), ("/messages", _cursor(["2026-03-02T09:00:00", 1])),
    ("/prices", _cursor(["2026-03-02T09:00:00+00:00", 1])), ("/stock", _cursor(["GIE 1", 1])),
])
def test_a_cursor_that_does_not_fit_the_list_is_refused(api, world, path, cursor):
    """Wrong number of values, a moment that is no date or has no offset, a day given a time, text for an id."""
    status, body = api.get(f"{path}?after={cursor}")
    assert status == 422 and body["field"] == "after"


# --- the dashboard ----------------------------------------------------------------------------------------------

@pytest.fixture
def staff(app, world) -> Staff:
    signed = Staff(with_dashboard(app).test_client())
    assert signed.login().status_code == 302
    return signed


def _links(html: str) -> dict[str, str]:
    """The pager's links by rel (prev, next), as the browser would follow them."""
    return {rel: href.replace("&amp;", "&") for href, rel in re.findall(r'<a href="([^"]+)" rel="(prev|next)"', html)}


def _ids(html: str, pattern: str) -> list[str]:
    return re.findall(pattern, html)


@pytest.mark.parametrize("path, size, row", [
    ("/messages", 50, r'<td data-label="[^"]*" class="body">(message \d+|x\d+)</td>'),
    ("/producers", 50, r'href="/producers/(\d+)"'),
])
def test_the_dashboard_pages_messages_and_producers_through_the_database(db, staff, path, size, row):
    with db.transaction() as session:  # more than a page
        cooperative = session.query(Cooperative).first()
        session.add_all(Producer(phone=f"+22177100{n:04d}", name=f"Zz {n:03d}", cooperative=cooperative)
                        for n in range(size))
        session.add_all(Message(direction="in", channel="sms", phone="+221771000000", body=f"x{n}",
                                status="received", created_at=MOMENT - timedelta(days=1, seconds=n))
                        for n in range(size))
    first = staff.get(path)
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    shown = _ids(html, row)
    links = _links(html)
    assert len(shown) == size and "next" in links and "prev" not in links
    second = staff.get(links["next"])
    assert second.status_code == 200
    rest = _ids(second.get_data(as_text=True), row)
    assert rest and not set(rest) & set(shown)
    assert len(shown) + len(rest) == ROWS + size
    back = _links(second.get_data(as_text=True))
    assert "next" not in back and _ids(staff.get(back["prev"]).get_data(as_text=True), row) == shown


@pytest.mark.parametrize("path", ["/messages", "/producers", "/orders", "/workshops", "/workshops/{workshop}",
                                  "/broadcasts", "/prices", "/overview"])
@pytest.mark.parametrize("query", ["after=nope", "before=W10", "limit=0", "limit=abc", "limit=100000"])
def test_a_bad_page_link_shows_the_first_page_and_says_so(staff, world, path, query):
    response = staff.get(f"{path.format(**world)}?{query}")
    assert response.status_code == 200
    assert 'id="pager-refused"' in response.get_data(as_text=True)


def test_the_dashboard_keeps_the_filters_in_its_page_links(db, staff):
    with db.transaction() as session:
        session.add_all(Message(direction="out", channel="sms", phone="+221771000000", body=f"x{n}",
                                status="sent", created_at=MOMENT - timedelta(seconds=n)) for n in range(60))
    html = staff.get("/messages?direction=out").get_data(as_text=True)
    following = _links(html)["next"]
    assert "direction=out" in following
    second = staff.get(following).get_data(as_text=True)
    assert 'class="dir-in"' not in second


def test_the_overview_pages_its_levels_and_counts_them_all(db, staff):
    """Levels by cooperative name then product code, 100 a page; the counts above the table are of every level."""
    with db.transaction() as session:
        products = [Product(code=f"q{n:03d}", unit="pot", name_fr=f"q{n:03d}", low_stock_threshold=5)
                    for n in range(60)]
        session.add_all(products)
        session.add_all(Cooperative(name=f"Union {n}", products=products) for n in range(2))
    first = staff.get("/overview").get_data(as_text=True)
    rows = re.findall(r'<tr class="[^"]*">\s*<td class="lead">', first)
    assert len(rows) == 100 and "next" in _links(first)
    second = staff.get(_links(first)["next"]).get_data(as_text=True)
    assert len(re.findall(r'<tr class="[^"]*">\s*<td class="lead">', second)) == 8 + 120 - 100  # 8 levels in the world
    never = re.search(r'class="badge none">([^<]*)<', first).group(1)
    assert never == re.search(r'class="badge none">([^<]*)<', second).group(1) and "122" in never  # 2 in the world
