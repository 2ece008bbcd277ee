"""What staff may send: one pydantic schema per kind of input, shared by the API, the dashboard and the CSV import.

Unknown fields are refused, types are strict (a string where a number is expected is refused, never coerced),
texts are trimmed with runs of whitespace made single, and every length and range is bounded. `parse` turns
pydantic's first error into a coded Refusal naming the field ("names.fr"). The OpenAPI description of the API is
generated from these classes, so what is documented is what is checked. Rules that need the database (does the
cooperative exist, is the number taken) stay in the domain functions that take these inputs.
"""
from __future__ import annotations

import re
import typing
import unicodedata
from datetime import date, datetime, timezone
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints,
                      TypeAdapter, ValidationError, WithJsonSchema, model_validator)
from pydantic_core import PydanticCustomError

from ovop.core import phones
from ovop.core.errors import Invalid
from ovop.language.understand import MAX_QUANTITY  # the largest stock level a producer may report
from ovop.language.formats import plain_number

MAX_ID = 2**31 - 1  # ids and counts are INTEGER columns on PostgreSQL: nothing larger can be stored
MAX_NOTE = 500
MAX_ORDER_QUANTITY = 1_000_000
MAX_PRICE = 100_000_000
MAX_CAPACITY = 10_000
MAX_DAYS_BEFORE = 30
MAX_TEXT = 1600  # Twilio's limit for one message body
MAX_ITEMS = 200  # products of a cooperative or a producer, aliases of a product
LANGUAGES = ("fr", "wo", "en")
CHANNELS = ("whatsapp", "sms")
DIRECTIONS = ("in", "out")
ORDER_STATUSES = ("pending", "accepted", "partial", "declined", "delivered", "cancelled", "expired")
# A code is a stable slug; starting with a letter keeps it apart from numeric ids in /products/{code-or-id}.
CODE = re.compile(r"[a-z][a-z0-9_]*")
HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
Language = Literal["fr", "wo", "en"]
Channel = Literal["whatsapp", "sms"]


# --- values -----------------------------------------------------------------------------------------------

def _clean(value: Any) -> Any:
    """Text trimmed, runs of whitespace made single; None when nothing is left. NUL and lone surrogates would
    make the database driver fail, other control characters have no place in a name: refused. Runs before the
    length is checked, so a limit counts what is kept. Anything but a string is left to the type check."""
    if not isinstance(value, str):
        return value
    cleaned = " ".join(value.split())
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in cleaned):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return cleaned or None


def _present(value: Any) -> Any:
    cleaned = _clean(value)
    if cleaned is None or (isinstance(value, str) and not cleaned):
        raise PydanticCustomError("required", "is required")
    return cleaned


def _message(value: Any) -> Any:
    """A message text: line breaks kept (a broadcast has paragraphs), each line cleaned like any text."""
    if not isinstance(value, str):
        return value
    lines = [" ".join(line.split()) for line in value.strip().splitlines()]
    _clean(" ".join(lines))
    return "\n".join(lines).strip() or None


def Text(max_len: int):  # noqa: N802  (a type)
    """Optional text: null, blank or missing mean none."""
    return Annotated[Annotated[str, StringConstraints(max_length=max_len)] | None, BeforeValidator(_clean),
                     Field(default=None)]


def Required(max_len: int):  # noqa: N802
    """Text that must hold something once trimmed."""
    return Annotated[str, StringConstraints(max_length=max_len), BeforeValidator(_present)]


def _e164(value: str) -> str:
    try:
        return phones.to_e164(value)
    except phones.InvalidPhone:
        if not value.strip():
            raise PydanticCustomError("required", "is required") from None
        raise PydanticCustomError("not_a_phone", "'{value}' is not a phone number",
                                  {"value": value.strip()[:40]}) from None


def _code(value: str) -> str:
    return value.strip().lower()


def _slug(value: str) -> str:
    if not CODE.fullmatch(value):
        raise PydanticCustomError("not_a_code", "must be lowercase letters, digits and underscores")
    return value


def _day(value: Any) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise PydanticCustomError("not_a_date", "must be a date YYYY-MM-DD")


def _due(value: Any) -> date | datetime:
    """A date, or a date-time with its offset (the domain takes its local date)."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            try:
                return datetime.fromisoformat(value.strip())
            except ValueError:
                pass
    raise PydanticCustomError("not_a_date", "must be a date YYYY-MM-DD")


def _moment(value: Any) -> datetime:
    """An ISO 8601 date-time with its UTC offset (a time without one is ambiguous, so refused), in UTC."""
    if not isinstance(value, str):
        raise PydanticCustomError("not_a_datetime", "must be an ISO 8601 date-time")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError("not_a_datetime", "must be an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise PydanticCustomError("no_utc_offset", "needs a UTC offset")
    return parsed.astimezone(timezone.utc)


def _hhmm(value: str) -> str:
    found = HHMM.fullmatch(value.strip())
    if found is None:
        raise PydanticCustomError("not_a_time", "must be a local time HH:MM")
    return f"{int(found[1]):02d}:{found[2]}"


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Count = Annotated[int, Field(ge=0, le=MAX_ID)]
Phone = Annotated[str, StringConstraints(max_length=40), AfterValidator(_e164),
                  Field(examples=["77 123 45 67", "+221771234567"])]
ProductCode = Annotated[str, StringConstraints(max_length=40), AfterValidator(_code), Field(examples=["yaourt"])]
Codes = Annotated[list[ProductCode], Field(max_length=MAX_ITEMS)]
Day = Annotated[date, BeforeValidator(_day)]
DueDate = Annotated[date | datetime, BeforeValidator(_due),
                    WithJsonSchema({"type": "string", "description": "a date, or a date-time with its UTC offset",
                                    "examples": ["2026-12-15"]})]
Moment = Annotated[datetime, BeforeValidator(_moment), Field(examples=["2026-12-10T10:00:00+00:00"])]
LocalTime = Annotated[str, StringConstraints(max_length=5), AfterValidator(_hhmm), Field(examples=["09:00"])]
Message = Annotated[Annotated[str, StringConstraints(max_length=MAX_TEXT)] | None, BeforeValidator(_message)]
# Fields of an answer that a client may send back unchanged (a GET answer PATCHed back); they are ignored.
ReadOnly = Annotated[Any, Field(default=None, json_schema_extra={"readOnly": True})]


def _one_text(value: Any) -> Any:
    """A plain string is the French text."""
    return {"fr": value} if isinstance(value, str) else value


# --- parsing ----------------------------------------------------------------------------------------------

class Input(BaseModel):
    """A strict input: unknown fields refused, no coercion. `given()` is what the sender set."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    read_only: ClassVar[tuple[str, ...]] = ()

    def given(self) -> dict[str, Any]:
        """The fields the sender set (null included), read-only ones left out, nested inputs as they are."""
        return {name: getattr(self, name) for name in type(self).model_fields
                if name in self.model_fields_set and name not in self.read_only}


class Query(Input):
    """A query string: values are text, so numbers and booleans are read from it; other parameters are
    ignored (paging, a cache-buster)."""

    model_config = ConfigDict(extra="ignore", strict=False, allow_inf_nan=False)


# pydantic's error types, as our codes (custom errors raised above already carry ours).
CODES = {
    "missing": "required", "extra_forbidden": "unknown_field", "string_type": "not_a_string",
    "string_unicode": "control_characters", "string_too_long": "too_long", "string_too_short": "required",
    "int_type": "not_an_integer", "int_parsing": "not_an_integer", "int_from_float": "not_an_integer",
    "float_type": "not_a_number", "float_parsing": "not_a_number", "finite_number": "not_a_number",
    "bool_type": "not_a_boolean", "bool_parsing": "not_a_boolean", "list_type": "not_a_list",
    "too_long": "too_many", "dict_type": "not_an_object", "model_type": "not_an_object",
    "model_attributes_type": "not_an_object", "literal_error": "not_one_of", "enum": "not_one_of",
    "greater_than_equal": "too_small", "greater_than": "not_above", "less_than_equal": "too_large",
    "date_type": "not_a_date", "datetime_type": "not_a_datetime",
}
PARAMS = {"max_length": "max", "ge": "min", "gt": "min", "le": "max", "expected": "choices"}


def parse(schema: type[Input], data: Any) -> Input:
    """`data` checked against `schema`, or the first problem as an Invalid (field path, code, params)."""
    if not isinstance(data, dict):
        raise Invalid("body", "not_an_object")
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        raise first_refusal(schema, error) from None


def value(field: str, kind: Any, raw: str) -> Any:
    """One value written as text (a form's select, a query string) read as `kind`, e.g. Id; None when blank."""
    if not raw.strip():
        return None
    try:
        return TypeAdapter(kind).validate_python(raw.strip(), strict=False)
    except ValidationError as error:
        raise first_refusal(BaseModel, error, field) from None


def first_refusal(schema: type[BaseModel], error: ValidationError, prefix: str = "") -> Invalid:
    """pydantic's first error as a coded refusal (like healthchecks' format_first_error)."""
    problem = error.errors(include_url=False)[0]
    kind, loc = problem["type"], problem["loc"]
    # List positions leave the path ("products", not "products.2"); nothing else in our inputs is a union.
    field = ".".join(part for part in (prefix, *map(str, loc)) if part and not part.isdigit()) or "body"
    code = CODES.get(kind, kind)
    custom = kind not in CODES  # our own errors carry our parameters
    params = {PARAMS.get(key, key): plain_number(value) for key, value in (problem.get("ctx") or {}).items()
              if custom or key in PARAMS}
    if kind.endswith("_type") and problem.get("input", "") is None:
        code, params = "required", {}
    if code == "unknown_field":
        params = {"allowed": _fields_at(schema, loc[:-1])}
    if code == "not_one_of":
        params["choices"] = str(params.get("choices", "")).replace("'", "")
    return Invalid(field, code, **params)



def _fields_at(schema: type[BaseModel], path: tuple) -> list[str]:
    """The names a (nested) input accepts at `path`, for the unknown-field refusal."""
    for part in path:
        if isinstance(part, int):
            continue
        annotation = schema.model_fields[part].annotation
        schema = next((kind for kind in _kinds(annotation) if isinstance(kind, type) and
                       issubclass(kind, BaseModel)), schema)
    read_only = getattr(schema, "read_only", ())
    return [name for name in schema.model_fields if name not in read_only]


def _kinds(annotation: Any) -> list[Any]:
    found, stack = [], [annotation]
    while stack:
        kind = stack.pop()
        found.append(kind)
        stack.extend(typing.get_args(kind))
    return found


# --- cooperatives, products, producers --------------------------------------------------------------------

class CooperativeChanges(Input):
    """Fields of a cooperative to change; `products` replaces the whole list."""

    read_only: ClassVar[tuple[str, ...]] = ("id", "created_at")
    name: Required(120) = None
    region: Text(80)
    products: Codes = None
    id: ReadOnly
    created_at: ReadOnly


class NewCooperative(CooperativeChanges):
    """A cooperative: its name is unique."""

    name: Required(120)


class Names(Input):
    """A product's name per language; French is the name every language falls back to."""

    fr: Required(80) = None
    wo: Text(80)
    en: Text(80)


class NewNames(Names):
    fr: Required(80)


class ProductChanges(Input):
    """Fields of a product to change: `names` merges per language, `aliases` replaces the staff's list (words
    learnt from producers stay), `code` cannot change."""

    read_only: ClassVar[tuple[str, ...]] = ("id", "created_at", "learnt_aliases")
    code: ProductCode = None
    unit: Required(20) = None
    names: Names = None
    aliases: Annotated[list[Required(80)], Field(max_length=MAX_ITEMS)] = None
    low_stock_threshold: Count = None
    id: ReadOnly
    created_at: ReadOnly
    learnt_aliases: ReadOnly


class NewProduct(ProductChanges):
    """A product: `code` is its stable name (lowercase letters, digits, underscores)."""

    code: Annotated[Required(40), AfterValidator(_slug), Field(json_schema_extra={"pattern": "^[a-z][a-z0-9_]*$"},
                                                              examples=["savon_noir"])]
    unit: Required(20)
    names: NewNames
    aliases: Annotated[list[Required(80)], Field(max_length=MAX_ITEMS)] = []
    low_stock_threshold: Count = 0


class ProducerChanges(Input):
    """Fields of a producer to change; `products` replaces the list (without one they make what their
    cooperative makes); `sandbox` is chosen at creation only."""

    read_only: ClassVar[tuple[str, ...]] = ("id", "opted_out", "last_inbound_at", "created_at")
    phone: Phone = None
    name: Text(120)
    cooperative_id: Id | None = None
    language: Language = None
    channel: Channel = None
    products: Codes = None
    sandbox: bool = None
    id: ReadOnly
    opted_out: ReadOnly
    last_inbound_at: ReadOnly
    created_at: ReadOnly


class NewProducer(ProducerChanges):
    """A producer: a phone number no other producer has, in any common writing (Senegal by default)."""

    phone: Phone


# --- orders, stock, prices --------------------------------------------------------------------------------

class NewOrder(Input):
    """An order from the boutique to a cooperative; its producers are alerted at once."""

    read_only: ClassVar[tuple[str, ...]] = (
        "id", "reference", "status", "unit", "accepted_by", "accepted_quantity", "accepted_at", "answers",
        "overdue", "delivered_at", "cancelled_at", "created_at", "updated_at")
    cooperative_id: Id
    product: ProductCode
    quantity: Annotated[float, Field(gt=0, le=MAX_ORDER_QUANTITY)]
    due_date: DueDate
    note: Text(MAX_NOTE)
    id: ReadOnly
    reference: ReadOnly
    status: ReadOnly
    unit: ReadOnly
    accepted_by: ReadOnly
    accepted_quantity: ReadOnly
    accepted_at: ReadOnly
    answers: ReadOnly
    overdue: ReadOnly
    delivered_at: ReadOnly
    cancelled_at: ReadOnly
    created_at: ReadOnly
    updated_at: ReadOnly


class StockCorrection(Input):
    """A staff correction of a level: a ledger line from staff that becomes the level."""

    cooperative_id: Id
    product: ProductCode
    quantity: Annotated[float, Field(ge=0, le=MAX_QUANTITY)]
    note: Text(MAX_NOTE)


class NewPrice(Input):
    """What a product sold for, where and when, in whole F CFA."""

    product: Annotated[Required(40), AfterValidator(_code)]
    price: Annotated[int, Field(ge=1, le=MAX_PRICE)]
    unit: Text(20)
    market: Text(120)
    observed_on: Day | None = None


# --- workshops and broadcasts -----------------------------------------------------------------------------

class Titles(Input):
    """A text per language; French is required, the text every language falls back to."""

    fr: Required(200)
    wo: Text(200)
    en: Text(200)


class Descriptions(Input):
    fr: Required(2000)
    wo: Text(2000)
    en: Text(2000)


class Reminder(Input):
    """A reminder `days_before` the workshop at local `time`."""

    days_before: Annotated[int, Field(ge=0, le=MAX_DAYS_BEFORE)]
    time: LocalTime = "09:00"


class WorkshopChanges(Input):
    """A workshop's text, time, place and capacity (a plain string is the French text)."""

    title: Annotated[Titles, BeforeValidator(_one_text, json_schema_input_type=str | Titles)]
    description: Annotated[Descriptions | None, BeforeValidator(_one_text, json_schema_input_type=str | Descriptions
                                                                | None)] = None
    starts_at: Moment
    location: Required(200)
    capacity: Annotated[int, Field(ge=1, le=MAX_CAPACITY)]
    registration_deadline: Moment | None = None


class NewWorkshop(WorkshopChanges):
    """A workshop; reminders default to the service's."""

    reminders: Annotated[list[Reminder], Field(max_length=MAX_DAYS_BEFORE + 1)] | None = None


class Attendance(Input):
    """A registered producer came (false corrects a mistake)."""

    producer_id: Id
    attended: bool = True


class Texts(Input):
    """A broadcast's text per language; one at least (each producer gets theirs, else French, else any)."""

    fr: Message = None
    wo: Message = None
    en: Message = None

    @model_validator(mode="after")
    def _one_at_least(self):
        if not (self.fr or self.wo or self.en):
            raise PydanticCustomError("no_text", "must hold one text at least")
        return self


class Audience(Input):
    """Who a broadcast reaches; each criterion optional, every one given must match."""

    cooperative_id: Id | None = None
    product: ProductCode | None = None
    language: Language | None = None


class NewBroadcast(Input):
    """A text to an audience, now or at `send_at`; the scheduler sends it."""

    text: Annotated[Texts, BeforeValidator(_one_text, json_schema_input_type=str | Texts)]
    audience: Audience | None = None
    send_at: Moment | None = None


def _reply_text(value: Any) -> Any:
    cleaned = _message(value)
    if cleaned is None:
        raise PydanticCustomError("required", "is required")
    return cleaned


class StaffReply(Input):
    """A staff member's answer in the inbox, sent to the producer as it is written."""

    text: Annotated[str, StringConstraints(max_length=MAX_TEXT), BeforeValidator(_reply_text),
                    Field(examples=["Bonjour Awa, je vous appelle demain à 10 h."])]


# --- query strings ----------------------------------------------------------------------------------------

class ProducerQuery(Query):
    cooperative_id: Id | None = None
    q: Text(200) = Field(default=None, description="a name or a phone number, however written")


class MessageQuery(Query):
    phone: Phone | None = None
    direction: Literal["in", "out"] | None = None
    producer_id: Id | None = None
    status: Text(20)
    channel: Channel | None = None


class ConversationQuery(Query):
    status: Literal["open", "closed"] | None = None


class OrderQuery(Query):
    status: Literal[ORDER_STATUSES] | None = None
    cooperative_id: Id | None = None


class StockQuery(Query):
    cooperative_id: Id | None = None
    product: Text(40) = Field(default=None, description="a product code")
    low: bool | None = Field(default=None, description="under the product's threshold")
    stale: bool | None = Field(default=None, description="no report for 14 days, or never one")


class HistoryQuery(Query):
    cooperative_id: Id | None = None
    product: Text(40) = Field(default=None, description="a product code")


class PriceQuery(Query):
    product: Text(40) = Field(default=None, description="a product code")
    market: Text(120)


class WorkshopQuery(Query):
    upcoming: bool | None = Field(default=None, description="true: only those not started yet")


def parse_query(schema: type[Query], args: dict[str, str]) -> Query:
    """A query string checked against `schema`; an empty value is the same as none."""
    return parse(schema, {name: value for name, value in args.items() if value != ""})
