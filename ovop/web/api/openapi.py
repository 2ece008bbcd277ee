"""The API described by itself: OpenAPI 3.1 built from the input schemas that check requests (ovop.domain.schemas)
and from the shapes of the answers below, served at GET /api/v1/openapi.json and read by the docs page.

Both are public: the description holds no data, and an integrator reads it before holding a token. Every route
of the blueprint must have its entry in OPERATIONS (tests/test_openapi.py checks), so nothing goes undescribed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from ovop.core.errors import REASONS as REFUSAL_CODES
from ovop.domain import schemas
from ovop.web import paging

TITLE = "OVOP producers' messaging service: staff API"
VERSION = "1"


# --- what the API answers -----------------------------------------------------------------------------------

class Shape(BaseModel):
    """An answer's shape; answers may gain fields, so more properties than listed are allowed."""

    model_config = ConfigDict(extra="allow")


class Error(Shape):
    """Every error: `error` in English; a refused input also names `field`, its `code` and `params`."""

    error: str
    field: str | None = Field(None, description="the refused field, a path such as names.fr")
    code: str | None = Field(None, description="stable: " + ", ".join(REFUSAL_CODES))
    params: dict[str, Any] | None = Field(None, description="the code's parameters, e.g. {\"max\": 120}")


class Cooperative(Shape):
    id: int
    name: str
    region: str | None
    products: list[str]
    created_at: str


class ProductNames(Shape):
    fr: str | None
    wo: str | None
    en: str | None


class Product(Shape):
    id: int
    code: str
    unit: str | None
    names: ProductNames
    aliases: list[str]
    learnt_aliases: list[str]
    low_stock_threshold: int
    created_at: str


class Producer(Shape):
    id: int
    phone: str | None
    name: str | None
    cooperative_id: int | None
    language: str | None
    channel: str | None
    products: list[str]
    opted_out: bool | None
    sandbox: bool
    last_inbound_at: str | None
    created_at: str | None


class MessageMedia(Shape):
    url: str | None = Field(description="where a stored file is fetched with the bearer token; null until then")
    content_type: str
    status: str = Field(description="pending | stored | refused | failed | erased")


class Location(Shape):
    latitude: float
    longitude: float


class Message(Shape):
    id: int
    direction: str
    phone: str | None
    channel: str | None
    body: str | None
    status: str | None
    error_code: int | str | None
    created_at: str
    producer_id: int | None
    kind: str | None = Field(description="outbound: order_alert, price_tip, stock_reminder, reply, broadcast…")
    provider: str | None = Field(description="outbound: who carried it, twilio | smsgate | console")
    segments: int | None = Field(description="outbound SMS: segments billed (null on WhatsApp)")
    cost: float | None = Field(description="outbound: estimated F CFA from MESSAGE_PRICES; null when no price")
    media: list[MessageMedia] = Field(default_factory=list, description="inbound: photos, voice notes, PDF")
    location: Location | None = Field(None, description="inbound: a location the producer shared")


class Conversation(Shape):
    id: int
    producer_id: int
    producer_name: str | None
    phone: str | None
    status: str = Field(description="open | closed")
    reason: str = Field(description="voice_note | asked | not_understood | staff")
    unread: int
    opened_at: str
    last_message_at: str
    closed_at: str | None
    closed_by: str | None


class ConversationThread(Conversation):
    messages: list[Message]


class OrderAnswer(Shape):
    producer_id: int | None
    answer: str | None
    quantity: float | None
    answered_at: str | None
    notified_at: str | None
    sent_via: str | None
    reminded_at: str | None


class Order(Shape):
    id: int
    reference: str | None
    cooperative_id: int
    product: str
    quantity: float
    unit: str | None
    due_date: str
    note: str | None
    status: str
    overdue: bool
    accepted_by: int | None
    accepted_quantity: float | None
    accepted_at: str | None
    delivered_at: str | None
    cancelled_at: str | None
    created_at: str | None
    updated_at: str | None
    answers: list[OrderAnswer]


class WrongStatus(Error):
    current_status: str


class WorkshopReminder(Shape):
    days_before: int
    time: str


class Workshop(Shape):
    id: int
    title: ProductNames
    description: ProductNames
    starts_at: str
    location: str
    capacity: int
    registration_deadline: str | None
    reminders: list[WorkshopReminder]
    registered: int
    waitlisted: int
    seats_left: int
    open: bool
    created_at: str | None


class Registration(Shape):
    id: int
    workshop_id: int
    producer_id: int
    status: str
    position: int | None
    created_at: str | None
    registered_at: str | None
    cancelled_at: str | None
    updated_at: str | None


class Price(Shape):
    id: int
    product: str
    price: int
    unit: str | None
    market: str | None
    observed_on: str
    created_at: str | None


class Broadcast(Shape):
    id: int
    text: ProductNames
    audience: dict[str, Any]
    send_at: str
    status: str
    enqueued_at: str | None
    recipients: int | None
    created_at: str | None


class ByChannel(Shape):
    sms: int
    whatsapp: int


class LanguagePreview(Shape):
    producers: int
    by_channel: ByChannel
    sms_text: str
    sms_encoding: str
    sms_segments: int
    sms_messages: int = Field(description="SMS each SMS recipient gets: 1, or numbered parts of one segment each")
    by_route: dict[str, int] = Field(description="recipients by route: sms, template, whatsapp (free text in the "
                                                 "window), console (sandbox), undeliverable")
    cost: float | None = Field(description="estimated F CFA (MESSAGE_PRICES); null when a price is missing")
    cost_unknown: int = Field(description="recipients MESSAGE_PRICES has no price for")


class BroadcastPreview(Shape):
    producers: int
    audience: dict[str, Any]
    languages: dict[str, LanguagePreview]
    cost: float | None = Field(description="estimated F CFA for everyone reached; null when a price is missing")
    cost_unknown: int = Field(description="recipients MESSAGE_PRICES has no price for")


class StockLevel(Shape):
    cooperative_id: int
    product: str
    quantity: float | None
    unit: str | None
    reported_at: str | None
    producer_id: int | None
    source: str | None
    note: str | None
    low: bool
    stale: bool


class StockLine(Shape):
    id: int
    cooperative_id: int
    product: str
    quantity: float
    unit: str | None
    reported_at: str
    producer_id: int | None
    source: str
    note: str | None
    reverts_id: int | None
    undone: bool


class CorrectedLevel(StockLine):
    previous: float | None
    low: bool


# --- the operations -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Operation:
    """One endpoint: what it does, what it takes and what it answers (`status` with `answer`, a list when
    `listed`); `refusals` are the error statuses it gives besides 400, 401 and 413."""

    summary: str
    answer: type[BaseModel] | None = None
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    listed: bool = False
    refusals: tuple[int, ...] = (422,)
    extra: dict = field(default_factory=dict)


NOT_FOUND = (404, 422)
OPERATIONS: dict[str, Operation] = {
    "api.create_cooperative": Operation("Create a cooperative", Cooperative, 201, schemas.NewCooperative,
                                        refusals=(409, 422)),
    "api.list_cooperatives": Operation("Cooperatives by name", Cooperative, listed=True),
    "api.get_cooperative": Operation("One cooperative", Cooperative, refusals=(404,)),
    "api.update_cooperative": Operation("Change a cooperative (products replaces the list)", Cooperative,
                                        body=schemas.CooperativeChanges, refusals=(404, 409, 422)),
    "api.create_product": Operation("Create a product", Product, 201, schemas.NewProduct, refusals=(409, 422)),
    "api.list_products": Operation("Products by code", Product, listed=True),
    "api.get_product": Operation("One product, by code or id", Product, refusals=(404,)),
    "api.update_product": Operation("Change a product (names merge per language; aliases replace the staff's)",
                                    Product, body=schemas.ProductChanges, refusals=(404, 409, 422)),
    "api.create_producer": Operation("Register a producer", Producer, 201, schemas.NewProducer,
                                     refusals=(409, 422)),
    "api.list_producers": Operation("Producers by name", Producer, query=schemas.ProducerQuery, listed=True),
    "api.get_producer": Operation("One producer", Producer, refusals=(404,)),
    "api.update_producer": Operation("Change a producer (products replaces the list)", Producer,
                                     body=schemas.ProducerChanges, refusals=(404, 409, 422)),
    "api.delete_producer": Operation("Erase a producer: name, number and message texts leave every table",
                                     None, 204, refusals=(404,)),
    "api.list_messages": Operation("The message log, newest first", Message, query=schemas.MessageQuery,
                                   listed=True),
    "api.create_order": Operation("Create an order; the cooperative's producers are alerted at once", Order, 201,
                                  schemas.NewOrder),
    "api.list_orders": Operation("Orders, newest first", Order, query=schemas.OrderQuery, listed=True),
    "api.get_order": Operation("One order with every alerted producer's answer", Order, refusals=(404,)),
    "api.cancel_order": Operation("Cancel an order (pending, accepted or partial)", Order, refusals=(404, 409)),
    "api.deliver_order": Operation("Mark an accepted order delivered", Order, refusals=(404, 409)),
    "api.create_workshop": Operation("Create a workshop", Workshop, 201, schemas.NewWorkshop),
    "api.list_workshops": Operation("Workshops by start time", Workshop, query=schemas.WorkshopQuery, listed=True),
    "api.get_workshop": Operation("One workshop with its seats", Workshop, refusals=(404,)),
    "api.list_registrations": Operation("A workshop's registrations (waitlisted ones with their position)",
                                        Registration, listed=True, refusals=NOT_FOUND),
    "api.mark_attendance": Operation("Mark that a registered producer came (false corrects a mistake)",
                                     Registration, body=schemas.Attendance, refusals=NOT_FOUND),
    "api.create_price": Operation("Record what a product sold for", Price, 201, schemas.NewPrice),
    "api.list_prices": Operation("Price observations, newest first", Price, query=schemas.PriceQuery, listed=True),
    "api.create_broadcast": Operation("Send a text to an audience, now or at send_at", Broadcast, 201,
                                      schemas.NewBroadcast),
    "api.preview_broadcast": Operation("Who a broadcast would reach and its SMS cost, storing nothing",
                                       BroadcastPreview, body=schemas.NewBroadcast),
    "api.list_broadcasts": Operation("Broadcasts, newest send time first", Broadcast, listed=True),
    "api.get_broadcast": Operation("One broadcast", Broadcast, refusals=(404,)),
    "api.list_stock": Operation("The current level of each product at each cooperative", StockLevel,
                                query=schemas.StockQuery, listed=True),
    "api.stock_history": Operation("The ledger lines behind the levels, newest first", StockLine,
                                   query=schemas.HistoryQuery, listed=True),
    "api.list_conversations": Operation("The staff inbox: conversations handed to a person, latest message first",
                                        Conversation, query=schemas.ConversationQuery, listed=True),
    "api.get_conversation": Operation("A producer's conversation and latest messages; reading it marks it read",
                                      ConversationThread, refusals=(404,)),
    "api.reply_to_conversation": Operation("Answer the producer (free WhatsApp text in the 24 h window, else a "
                                           "template, else SMS)", Message, 201, schemas.StaffReply,
                                           refusals=(404, 409, 422)),
    "api.close_conversation": Operation("Close the open conversation: the bot answers the producer again",
                                        Conversation, refusals=(404, 409)),
    "api.get_media": Operation("A stored photo, voice note or PDF a producer sent (its bytes)", None,
                               refusals=(404,)),
    "api.correct_stock": Operation("A staff correction: a ledger line from staff that becomes the level",
                                   CorrectedLevel, 201, schemas.StockCorrection),
}
UNDOCUMENTED = {"api.openapi_json"}  # the description itself
REASONS = {200: "OK", 201: "Created", 204: "Erased", 400: "The body is not a JSON object",
           401: "Missing or wrong bearer token", 404: "Not found", 409: "Taken, or not allowed in this status",
           413: "The body is over the API's limit", 422: "A value refused: see field and code"}


# --- the document ---------------------------------------------------------------------------------------------

def document(app: Flask) -> dict:
    """The OpenAPI 3.1 description of every route of the API blueprint."""
    models = _models()
    _, definitions = models_json_schema([(model, mode) for model, mode in models],
                                        ref_template="#/components/schemas/{model}")
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if not rule.endpoint.startswith("api.") or rule.endpoint in UNDOCUMENTED:
            continue
        operation = OPERATIONS[rule.endpoint]
        path, parameters = _path(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule.endpoint, operation, parameters)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION,
                 "description": "JSON in and out; every call carries `Authorization: Bearer $ADMIN_TOKEN`. "
                                "Lists answer `{\"items\": [...], \"next\": <cursor or null>}` and take `?limit=` "
                                f"({paging.DEFAULT_LIMIT}, at most {paging.MAX_LIMIT}) and `?after=<next>`. "
                                "A refused input answers 422 (409 for a value taken) with `field`, `code` and "
                                "`params`; unknown fields are refused and types are strict."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": definitions["$defs"],
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "the service's ADMIN_TOKEN"}}},
    }


def _models() -> list[tuple[type[BaseModel], str]]:
    found: list[tuple[type[BaseModel], str]] = [(Error, "serialization"), (WrongStatus, "serialization")]
    for operation in OPERATIONS.values():
        if operation.body is not None:
            found.append((operation.body, "validation"))
        if operation.answer is not None:
            found.append((operation.answer, "serialization"))
    return list(dict.fromkeys(found))


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _path(rule: str) -> tuple[str, list[dict]]:
    """/orders/<int(min=1, …):order_id> as /orders/{order_id} with its parameter."""
    parameters = []
    for converter, name in re.findall(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([a-z_]+)>", rule):
        kind = ({"type": "integer", "minimum": 1, "maximum": schemas.MAX_ID} if converter == "int"
                else {"type": "string", "minLength": 1, "maxLength": 40})
        parameters.append({"name": name, "in": "path", "required": True, "schema": kind})
    path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule)
    return path.removeprefix("/api/v1") or "/", parameters


def _operation(endpoint: str, operation: Operation, parameters: list[dict]) -> dict:
    described: dict[str, Any] = {"operationId": endpoint.removeprefix("api."), "summary": operation.summary,
                                 "parameters": parameters + _query(operation)}
    if operation.body is not None:
        described["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": _ref(operation.body)}}}
    responses: dict[str, Any] = {}
    if operation.answer is None:
        responses[str(operation.status)] = {"description": REASONS[operation.status]}
    else:
        schema = _ref(operation.answer)
        if operation.listed:
            schema = {"type": "object", "required": ["items", "next"],
                      "properties": {"items": {"type": "array", "items": schema},
                                     "next": {"type": ["string", "null"],
                                              "description": "the cursor of the next page (?after=), null on "
                                                             "the last"}}}
        responses[str(operation.status)] = {"description": REASONS[operation.status],
                                            "content": {"application/json": {"schema": schema}}}
    statuses = (400, 401, 413, *operation.refusals) if operation.body else (401, *operation.refusals)
    for status in sorted(set(statuses) | ({422} if operation.query or operation.listed else set())):
        error = WrongStatus if status == 409 and endpoint in ("api.cancel_order", "api.deliver_order") else Error
        responses[str(status)] = {"description": REASONS[status],
                                  "content": {"application/json": {"schema": _ref(error)}}}
    described["responses"] = responses
    return described


def _query(operation: Operation) -> list[dict]:
    """A query schema's fields as parameters, and `limit`/`after` for a list."""
    parameters = []
    if operation.query is not None:
        properties = operation.query.model_json_schema()["properties"]
        for name, schema in properties.items():
            schema = {key: value for key, value in schema.items() if key not in ("title", "default")}
            if "anyOf" in schema:  # optional: null is simply leaving it out
                kinds = [kind for kind in schema.pop("anyOf") if kind.get("type") != "null"]
                schema.update(kinds[0] if len(kinds) == 1 else {"anyOf": kinds})
            description = schema.pop("description", None)
            parameters.append({"name": name, "in": "query", "required": False, "schema": schema,
                               **({"description": description} if description else {})})
    if operation.listed:
        parameters += [
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": paging.MAX_LIMIT,
                        "default": paging.DEFAULT_LIMIT}, "description": "items a page"},
            {"name": "after", "in": "query", "required": False,
             "schema": {"type": "string", "maxLength": paging.MAX_CURSOR},
             "description": "the `next` of the previous page, as it came"},
        ]
    return parameters


# --- the docs page ----------------------------------------------------------------------------------------------

def type_text(schema: dict) -> str:
    """A JSON schema in a few words for the docs page: "string, at most 120", "Names", "one of: fr, wo, en"."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(dict.fromkeys(type_text(kind) for kind in schema[key]))
    if "enum" in schema or "const" in schema:
        return "one of: " + ", ".join(map(str, schema.get("enum", [schema.get("const")])))
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        kind = f"list of {type_text(schema.get('items', {}))}"
    if schema.get("format"):
        kind += f" ({schema['format']})"
    limits = [f"{word} {schema[key]}" for key, word in (("minimum", "≥"), ("exclusiveMinimum", ">"),
                                                         ("maximum", "≤"), ("maxLength", "length ≤"),
                                                         ("maxItems", "items ≤")) if key in schema]
    return ", ".join([kind, *limits])


def pages(described: dict) -> dict:
    """The description arranged for the docs template: operations in path order, schemas with their fields."""
    operations = []
    for path, methods in described["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            operations.append({
                "method": method.upper(), "path": path, "id": operation["operationId"],
                "summary": operation["summary"], "body": type_text(body) if body else None,
                "parameters": [{"name": p["name"], "in": p["in"], "type": type_text(p["schema"]),
                                "description": _code_spans(p.get("description", ""))}
                               for p in operation["parameters"]],
                "responses": [{"status": status, "description": response["description"],
                               "type": _answer_text(response)} for status, response in
                              operation["responses"].items()]})
    shapes = []
    for name, schema in sorted(described["components"]["schemas"].items()):
        required = set(schema.get("required", ()))
        shapes.append({"name": name, "description": schema.get("description", ""),
                       "closed": schema.get("additionalProperties") is False,
                       "fields": [{"name": field_name, "type": type_text(field_schema),
                                   "required": field_name in required, "read_only": field_schema.get("readOnly"),
                                   "description": field_schema.get("description", "")}
                                  for field_name, field_schema in schema.get("properties", {}).items()]})
    info = {**described["info"], "description": _code_spans(described["info"]["description"])}
    return {"info": info, "operations": operations, "schemas": shapes}


def _code_spans(text: str) -> Markup:
    """`limit` written as code, the rest escaped."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def _answer_text(response: dict) -> str:
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return ""
    if schema.get("type") == "object" and "items" in schema.get("properties", {}):
        return f"{{items: [{type_text(schema['properties']['items']['items'])}], next}}"
    return type_text(schema)
