"""Golden conversation transcripts: messages in, replies, outgoing messages and rows out, through the real
webhook path and the staff API.

A transcript file under tests/transcripts/ reads like the conversation it checks. It starts with the people in it:

    # producer Binta: language=fr channel=sms products=yaourt     one producer of the cooperative under test
    # producer Awa: language=wo channel=whatsapp                   another one (products: yaourt unless said)
    # staff: +221770009999                                         the boutique's staff phone (STAFF_PHONES)
    # templates: {"order_alert": {"fr": "HX…"}}                     TWILIO_TEMPLATES (none unless said)

(`# producer: language=fr …` without a name is one producer called Test.) Every producer belongs to the same
cooperative, which makes their products; they are created in that order, so the first has id 1 and the phone
+221775550101, the second id 2 and +221775550102 (or `phone=…`). The catalogue is the demo one, without its
workshops. The clock starts on Wednesday 2 December 2026 at 10:00 in Dakar (UTC+0). Then, one line each:

    > stock                                  a message from the producer who wrote last (the first one at first)
    > Awa: waaw                              a message from Awa
    > Awa: [order:1:r1:accept] Waaw          Awa taps a WhatsApp button or list item: ButtonPayload in brackets,
                                            then the label (ButtonText, and the Body Twilio fills with it)
    < Quel produit ? 1) savon 2) yaourt      the exact reply to the last message (one `<` per reply)
    | 2 Commandes                            a further line of the same reply
    = stock ASK_PRODUCT                      the flow and step of the last writer afterwards ("= -" when none)
    = Awa: orders CHOOSE_ORDER               … of Awa
    @ +11                                    the clock moves on by 11 minutes (also +2h, +1d)
    @ 2026-12-08 09:00                       the clock is set to that moment, Dakar time

What the boutique does (through the staff API, as the dashboard would) and what the scheduler runs:

    ! order CMD-0001 yaourt 40 for 2026-12-07       an order to the cooperative; it must get that reference
    ! cancel CMD-0001 | ! deliver CMD-0001          the boutique cancels it, or marks it delivered
    ! workshop "Vendre en boutique" wo "Jaay ci butig" on 2026-12-09 10:00 at "Boutique OVOP, Dakar" seats 1
                                                    a workshop (also: en "…", deadline 2026-12-07 18:00)
    ! job order-followups                           a scheduled job runs at the transcript's clock

What must be true afterwards:

    $ outbox Awa order_alert whatsapp order-alert:order=1:producer=2
    | Komand OVOP CMD-0001: soow 40 pot, …    a message the service queued for Awa (or `staff`, or a phone
                                            number): its kind, and if written its channel, its dedupe key and
                                            its text (the `|` lines). Every queued message must be written
                                            in the transcript before the next message, action or the end:
                                            anything else queued fails the transcript.
    $ outbox Awa order_alert whatsapp HXalertwo {{6}}=order:1:r1:accept
                                            … sent as that template (ContentSid), with those variables
    $ outbox staff staff_low_stock sms low-stock:report=2:to=+221770009999 cancelled
                                            with a status (pending, cancelled, sent, undeliverable): the row,
                                            written out before or not, is in that status now
    $ outbox -                              nothing more was queued
    $ order CMD-0001 accepted Binta 40      the order's status, and who took it for how much
    $ answer CMD-0001 Awa too_late          a producer's answer to an order (`-`: none yet), its quantity if written
    $ registration Awa "Vendre en boutique" waitlisted 1     a producer's place (`-`: none), 1st on the waitlist
    $ stock yaourt 40                       the current stock level of a product (`-`: none)
    $ reports 4                             how many ledger lines the producers' messages wrote
    $ alias yaourt yogur                    an alias the bot has learnt
    $ language wo | $ opted_out yes         the last writer's settings (`$ opted_out Awa yes`: Awa's)

Lines starting with `#` after the header are comments.
"""
from __future__ import annotations

import itertools
import json
import shlex
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from ovop.core import clock
from ovop.domain import stock as ledger
from ovop.domain import workshops
from ovop.domain.demo import DEMO_FILE, load
from ovop.jobs.jobs import registry
from ovop.models import (ConversationState, Cooperative, Order, OrderNotification, OutboxItem, Producer,
                         Product, ProductAlias, Registration, StockReport, Workshop)
from tests.helpers import inbound_form

pytestmark = pytest.mark.clock  # reads dates or times of day: .ci/run also runs it at other hours

TRANSCRIPTS = sorted((Path(__file__).parent / "transcripts").glob("*.txt"))
PHONE = "+221775550101"  # the first producer's; the next ones follow (+221775550102, …)
START = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)  # a Wednesday, 10:00 in Dakar
DAKAR = ZoneInfo("Africa/Dakar")


@dataclass
class Person:
    name: str
    phone: str
    language: str
    channel: str
    products: list[str]


@dataclass
class Line:
    number: int
    text: str
    more: list[str]  # the `|` lines that continue it

    @property
    def full(self) -> str:
        return "\n".join([self.text[2:], *(line[2:] for line in self.more)])


def _read(path: Path) -> tuple[list[Person], list[str], list[Line]]:
    """The people declared at the top, the staff phones, and the lines of the conversation."""
    raw = [(n, line.rstrip()) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
           if line.strip()]
    people, staff = [], []
    while raw and raw[0][1].startswith(("# producer", "# staff:", "# templates:")):
        head, _, rest = raw.pop(0)[1][2:].partition(":")
        if head == "templates":  # read by _templates
            continue
        if head == "staff":
            staff += rest.split()
            continue
        name = head.removeprefix("producer").strip() or "Test"
        settings = dict(part.split("=", 1) for part in rest.split())
        people.append(Person(name, settings.get("phone", f"{PHONE[:-1]}{len(people) + 1}"),
                             settings.get("language", "fr"), settings.get("channel", "sms"),
                             settings.get("products", "yaourt").split(",")))
    lines: list[Line] = []
    for number, text in raw:
        if text.startswith("#"):
            continue
        if text.startswith("|"):
            assert lines, f"{path.name}:{number}: a `|` line continues nothing"
            lines[-1].more.append(text)
        else:
            lines.append(Line(number, text, []))
    return people, staff, lines


def _templates(path: Path) -> dict:
    """The TWILIO_TEMPLATES a transcript declares in its header (`# templates: {…}`), else none."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# templates:"):
            return json.loads(line.partition(":")[2])
    return {}


def _setup(db, people: list[Person], folder: Path) -> None:
    """The demo catalogue (products, aliases, prices), one cooperative and its producers; no demo workshop."""
    demo = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    catalogue = folder / "catalogue.json"
    catalogue.write_text(json.dumps({"products": demo["products"], "cooperatives": [], "prices": demo["prices"]}),
                         encoding="utf-8")
    with db.transaction() as session, clock.frozen_at(START):
        load(session, catalogue)
        codes = list(dict.fromkeys(code for person in people for code in person.products))
        made = {code: session.scalar(select(Product).where(Product.code == code)) for code in codes}
        cooperative = Cooperative(name="Coopérative du test", region="Thiès", products=list(made.values()))
        for person in people:
            session.add(Producer(phone=person.phone, name=person.name, language=person.language,
                                 channel=person.channel, cooperative=cooperative,
                                 products=[made[code] for code in person.products]))
            session.flush()  # ids in the order of the header


class Transcript:
    """One transcript being played: who wrote last, the clock, the replies awaited, the outbox rows seen."""

    def __init__(self, path: Path, app, client, api, db, people: list[Person], staff: list[str]):
        self.path, self.app, self.client, self.api, self.db = path, app, client, api, db
        self.people = {person.name: person for person in people}
        self.staff = staff
        self.writer = people[0]
        self.now = START
        self.sids = (f"SM{path.stem}{n}" for n in itertools.count())
        self.expected: list[str] = []
        self.got: list[str] | None = None
        self.sent = Line(0, "", [])
        self.seen: set[int] = set()  # outbox rows the transcript has written out

    def fail(self, line: Line, why: str) -> str:
        return f"{self.path.name}:{line.number}: {line.text!r}: {why}"

    def play(self, lines: list[Line]) -> None:
        for line in lines:
            if line.text.startswith("<"):
                self.expected.append(line.full)
                continue
            self.settle_replies()
            kind = line.text[0]
            if kind in ">!":
                self.settle_outbox(line)
            if kind == ">":
                self.say(line)
            elif kind == "!":
                with clock.frozen_at(self.now, all_threads=True):
                    self.act(line)
            elif kind == "=":
                self.state(line)
            elif kind == "$":
                with clock.frozen_at(self.now, all_threads=True):
                    self.check(line)
            elif kind == "@":
                self.move_clock(line)
            else:
                raise AssertionError(self.fail(line, "cannot read this line"))
        self.settle_replies()
        self.settle_outbox(Line(0, "(end)", []))

    # --- messages and replies ----------------------------------------------------------------------------

    def say(self, line: Line) -> None:
        text = line.text[2:]
        name, colon, rest = text.partition(": ")
        if colon and name in self.people:
            self.writer, text = self.people[name], rest
        self.sent = line
        payload = None
        if text.startswith("[") and "]" in text:  # a tap: [payload] label
            payload, _, text = text[1:].partition("]")
            text = text.strip()
        form = inbound_form(self.writer.phone, text, next(self.sids), self.writer.channel)
        if payload is not None:
            form.update(ButtonPayload=payload, ButtonText=text)
        with clock.frozen_at(self.now, all_threads=True):
            response = self.client.post("/twilio/inbound", data=form)
        assert response.status_code == 200, self.fail(line, f"HTTP {response.status_code}")
        self.got = [message.text or "" for message in ElementTree.fromstring(response.get_data()).iter("Message")]

    def settle_replies(self) -> None:
        """The replies to the last message end where the next instruction starts: compare them."""
        if self.got is not None:
            assert self.got == self.expected, self.fail(self.sent, "the replies differ")
        self.got, self.expected = None, []

    def state(self, line: Line) -> None:
        who, text = self.who(line.text[2:].strip())
        with self.db.transaction() as session:
            state = session.scalar(select(ConversationState).where(ConversationState.phone == who.phone))
            found = f"{state.flow} {state.step}" if state and state.flow else "-"
        assert found == text, self.fail(line, f"{who.name} is at {found!r}")

    def who(self, text: str) -> tuple[Person, str]:
        """`Awa: rest` → (Awa, rest); otherwise (the last writer, text)."""
        name, colon, rest = text.partition(": ")
        return (self.people[name], rest.strip()) if colon and name in self.people else (self.writer, text)

    def move_clock(self, line: Line) -> None:
        value = line.text[1:].strip()
        if value.startswith("+"):
            units = {"d": "days", "h": "hours"}
            amount, unit = (value[1:-1], units[value[-1]]) if value[-1] in units else (value[1:], "minutes")
            self.now += timedelta(**{unit: int(amount)})
        else:
            self.now = datetime.fromisoformat(value).replace(tzinfo=DAKAR).astimezone(timezone.utc)

    # --- what the boutique and the scheduler do ----------------------------------------------------------

    def act(self, line: Line) -> None:
        what, *args = shlex.split(line.text[1:])
        if what == "order":  # order CMD-0001 yaourt 40 for 2026-12-07
            reference, product, quantity, _for, due = args
            with self.db.transaction() as session:
                cooperative_id = session.scalar(select(Cooperative.id))
            status, body = self.api.post("/orders", {"cooperative_id": cooperative_id, "product": product,
                                                     "quantity": float(quantity), "due_date": due})
            assert status == 201, self.fail(line, body)
            assert body["reference"] == reference, self.fail(line, f"the order is {body['reference']}")
        elif what in ("cancel", "deliver"):
            path = {"cancel": "cancel", "deliver": "delivered"}[what]
            status, body = self.api.post(f"/orders/{self.order_id(args[0])}/{path}")
            assert status == 200, self.fail(line, body)
        elif what == "workshop":
            status, body = self.api.post("/workshops", self.workshop(args))
            assert status == 201, self.fail(line, body)
        elif what == "job":
            registry()[args[0]].run(self.db, self.app.config, self.now)
        else:
            raise AssertionError(self.fail(line, "no such action"))

    def workshop(self, args: list[str]) -> dict:
        """`"Vendre en boutique" wo "Jaay ci butig" on 2026-12-09 10:00 at "Boutique OVOP, Dakar" seats 1`."""
        title, words = {"fr": args[0]}, iter(args[1:])
        body = {"title": title}
        for word in words:
            if word in ("wo", "en"):
                title[word] = next(words)
            elif word in ("on", "deadline"):
                moment = datetime.fromisoformat(f"{next(words)} {next(words)}").replace(tzinfo=DAKAR)
                body["starts_at" if word == "on" else "registration_deadline"] = moment.isoformat()
            elif word == "at":
                body["location"] = next(words)
            elif word == "seats":
                body["capacity"] = int(next(words))
            else:
                raise AssertionError(f"workshop: cannot read {word!r}")
        return body

    def order_id(self, reference: str) -> int:
        with self.db.transaction() as session:
            found = session.scalar(select(Order.id).where(Order.reference == reference))
        assert found is not None, f"no order {reference}"
        return found

    # --- what must be true -------------------------------------------------------------------------------

    def check(self, line: Line) -> None:
        text = line.text[1:]
        what, *args = shlex.split(text) if '"' in text else text.split()  # "a workshop title" is one word
        with self.db.transaction() as session:
            if what == "outbox":
                self.check_outbox(session, line, args)
            elif what == "order":  # order CMD-0001 accepted Binta 40
                order = session.scalar(select(Order).where(Order.reference == args[0]))
                found = [order.status]
                if len(args) > 2:
                    taker = order.accepted_by.name if order.accepted_by else "-"
                    found += [taker, _number(order.accepted_quantity)]
                assert found == args[1:], self.fail(line, f"it is {' '.join(found)}")
            elif what == "answer":  # answer CMD-0001 Awa too_late
                order = session.scalar(select(Order).where(Order.reference == args[0]))
                person = self.people[args[1]]
                note = session.scalar(select(OrderNotification).join(Producer).where(
                    OrderNotification.order_id == order.id, Producer.phone == person.phone))
                found = [note.answer or "-" if note else "-"]
                if len(args) > 3:
                    found.append(_number(note.quantity))
                assert found == args[2:], self.fail(line, f"{person.name} answered {' '.join(found)}")
            elif what == "registration":  # registration Awa "Vendre en boutique" waitlisted 1
                producer = self.producer(session, self.people[args[0]])
                registration = session.scalar(select(Registration).join(Workshop).where(
                    Registration.producer_id == producer.id, Workshop.title_fr == args[1]))
                found = [registration.status if registration else "-"]
                if registration is not None and registration.status == workshops.WAITLISTED:
                    found.append(str(workshops.position(session, registration)))
                assert found == args[2:], self.fail(line, f"it is {' '.join(found)}")
            elif what == "stock":
                producer = self.producer(session, self.writer)
                product = session.scalar(select(Product).where(Product.code == args[0]))
                level = ledger.level(session, producer.cooperative_id, product.id)
                assert (level.quantity if level else None) == (None if args[1] == "-" else float(args[1])), \
                    self.fail(line, f"the level is {level.quantity if level else None}")
            elif what == "alias":
                product = session.scalar(select(Product).where(Product.code == args[0]))
                aliases = session.scalars(select(ProductAlias.alias)
                                          .where(ProductAlias.product_id == product.id)).all()
                assert " ".join(args[1:]) in aliases, self.fail(line, f"aliases: {aliases}")
            elif what == "reports":  # how many ledger lines the producers' messages wrote: nothing more
                count = session.scalar(select(func.count()).select_from(StockReport)
                                       .where(StockReport.producer_id.is_not(None)))
                assert count == int(args[0]), self.fail(line, f"{count} lines")
            elif what in ("language", "opted_out"):
                person, value = (self.people[args[0]], args[1]) if len(args) > 1 else (self.writer, args[0])
                producer = self.producer(session, person)
                found = producer.language if what == "language" else ("yes" if producer.opted_out else "no")
                assert found == value, self.fail(line, f"{person.name}: {found}")
            else:
                raise AssertionError(self.fail(line, "no such check"))

    def producer(self, session, person: Person) -> Producer:
        return session.scalar(select(Producer).where(Producer.phone == person.phone))

    def unseen(self, session) -> list[OutboxItem]:
        rows = session.scalars(select(OutboxItem).order_by(OutboxItem.id))
        return [row for row in rows if row.id not in self.seen]

    def check_outbox(self, session, line: Line, args: list[str]) -> None:
        """`outbox Awa order_alert [whatsapp] [dedupe key]` and its text on `|` lines; `outbox -`: nothing more."""
        unseen = self.unseen(session)
        if args == ["-"]:
            assert not unseen, self.fail(line, f"queued: {_rows(unseen)}")
            return
        who, kind, *rest = args
        recipient = self.staff[0] if who == "staff" else self.people[who].phone if who in self.people else who
        channel = next((word for word in rest if word in ("sms", "whatsapp")), None)
        template = next((word for word in rest if word.startswith("HX")), None)
        variables = dict(word[2:].split("}}=", 1) for word in rest if word.startswith("{{") and "}}=" in word)
        key = next((word for word in rest if ":" in word and not word.startswith("{{")), None)
        status = next((word for word in rest if word in OUTBOX_STATUSES), None)
        body = "\n".join(more[2:] for more in line.more) if line.more else None
        # With a status, a row written out earlier may be checked again (`… cancelled` once it was withdrawn).
        rows = unseen if status is None else list(session.scalars(select(OutboxItem).order_by(OutboxItem.id)))
        for row in rows:
            if (row.recipient, row.kind) == (recipient, kind) and channel in (None, row.channel) \
                    and key in (None, row.dedupe_key) and body in (None, row.body) \
                    and status in (None, row.status) and template in (None, row.content_sid) \
                    and variables.items() <= (row.content_variables or {}).items():
                self.seen.add(row.id)
                return
        raise AssertionError(self.fail(line, f"not queued; queued: {_rows(unseen)}"))

    def settle_outbox(self, line: Line) -> None:
        """Before the next message or action (or the end), every message queued must have been written out."""
        with self.db.transaction() as session:
            unseen = self.unseen(session)
            assert not unseen, f"{self.path.name}:{line.number}: queued but not in the transcript: {_rows(unseen)}"


OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "cancelled", "undeliverable")


def _number(quantity: float | None) -> str:
    return "-" if quantity is None else f"{quantity:g}"


def _rows(rows: list[OutboxItem]) -> str:
    return "; ".join(f"{row.recipient} {row.kind} {row.channel} {row.dedupe_key} {row.body!r}"
                     + (f" {row.content_sid} {row.content_variables}" if row.content_sid else "") for row in rows) \
        or "nothing"


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[path.stem for path in TRANSCRIPTS])
def test_transcript(app, client, api, db, path, tmp_path):
    people, staff, lines = _read(path)
    _setup(db, people, tmp_path)
    app.config["STAFF_PHONES"] = staff
    app.config["TWILIO_TEMPLATES"] = _templates(path)
    Transcript(path, app, client, api, db, people, staff).play(lines)
