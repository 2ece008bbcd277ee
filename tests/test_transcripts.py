"""Golden conversation transcripts: messages in, replies and state out, through the real webhook path.

A transcript file under tests/transcripts/ reads like the conversation it checks:

    # producer: language=fr channel=sms products=yaourt,savon
    > stock                                  a message from the producer
    < Quel produit ? 1) savon 2) yaourt      the exact reply (one `<` per reply)
    | 2 Commandes                            a further line of the same reply
    = stock ASK_PRODUCT                      the conversation's flow and step afterwards ("= -" when none)
    $ stock yaourt 40                        the current stock level of a product
    $ alias yaourt yogur                     an alias the bot has learnt
    $ language wo | $ opted_out yes          the producer's settings
    @ +11                                    the clock moves on by 11 minutes

Lines starting with `#` after the header are comments.
"""
from __future__ import annotations

import itertools
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ovop.core import clock
from ovop.domain import stock as ledger
from ovop.models import ConversationState, Producer, Product, ProductAlias, StockReport
from tests.helpers import inbound_form

pytestmark = pytest.mark.clock  # reads dates or times of day: .ci/run also runs it at other hours

TRANSCRIPTS = sorted((Path(__file__).parent / "transcripts").glob("*.txt"))
PHONE = "+221775550101"
START = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)


def _header(lines: list[str]) -> dict[str, str]:
    first = lines[0].removeprefix("# producer:").split()
    return dict(part.split("=", 1) for part in first)


def _setup(db, settings: dict[str, str]) -> None:
    from ovop.domain.demo import load
    from ovop.models import Cooperative
    codes = settings.get("products", "yaourt").split(",")
    with db.transaction() as session:
        load(session)
        products = [session.scalar(select(Product).where(Product.code == code)) for code in codes]
        cooperative = Cooperative(name="Coopérative du test", region="Thiès", products=products)
        session.add(Producer(phone=PHONE, name="Test", language=settings.get("language", "fr"),
                             channel=settings.get("channel", "sms"), cooperative=cooperative, products=products))


def _check(db, line: str) -> None:
    what, *args = line[1:].split()
    with db.transaction() as session:
        producer = session.scalar(select(Producer).where(Producer.phone == PHONE))
        if what == "stock":
            product = session.scalar(select(Product).where(Product.code == args[0]))
            level = ledger.level(session, producer.cooperative_id, product.id)
            assert (level.quantity if level else None) == (None if args[1] == "-" else float(args[1])), line
        elif what == "alias":
            product = session.scalar(select(Product).where(Product.code == args[0]))
            aliases = session.scalars(select(ProductAlias.alias).where(ProductAlias.product_id == product.id)).all()
            assert " ".join(args[1:]) in aliases, line
        elif what == "reports":  # how many ledger lines the producer's messages wrote: nothing more
            count = session.scalar(select(func.count()).select_from(StockReport)
                                   .where(StockReport.producer_id == producer.id))
            assert count == int(args[0]), f"{line}: {count} lines"
        elif what == "language":
            assert producer.language == args[0], line
        elif what == "opted_out":
            assert producer.opted_out is (args[0] == "yes"), line
        else:
            raise AssertionError(f"unknown check {line!r}")


def _state(db) -> str:
    with db.transaction() as session:
        state = session.scalar(select(ConversationState).where(ConversationState.phone == PHONE))
        return f"{state.flow} {state.step}" if state and state.flow else "-"


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[path.stem for path in TRANSCRIPTS])
def test_transcript(client, db, path):
    lines = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    settings = _header(lines)
    _setup(db, settings)
    channel = settings.get("channel", "sms")
    sids = (f"SM{path.stem}{n}" for n in itertools.count())
    now, expected, got, sent = START, [], None, None
    for line in lines[1:] + ["> (end)"]:
        if line.startswith("#"):
            continue
        if line.startswith("<"):
            expected.append(line[2:])
            continue
        if line.startswith("|"):  # the next line of a reply that spans several lines
            expected[-1] += "\n" + line[2:]
            continue
        if got is not None:  # a message was sent: its replies end where the next instruction starts
            assert got == expected, f"{path.name}: replies to {sent!r}"
            got, expected = None, []
        if line.startswith(">"):
            if line == "> (end)":
                break
            sent = line[2:]
            with clock.frozen_at(now, all_threads=True):
                response = client.post("/twilio/inbound", data=inbound_form(PHONE, sent, next(sids), channel))
            assert response.status_code == 200
            got = _replies(response)
        elif line.startswith("="):
            assert _state(db) == line[2:].strip(), f"{path.name}: state after {sent!r}"
        elif line.startswith("$"):
            _check(db, line)
        elif line.startswith("@"):
            now += timedelta(minutes=int(line[1:].strip().lstrip("+")))
        else:
            raise AssertionError(f"{path.name}: cannot read {line!r}")


def _replies(response) -> list[str]:
    """The replies of one answer, as the producer's phone shows them (one per <Message>)."""
    return [message.text or "" for message in ElementTree.fromstring(response.get_data()).iter("Message")]
