"""Who and what the service knows: cooperatives, products, producers and the message log, validated.

The staff API, the dashboard and the CSV import all come through here, so each rule lives in one place.
Functions take the caller's Session and never commit; after a refusal the object may be half-changed, so the
caller rolls back (or works in a savepoint per row, as an import would). Input is checked as strictly as JSON allows (a string
where a number is expected is refused, never coerced); a refusal names the field and the reason.
"""
from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Iterable

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from ovop.core import clock, phones
from ovop.language.i18n import fold_gsm7
from ovop.models import (ConversationState, Cooperative, ImportJob, Message, OutboxAttempt, OutboxItem, Producer, Product, ProductAlias)
from ovop.messaging.notify import withdraw_all_to

MAX_ID = 2**31 - 1  # ids and counts are INTEGER columns on PostgreSQL: nothing larger can be stored
LANGUAGES = ("fr", "wo", "en")
CHANNELS = ("whatsapp", "sms")
DIRECTIONS = ("in", "out")
# A code is a stable slug; starting with a letter keeps it apart from numeric ids in /products/{code-or-id}.
CODE = re.compile(r"[a-z][a-z0-9_]*")
MESSAGE_LIMIT, MAX_MESSAGE_LIMIT = 100, 1000


class DirectoryError(ValueError):
    """A refusal that names the culprit field and says why."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class Invalid(DirectoryError):
    """A value that breaks a rule (HTTP 422)."""


class Duplicate(DirectoryError):
    """A value that must be unique and is already taken (HTTP 409)."""


# --- checking values --------------------------------------------------------------------------------------

def known_fields(data: dict, writable: Iterable[str], read_only: Iterable[str] = ()) -> dict:
    """The writable fields of `data`; read-only ones are ignored (a GET answer may be sent back), others refused."""
    writable = tuple(writable)
    unknown = sorted(set(data) - set(writable) - set(read_only))
    if unknown:
        raise Invalid(unknown[0], f"unknown field (writable fields: {', '.join(writable)})")
    return {key: value for key, value in data.items() if key in writable}


def text(field: str, value: Any, max_len: int, *, required: bool = False) -> str | None:
    """Trimmed text with runs of whitespace made single; empty means None (or a refusal when required)."""
    if value is None:
        if required:
            raise Invalid(field, "is required")
        return None
    if not isinstance(value, str):
        raise Invalid(field, "must be a string")
    cleaned = " ".join(value.split())
    # NUL and lone surrogates would make the database driver fail: refuse them here, as bad input.
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in cleaned):
        raise Invalid(field, "must not contain control characters")
    if not cleaned:
        if required:
            raise Invalid(field, "must not be empty")
        return None
    if len(cleaned) > max_len:
        raise Invalid(field, f"must be at most {max_len} characters")
    return cleaned


def whole(field: str, value: Any, *, minimum: int = 0, maximum: int = MAX_ID) -> int:
    """A JSON integer within bounds; booleans, floats and numeric strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(field, "must be an integer")
    if not minimum <= value <= maximum:
        raise Invalid(field, f"must be between {minimum} and {maximum}")
    return value


def query_int(field: str, value: str | None, *, minimum: int = 1, maximum: int = MAX_ID) -> int | None:
    """An integer written in a query string, or None when absent."""
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit():
        raise Invalid(field, "must be a whole number")
    return whole(field, int(value), minimum=minimum, maximum=maximum)


def choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    """One of `choices`."""
    if value not in choices or not isinstance(value, str):
        raise Invalid(field, f"must be one of {', '.join(choices)}")
    return value


def phone(field: str, value: Any) -> str:
    """E.164 from any common writing of a number (Senegal when no country code is given)."""
    if value is None:
        raise Invalid(field, "is required")
    if not isinstance(value, str):
        raise Invalid(field, "must be a string, e.g. \"77 123 45 67\" or \"+221771234567\"")
    try:
        return phones.to_e164(value)
    except phones.InvalidPhone as exc:
        raise Invalid(field, str(exc)) from None


def is_id(value: Any) -> bool:
    """True when `value` could be a row id (so looking it up cannot overflow a column)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def product_by_code(session: Session, field: str, code: Any) -> Product:
    """The product named by one code (as the API and forms send it); a missing or unknown code is refused."""
    if not isinstance(code, str) or not code.strip():
        raise Invalid(field, "must be a product code, e.g. \"yaourt\"")
    found = session.scalar(select(Product).where(Product.code == code.strip().lower()))
    if found is None:
        raise Invalid(field, f"unknown product code '{code.strip()[:40]}'")
    return found


def products_by_code(session: Session, field: str, codes: Any) -> list[Product]:
    """The products named by a list of codes, in order, without repeats; unknown codes are refused."""
    if not isinstance(codes, list):
        raise Invalid(field, "must be a list of product codes")
    wanted: list[str] = []
    for code in codes:
        if not isinstance(code, str):
            raise Invalid(field, "must be a list of product codes (strings)")
        code = code.strip().lower()
        if code not in wanted:
            wanted.append(code)
    found = {p.code: p for p in session.scalars(select(Product).where(Product.code.in_(wanted)))} if wanted else {}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise Invalid(field, f"unknown product code(s): {', '.join(unknown)}")
    return [found[code] for code in wanted]


# --- cooperatives -----------------------------------------------------------------------------------------

def cooperatives(session: Session) -> list[Cooperative]:
    """Every cooperative, by name."""
    return list(session.scalars(select(Cooperative).order_by(Cooperative.name, Cooperative.id)))


def cooperative(session: Session, cooperative_id: Any) -> Cooperative | None:
    """The cooperative with that id, or None."""
    return session.get(Cooperative, cooperative_id) if is_id(cooperative_id) else None


def create_cooperative(session: Session, fields: dict) -> Cooperative:
    """A new cooperative from `name` (required, unique), `region` and `products` [codes]."""
    new = Cooperative(products=[])
    update_cooperative(session, new, {"name": None, **fields})
    session.add(new)
    session.flush()
    return new


def update_cooperative(session: Session, cooperative: Cooperative, fields: dict) -> Cooperative:
    """Change the fields given; `products` replaces the whole list."""
    if "name" in fields:
        name = text("name", fields["name"], 120, required=True)
        taken = select(Cooperative.id).where(Cooperative.name == name)
        if cooperative.id is not None:
            taken = taken.where(Cooperative.id != cooperative.id)
        if session.scalar(taken) is not None:
            raise Duplicate("name", f"a cooperative named '{name}' already exists")
        cooperative.name = name
    if "region" in fields:
        cooperative.region = text("region", fields["region"], 80)
    if "products" in fields:
        cooperative.products = products_by_code(session, "products", fields["products"])
    return cooperative


# --- products ---------------------------------------------------------------------------------------------

def products(session: Session) -> list[Product]:
    """Every product, by code."""
    return list(session.scalars(select(Product).order_by(Product.code)))


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


def create_product(session: Session, fields: dict) -> Product:
    """A new product from `code`, `unit`, `names` {fr, wo, en} (fr required), `aliases`, `low_stock_threshold`."""
    code = text("code", fields.get("code"), 40, required=True)
    if not CODE.fullmatch(code):
        raise Invalid("code", "must be lowercase letters, digits and underscores, starting with a letter")
    if session.scalar(select(Product.id).where(Product.code == code)) is not None:
        raise Duplicate("code", f"a product with code '{code}' already exists")
    new = Product(code=code, low_stock_threshold=0, aliases=[])
    defaults = {"unit": None, "names": {}}
    update_product(session, new, {**defaults, **{k: v for k, v in fields.items() if k != "code"}})
    session.add(new)
    session.flush()
    return new


def update_product(session: Session, product: Product, fields: dict) -> Product:
    """Change the fields given; `names` merges per language, `aliases` replaces the staff list (learnt stay)."""
    if "code" in fields and fields["code"] != product.code:
        raise Invalid("code", "cannot be changed (it is the product's stable name)")
    if "unit" in fields:
        product.unit = text("unit", fields["unit"], 20, required=True)
    if "names" in fields:
        _set_names(product, fields["names"])
    if "low_stock_threshold" in fields:
        product.low_stock_threshold = whole("low_stock_threshold", fields["low_stock_threshold"])
    if "aliases" in fields:
        _set_aliases(session, product, fields["aliases"])
    return product


def _set_names(product: Product, names: Any) -> None:
    if not isinstance(names, dict):
        raise Invalid("names", "must be an object such as {\"fr\": …, \"wo\": …, \"en\": …}")
    for lang in names:
        if lang not in LANGUAGES:
            raise Invalid("names", f"unknown language '{lang}' (use {', '.join(LANGUAGES)})")
    for lang in LANGUAGES:
        if lang in names or (lang == "fr" and product.name_fr is None):
            setattr(product, f"name_{lang}", text(f"names.{lang}", names.get(lang), 80, required=lang == "fr"))


def _set_aliases(session: Session, product: Product, words: Any) -> None:
    if not isinstance(words, list):
        raise Invalid("aliases", "must be a list of words")
    wanted: dict[str, str] = {}
    for word in words:
        word = text("aliases", word, 80, required=True)
        wanted.setdefault(word.casefold(), word)
    # One word naming two products would make the bot guess: refuse it.
    others = select(ProductAlias.alias, Product.code).join(Product)
    if product.id is not None:
        others = others.where(ProductAlias.product_id != product.id)
    for alias, code in session.execute(others):
        if alias.casefold() in wanted:
            raise Duplicate("aliases", f"'{alias}' is already an alias of product '{code}'")
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

def producers(session: Session, *, cooperative_id: int | None = None, q: str | None = None) -> list[Producer]:
    """Producers not erased, by name; `q` searches names and phone numbers however they are written."""
    query = select(Producer).where(Producer.deleted_at.is_(None))
    if cooperative_id is not None:
        query = query.where(Producer.cooperative_id == cooperative_id)
    q = text("q", q, 200)
    if q:
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
    return list(session.scalars(query.order_by(Producer.name, Producer.id)))


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


def create_producer(session: Session, fields: dict) -> Producer:
    """A new producer; without `products` they make what their cooperative makes.

    `sandbox` (a boolean, default false) makes a producer for trying the service in the phone simulator; it is
    chosen at creation and never changed afterwards.
    """
    new = Producer(language="fr", channel="whatsapp", opted_out=False, products=[], sandbox=False)
    if "sandbox" in fields:
        new.sandbox = flag("sandbox", fields["sandbox"])
    fields = {key: value for key, value in fields.items() if key != "sandbox"}
    with session.no_autoflush:  # the half-built producer joins the session only once it is valid
        update_producer(session, new, {"phone": None, **fields})
        if "products" not in fields and new.cooperative is not None:
            new.products = list(new.cooperative.products)
    session.add(new)
    session.flush()
    return new


def update_producer(session: Session, producer: Producer, fields: dict) -> Producer:
    """Change the fields given; `products` replaces the whole list."""
    if "phone" in fields:
        number = phone("phone", fields["phone"])
        taken = select(Producer.id).where(Producer.phone == number, Producer.deleted_at.is_(None))
        if producer.id is not None:
            taken = taken.where(Producer.id != producer.id)
        if session.scalar(taken) is not None:
            raise Duplicate("phone", f"another producer already has the number {number}")
        producer.phone = number
    if "name" in fields:
        producer.name = text("name", fields["name"], 120)
    if "cooperative_id" in fields:
        producer.cooperative = _cooperative_or_none(session, fields["cooperative_id"])
    if "language" in fields:
        producer.language = choice("language", fields["language"], LANGUAGES)
    if "channel" in fields:
        producer.channel = choice("channel", fields["channel"], CHANNELS)
    if "products" in fields:
        producer.products = products_by_code(session, "products", fields["products"])
    if "sandbox" in fields and flag("sandbox", fields["sandbox"]) != bool(producer.sandbox):
        raise Invalid("sandbox", "cannot be changed once the producer exists: a real producer's history would "
                                 "become sandbox data, or made-up data real; create a new producer instead")
    cooperative = producer.cooperative
    if producer.sandbox and cooperative is not None and has_real_producers(session, cooperative.id,
                                                                           besides=producer.id):
        raise Invalid("sandbox", "a sandbox producer cannot belong to a cooperative with real producers: their "
                                 "stock reports and order answers would count as the cooperative's; choose a "
                                 "cooperative of sandbox producers, or none")
    return producer


def flag(field: str, value: Any) -> bool:
    """A JSON boolean; "true", 1 and the like are refused."""
    if not isinstance(value, bool):
        raise Invalid(field, "must be true or false")
    return value


def require(fields: dict, names: Iterable[str]) -> None:
    """Refuse the first of `names` that the fields leave out (or give as null)."""
    for name in names:
        if fields.get(name) is None:
            raise Invalid(name, "is required")


def cooperative_by_id(session: Session, value: Any) -> Cooperative:
    """The cooperative a `cooperative_id` field names; an id that is not one is refused."""
    found = cooperative(session, whole("cooperative_id", value, minimum=1))
    if found is None:
        raise Invalid("cooperative_id", f"there is no cooperative with id {value}")
    return found


def _cooperative_or_none(session: Session, value: Any) -> Cooperative | None:
    return None if value is None else cooperative_by_id(session, value)


ERASED = "effacé"


def erase_producer(session: Session, producer: Producer) -> None:
    """Forget who a producer was: name, number, what they wrote and were sent; their id stays, anonymous.

    Staff alerts about them ("… acceptée par <name> (<phone>)") are rewritten in the outbox and the message log,
    and their number leaves the outbox rows sent to them. Anonymous facts (stock lines, orders) stay.
    """
    number, name = producer.phone, producer.name
    theirs = Message.producer_id == producer.id
    if number:  # messages from before they were registered carry only the number
        theirs = or_(theirs, Message.phone == number)
    session.execute(update(Message).where(theirs).values(body=None, phone=None, reply_twiml=None)
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

def messages(session: Session, *, phone_number: str | None = None, direction: str | None = None,
             producer_id: int | None = None, status: str | None = None, channel: str | None = None,
             limit: int | None = None) -> list[Message]:
    """The message log, newest first, filtered by whatever is given."""
    query = select(Message)
    if phone_number:
        query = query.where(Message.phone == phone("phone", phone_number))
    if direction:
        query = query.where(Message.direction == choice("direction", direction, DIRECTIONS))
    if producer_id is not None:
        query = query.where(Message.producer_id == whole("producer_id", producer_id, minimum=1))
    status = text("status", status, 20)
    if status:
        query = query.where(Message.status == status)
    if channel:
        query = query.where(Message.channel == choice("channel", channel, CHANNELS))
    limit = MESSAGE_LIMIT if limit is None else whole("limit", limit, minimum=1, maximum=MAX_MESSAGE_LIMIT)
    return list(session.scalars(query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)))
