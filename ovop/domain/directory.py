"""Who and what the service knows: cooperatives, products and producers, and the message log.

The staff API, the dashboard and the CSV import all come through here, so each rule lives in one place.
Input is checked by the schemas of ovop.domain.schemas (strict: a string where a number is expected is refused,
never coerced); what needs the database (a name taken, a code unknown) is checked here. Refusals are coded
(ovop.core.errors). Functions take the caller's Session and never commit; after a refusal the object may be
half-changed, so the caller rolls back (or works in a savepoint per row, as an import does).
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from ovop.core import clock, keyset, phones
from ovop.core.errors import Duplicate, Invalid
from ovop.domain import schemas
from ovop.domain.schemas import CHANNELS, CODE, DIRECTIONS, LANGUAGES, MAX_ID  # noqa: F401  (read by callers)
from ovop.language.i18n import fold_gsm7
from ovop.models import (ConversationState, Cooperative, ImportJob, Message, MessageMedia, OutboxAttempt, OutboxItem,
                         Producer, Product, ProductAlias, StaffConversation)
from ovop.messaging import media as media_files
from ovop.messaging.notify import withdraw_all_to

MESSAGE_LIMIT = 100  # the message log's page when none is asked for


def is_id(value: Any) -> bool:
    """True when `value` could be a row id (so looking it up cannot overflow a column)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def product_by_code(session: Session, field: str, code: str) -> Product:
    """The product named by a (checked) code; an unknown code is refused."""
    found = session.scalar(select(Product).where(Product.code == code))
    if found is None:
        raise Invalid(field, "unknown_product", code=code[:40])
    return found


def products_by_code(session: Session, field: str, codes: list[str]) -> list[Product]:
    """The products named by a (checked) list of codes, in order, without repeats; unknown codes are refused."""
    wanted = list(dict.fromkeys(codes))
    found = {p.code: p for p in session.scalars(select(Product).where(Product.code.in_(wanted)))} if wanted else {}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise Invalid(field, "unknown_product", code=", ".join(unknown))
    return [found[code] for code in wanted]


def cooperative_by_id(session: Session, cooperative_id: int, field: str = "cooperative_id") -> Cooperative:
    """The cooperative a (checked) id names; an id that is not one is refused."""
    found = session.get(Cooperative, cooperative_id)
    if found is None:
        raise Invalid(field, "unknown_cooperative", id=cooperative_id)
    return found


# --- cooperatives -----------------------------------------------------------------------------------------

COOPERATIVE_KEYS = keyset.Order(keyset.asc(Cooperative.name, str), keyset.asc(Cooperative.id, int))


def cooperatives(session: Session, window: keyset.Window | None = None) -> list[Cooperative]:
    """Every cooperative, by name (one page of them with a `window`)."""
    return keyset.fetch(session, select(Cooperative), COOPERATIVE_KEYS, window)


def cooperative(session: Session, cooperative_id: Any) -> Cooperative | None:
    """The cooperative with that id, or None."""
    return session.get(Cooperative, cooperative_id) if is_id(cooperative_id) else None


def create_cooperative(session: Session, data: dict) -> Cooperative:
    """A new cooperative (schemas.NewCooperative): `name` unique, `region`, `products` [codes]."""
    fields = schemas.parse(schemas.NewCooperative, data).given()
    new = Cooperative(products=[])
    update_cooperative(session, new, fields)
    session.add(new)
    session.flush()
    return new


def update_cooperative(session: Session, cooperative: Cooperative, data: dict) -> Cooperative:
    """Change the fields given (schemas.CooperativeChanges); `products` replaces the whole list."""
    fields = schemas.parse(schemas.CooperativeChanges, data).given()
    if "name" in fields:
        taken = select(Cooperative.id).where(Cooperative.name == fields["name"])
        if cooperative.id is not None:
            taken = taken.where(Cooperative.id != cooperative.id)
        if session.scalar(taken) is not None:
            raise Duplicate("name", "name_taken", name=fields["name"])
        cooperative.name = fields["name"]
    if "region" in fields:
        cooperative.region = fields["region"]
    if "products" in fields:
        cooperative.products = products_by_code(session, "products", fields["products"])
    return cooperative


# --- products ---------------------------------------------------------------------------------------------

PRODUCT_KEYS = keyset.Order(keyset.asc(Product.code, str), keyset.asc(Product.id, int))


def products(session: Session, window: keyset.Window | None = None) -> list[Product]:
    """Every product, by code (one page of them with a `window`)."""
    return keyset.fetch(session, select(Product), PRODUCT_KEYS, window)


def product(session: Session, key: str | int) -> Product | None:
    """The product with that code, or with that id when `key` is a number."""
    if isinstance(key, str) and key.isascii() and key.isdigit():
        key = int(key)
    if isinstance(key, int):
        return session.get(Product, key) if is_id(key) else None
    return session.scalar(select(Product).where(Product.code == key))


def staff_aliases(product: Product) -> list[str]:
    """The aliases people chose (staff or demo data), as opposed to those the bot learnt."""
    return [alias.alias for alias in product.aliases if alias.source != "learnt"]


def learnt_aliases(product: Product) -> list[str]:
    """The aliases learnt from producers' confirmed answers."""
    return [alias.alias for alias in product.aliases if alias.source == "learnt"]


def create_product(session: Session, data: dict) -> Product:
    """A new product (schemas.NewProduct): `code`, `unit`, `names` {fr, wo, en}, `aliases`,
    `low_stock_threshold`."""
    fields = schemas.parse(schemas.NewProduct, data).given()
    if session.scalar(select(Product.id).where(Product.code == fields["code"])) is not None:
        raise Duplicate("code", "code_taken", code=fields["code"])
    new = Product(code=fields["code"], low_stock_threshold=0, aliases=[])
    _set_product(session, new, {"aliases": [], "low_stock_threshold": 0, **fields})
    session.add(new)
    session.flush()
    return new


def update_product(session: Session, product: Product, data: dict) -> Product:
    """Change the fields given (schemas.ProductChanges); `names` merges per language, `aliases` replaces the
    staff's list (learnt words stay); the code never changes."""
    fields = schemas.parse(schemas.ProductChanges, data).given()
    if "code" in fields and fields["code"] != product.code:
        raise Invalid("code", "code_fixed")
    return _set_product(session, product, fields)


def _set_product(session: Session, product: Product, fields: dict) -> Product:
    if "unit" in fields:
        product.unit = fields["unit"]
    if "names" in fields:
        for lang, name in fields["names"].given().items():
            setattr(product, f"name_{lang}", name)
    if "low_stock_threshold" in fields:
        product.low_stock_threshold = fields["low_stock_threshold"]
    if "aliases" in fields:
        _set_aliases(session, product, fields["aliases"])
    return product


def _set_aliases(session: Session, product: Product, words: list[str]) -> None:
    wanted: dict[str, str] = {}
    for word in words:
        wanted.setdefault(word.casefold(), word)
    # One word naming two products would make the bot guess: refuse it.
    others = select(ProductAlias.alias, Product.code).join(Product)
    if product.id is not None:
        others = others.where(ProductAlias.product_id != product.id)
    for alias, code in session.execute(others):
        if alias.casefold() in wanted:
            raise Duplicate("aliases", "alias_taken", alias=alias, product=code)
    for alias in list(product.aliases):
        word = wanted.pop(alias.alias.casefold(), None)
        if word is not None:  # kept (and a learnt word staff now list becomes theirs); updated in place
            alias.alias = word
            if alias.source == "learnt":
                alias.source = "staff"
        elif alias.source != "learnt":
            product.aliases.remove(alias)
    product.aliases.extend(ProductAlias(alias=word, source="staff") for word in wanted.values())


# --- producers --------------------------------------------------------------------------------------------

# A producer without a name sorts as an empty name, the same on SQLite and PostgreSQL (NULLs sort apart there).
PRODUCER_KEYS = keyset.Order(keyset.asc(func.coalesce(Producer.name, ""), str), keyset.asc(Producer.id, int))


def producers(session: Session, *, cooperative_id: int | None = None, q: str | None = None,
              window: keyset.Window | None = None) -> list[Producer]:
    """Producers not erased, by name; `q` searches names and phone numbers however they are written; one page
    of them with a `window`."""
    query = select(Producer).where(Producer.deleted_at.is_(None))
    if cooperative_id is not None:
        query = query.where(Producer.cooperative_id == cooperative_id)
    if q:  # checked by schemas.ProducerQuery
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches = [Producer.name.ilike(f"%{escaped}%", escape="\\")]
        digits = re.sub(r"\D", "", q).lstrip("0")  # "00221 77…" and "77 12…" both look for their digits
        if digits:
            matches.append(Producer.phone.like(f"%{digits}%"))
        try:
            matches.append(Producer.phone == phones.to_e164(q))
        except phones.InvalidPhone:
            pass
        query = query.where(or_(*matches))
    return keyset.fetch(session, query, PRODUCER_KEYS, window)


def producer(session: Session, producer_id: Any) -> Producer | None:
    """The producer with that id, or None when there is none or they were erased."""
    found = session.get(Producer, producer_id) if is_id(producer_id) else None
    return found if found is not None and found.deleted_at is None else None


def has_real_producers(session: Session, cooperative_id: int | None, *, besides: int | None = None) -> bool:
    """True when the cooperative has a producer who is not a sandbox producer (nor erased), `besides` apart."""
    if cooperative_id is None:
        return False
    query = select(Producer.id).where(Producer.cooperative_id == cooperative_id, Producer.sandbox.is_(False),
                                      Producer.deleted_at.is_(None))
    if besides is not None:
        query = query.where(Producer.id != besides)
    return session.scalar(query.limit(1)) is not None


def create_producer(session: Session, data: dict) -> Producer:
    """A new producer (schemas.NewProducer); without `products` they make what their cooperative makes.

    `sandbox` (default false) makes a producer for trying the service in the phone simulator; it is chosen at
    creation and never changed afterwards.
    """
    fields = schemas.parse(schemas.NewProducer, data).given()
    new = Producer(language="fr", channel="whatsapp", opted_out=False, products=[],
                   sandbox=fields.pop("sandbox", False))
    with session.no_autoflush:  # the half-built producer joins the session only once it is valid
        update_producer(session, new, fields)
        if "products" not in fields and new.cooperative is not None:
            new.products = list(new.cooperative.products)
    session.add(new)
    session.flush()
    return new


def update_producer(session: Session, producer: Producer, data: dict) -> Producer:
    """Change the fields given (schemas.ProducerChanges); `products` replaces the whole list."""
    fields = schemas.parse(schemas.ProducerChanges, data).given()
    if "phone" in fields:
        taken = select(Producer.id).where(Producer.phone == fields["phone"], Producer.deleted_at.is_(None))
        if producer.id is not None:
            taken = taken.where(Producer.id != producer.id)
        if session.scalar(taken) is not None:
            raise Duplicate("phone", "phone_taken", phone=fields["phone"])
        producer.phone = fields["phone"]
    if "name" in fields:
        producer.name = fields["name"]
    if "cooperative_id" in fields:
        producer.cooperative = (None if fields["cooperative_id"] is None
                                else cooperative_by_id(session, fields["cooperative_id"]))
    for name in ("language", "channel"):
        if name in fields:
            setattr(producer, name, fields[name])
    if "products" in fields:
        producer.products = products_by_code(session, "products", fields["products"])
    if "sandbox" in fields and fields["sandbox"] != bool(producer.sandbox):
        raise Invalid("sandbox", "sandbox_fixed")
    cooperative = producer.cooperative
    if producer.sandbox and cooperative is not None and has_real_producers(session, cooperative.id,
                                                                           besides=producer.id):
        raise Invalid("sandbox", "sandbox_with_real")
    return producer


ERASED = "effacé"


def erase_producer(session: Session, producer: Producer, media_dir: str | None = None) -> None:
    """Forget who a producer was: name, number, what they wrote and were sent; their id stays, anonymous.

    Staff alerts about them ("… acceptée par <name> (<phone>)") are rewritten in the outbox and the message log,
    and their number leaves the outbox rows sent to them. Their photos and voice notes are deleted from
    `media_dir` (MEDIA_DIR) and their rows keep no path nor address. Anonymous facts (stock lines, orders) stay.
    """
    number, name = producer.phone, producer.name
    theirs = Message.producer_id == producer.id
    if number:  # messages from before they were registered carry only the number
        theirs = or_(theirs, Message.phone == number)
    _erase_media(session, theirs, media_dir)
    # Nobody can answer them any more: their staff conversation leaves the inbox.
    session.execute(update(StaffConversation)
                    .where(StaffConversation.producer_id == producer.id, StaffConversation.status == "open")
                    .values(status="closed", closed_at=clock.now(), closed_by="erasure", unread=0)
                    .execution_options(synchronize_session=False))
    session.execute(update(Message).where(theirs).values(body=None, phone=None, reply_twiml=None,
                                                         latitude=None, longitude=None)
                    .execution_options(synchronize_session=False))
    conversation = ConversationState.producer_id == producer.id
    if number:
        conversation = or_(conversation, ConversationState.phone == number)
    session.execute(delete(ConversationState).where(conversation).execution_options(synchronize_session=False))
    queued = OutboxItem.producer_id == producer.id
    if number:
        queued = or_(queued, OutboxItem.recipient == number)
    queued_ids = list(session.scalars(select(OutboxItem.id).where(queued)))
    # Nothing still waiting may reach them; then their number and the texts leave the rows sent to them.
    withdraw_all_to(session, producer.id, number, "recipient erased")
    _scrub_staff_alerts(session, producer.id, number, name, queued_ids)
    _forget_imports(session, number, name)
    session.execute(update(OutboxItem).where(OutboxItem.id.in_(queued_ids))
                    .values(body=None, content_variables=None, recipient="")
                    .execution_options(synchronize_session=False))
    producer.name = None
    producer.phone = None
    producer.deleted_at = clock.now()
    session.flush()


def _erase_media(session: Session, theirs, media_dir: str | None) -> None:
    """Delete the files of the producer's media and forget where they were (a pending one is never fetched)."""
    of_theirs = MessageMedia.message_id.in_(select(Message.id).where(theirs))
    paths = list(session.scalars(select(MessageMedia.path).where(of_theirs, MessageMedia.path.is_not(None))))
    session.execute(update(MessageMedia).where(of_theirs)
                    .values(path=None, source_url=None, size=None, status="erased")
                    .execution_options(synchronize_session=False))
    if media_dir and paths:
        media_files.discard(media_dir, paths)


def _forget_imports(session: Session, number: str | None, name: str | None) -> None:
    """CSV imports keep their file until done and their report for a day: a job whose file or report holds
    the producer's number (in any spacing) or name is deleted."""
    national = re.sub(r"\D", "", number or "")[-9:]
    for job in session.scalars(select(ImportJob)):
        lines = [(job.content or b"").decode("utf-8", "replace")]
        for line in (job.reports or "").splitlines():
            try:
                lines.append(" ".join(map(str, json.loads(line))))
            except ValueError:
                lines.append(line)
        text = "\n".join(lines)
        if (national and national in re.sub(r"[^\d\n]", "", text)) or (name and name in text):
            session.delete(job)


def _scrub_staff_alerts(session: Session, producer_id: int, number: str | None, name: str | None,
                        queued_ids: list[int]) -> None:
    """Replace the producer's name and number in the alerts sent to staff about them, and in provider errors."""
    replacements: list[tuple[str, str]] = []
    for written in dict.fromkeys(filter(None, (name, fold_gsm7(name) if name else None))):
        replacements.append((written, f"producteur n°{producer_id}"))
    if number:
        replacements += [(number, ERASED), (number.lstrip("+"), ERASED)]
    if not replacements:
        return

    def scrubbed(column):
        for old, new in replacements:
            column = func.replace(column, old, new)
        return column

    mentions = OutboxItem.about_producer_id == producer_id
    # Alerts queued before alerts remembered whom they were about: found by the number they carry.
    if number:
        mentions = or_(mentions, OutboxItem.producer_id.is_(None) & OutboxItem.body.contains(number, autoescape=True))
    alert_ids = select(OutboxItem.id).where(mentions).scalar_subquery()
    session.execute(update(OutboxItem).where(OutboxItem.id.in_(alert_ids))
                    .values(body=scrubbed(OutboxItem.body)).execution_options(synchronize_session=False))
    session.execute(update(Message).where(Message.outbox_item_id.in_(alert_ids))
                    .values(body=scrubbed(Message.body)).execution_options(synchronize_session=False))
    if number:
        session.execute(update(OutboxItem).where(OutboxItem.id.in_(queued_ids))
                        .values(last_error=scrubbed(OutboxItem.last_error))
                        .execution_options(synchronize_session=False))
        session.execute(update(OutboxAttempt).where(OutboxAttempt.outbox_item_id.in_(queued_ids))
                        .values(error=scrubbed(OutboxAttempt.error)).execution_options(synchronize_session=False))


# --- the message log --------------------------------------------------------------------------------------

MESSAGE_KEYS = keyset.Order(keyset.desc(Message.created_at, datetime), keyset.desc(Message.id, int))


def messages(session: Session, *, phone_number: str | None = None, direction: str | None = None,
             producer_id: int | None = None, status: str | None = None, channel: str | None = None,
             window: keyset.Window | None = None) -> list[Message]:
    """The message log, newest first, filtered by whatever is given (checked by schemas.MessageQuery): one page
    (the newest MESSAGE_LIMIT without a `window`), with their media."""
    query = select(Message).options(selectinload(Message.media))
    if phone_number:
        query = query.where(Message.phone == phone_number)
    if direction:
        query = query.where(Message.direction == direction)
    if producer_id is not None:
        query = query.where(Message.producer_id == producer_id)
    if status:
        query = query.where(Message.status == status)
    if channel:
        query = query.where(Message.channel == channel)
    return keyset.fetch(session, query, MESSAGE_KEYS, window or keyset.Window(MESSAGE_LIMIT))
