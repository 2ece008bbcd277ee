"""The producers' world as stored: cooperatives, products, producers, messages, the outbox, conversations."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, MetaData,
                        String, Table, Text, TypeDecorator, UniqueConstraint, and_, exists, false, not_, or_, text)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ovop.core import clock

# Explicit constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


cooperative_products = Table(
    "cooperative_products", Base.metadata,
    Column("cooperative_id", ForeignKey("cooperatives.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
)

producer_products = Table(
    "producer_products", Base.metadata,
    Column("producer_id", ForeignKey("producers.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
)


class Product(Base):
    """Something a cooperative makes and the boutique sells, named in fr, wo and en."""

    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    unit: Mapped[str] = mapped_column(String(20))
    name_fr: Mapped[str] = mapped_column(String(80))
    name_wo: Mapped[str | None] = mapped_column(String(80))
    name_en: Mapped[str | None] = mapped_column(String(80))
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    aliases: Mapped[list[ProductAlias]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="ProductAlias.id")

    def name(self, lang: str) -> str:
        """The product's name in `lang`, French when that language has none."""
        return getattr(self, f"name_{lang}", None) or self.name_fr


class ProductAlias(Base):
    """Another word producers use for a product; staff add them and confirmed guesses are learnt."""

    __tablename__ = "product_aliases"
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(20), default="staff")  # staff | demo | learnt
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    product: Mapped[Product] = relationship(back_populates="aliases")
    __table_args__ = (UniqueConstraint("product_id", "alias", name="uq_product_aliases_product_alias"),)


class Cooperative(Base):
    """A producers' cooperative (GIE, union…) selling through the boutique."""

    __tablename__ = "cooperatives"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    region: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    products: Mapped[list[Product]] = relationship(secondary=cooperative_products, order_by=Product.code)
    producers: Mapped[list[Producer]] = relationship(back_populates="cooperative")


class Producer(Base):
    """A person who talks to the bot from one phone number."""

    __tablename__ = "producers"
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)  # E.164; None once erased
    name: Mapped[str | None] = mapped_column(String(120))
    cooperative_id: Mapped[int | None] = mapped_column(ForeignKey("cooperatives.id"))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    channel: Mapped[str] = mapped_column(String(10), default="whatsapp")
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out_at: Mapped[datetime | None]
    last_inbound_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    deleted_at: Mapped[datetime | None]
    # A sandbox producer is for trying the service (the demo producers, the phone simulator): nothing sent to
    # them leaves through a provider, and they are left out of real audiences and counts.
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    cooperative: Mapped[Cooperative | None] = relationship(back_populates="producers")
    products: Mapped[list[Product]] = relationship(secondary=producer_products, order_by=Product.code)

    @hybrid_property
    def reachable(self) -> bool:
        """Whether the service may start a conversation with this producer (not erased, not opted out).

        The same rule in SQL: `select(Producer).where(Producer.reachable)`.
        """
        return bool(self.phone) and self.deleted_at is None and not self.opted_out

    @reachable.inplace.expression
    @classmethod
    def _reachable_sql(cls):
        return and_(cls.phone.is_not(None), cls.phone != "", cls.deleted_at.is_(None), cls.opted_out.is_(False))

    @property
    def makes(self) -> list[Product]:
        """What the producer makes: their own products when they are listed, else their cooperative's."""
        if self.products:
            return list(self.products)
        return list(self.cooperative.products) if self.cooperative else []

    @classmethod
    def makes_product(cls, product_id):
        """`makes` in SQL: the producer makes the product `product_id` (an id or a scalar subquery)."""
        own = exists().where(producer_products.c.producer_id == cls.id,
                             producer_products.c.product_id == product_id)
        has_own_list = exists().where(producer_products.c.producer_id == cls.id)
        cooperatives = exists().where(cooperative_products.c.cooperative_id == cls.cooperative_id,
                                      cooperative_products.c.product_id == product_id)
        return or_(own, and_(not_(has_own_list), cooperatives))


class Message(Base):
    """One message in the log, in or out, with its delivery status as Twilio reports it."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    channel: Mapped[str] = mapped_column(String(10))  # sms | whatsapp
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    producer_id: Mapped[int | None] = mapped_column(ForeignKey("producers.id"), index=True)
    body: Mapped[str | None] = mapped_column(Text)
    # Twilio's MessageSid: unique, so a webhook delivered twice is recorded once.
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    status_rank: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[int | None]
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    outbox_item_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_items.id"), index=True)
    # What the webhook answered to this inbound message, returned again to a duplicate delivery.
    reply_twiml: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    # What an outbound message is (order_alert, price_tip, reminder, broadcast, reply, staff_reply…), who carried
    # it (twilio | smsgate | console), and what it cost: SMS segments and their encoding (gsm7 | ucs2), and the
    # estimate in F CFA from MESSAGE_PRICES (None: no price known).
    kind: Mapped[str | None] = mapped_column(String(40))
    provider: Mapped[str | None] = mapped_column(String(20))
    segments: Mapped[int | None]
    encoding: Mapped[str | None] = mapped_column(String(8))
    cost: Mapped[float | None]
    # The staff member who wrote it (a reply from the inbox).
    author: Mapped[str | None] = mapped_column(String(80))
    # A location the producer shared (WhatsApp).
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    media: Mapped[list[MessageMedia]] = relationship(back_populates="message", order_by="MessageMedia.position",
                                                     cascade="all, delete-orphan")


class MessageMedia(Base):
    """A photo, voice note or document that came with an inbound message; fetched from the provider into MEDIA_DIR.

    `status`: pending (to fetch) | stored (`path` is under MEDIA_DIR) | refused (a type or size we do not keep)
    | failed (the provider would not give it).
    """

    __tablename__ = "message_media"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    content_type: Mapped[str] = mapped_column(String(100))
    source_url: Mapped[str | None] = mapped_column(Text)  # the provider's address; cleared once stored
    path: Mapped[str | None] = mapped_column(String(300))  # relative to MEDIA_DIR
    size: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(12), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A photo sent while the producer was reporting stock belongs to that report.
    stock_report_id: Mapped[int | None] = mapped_column(ForeignKey("stock_reports.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    fetched_at: Mapped[datetime | None]
    message: Mapped[Message] = relationship(back_populates="media")
    __table_args__ = (Index("ix_message_media_status", "status"),)


class GatewayEvent(Base):
    """A webhook event from the SMS gateway, by its id: an event delivered twice is handled once."""

    __tablename__ = "gateway_events"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    event: Mapped[str] = mapped_column(String(30))
    received_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)


class StaffConversation(Base):
    """A producer handed to a person: open while staff answer, closed to give the producer back to the bot.

    `reason`: voice_note | asked (the producer asked for a person) | not_understood (twice in a row) | staff.
    At most one open per producer (a partial unique index).
    """

    __tablename__ = "staff_conversations"
    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producers.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | closed
    reason: Mapped[str] = mapped_column(String(20))
    opened_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_message_at: Mapped[datetime] = mapped_column(default=clock.now)
    unread: Mapped[int] = mapped_column(Integer, default=0)  # producer messages staff have not opened yet
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)  # the producer was told a person will answer
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(80))
    producer: Mapped[Producer] = relationship()
    __table_args__ = (
        Index("uq_staff_conversations_open", "producer_id", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        Index("ix_staff_conversations_status", "status", "last_message_at"),
    )


class OutboxItem(Base):
    """A message the service starts (alert, reminder, tip), waiting for the sender; never sent twice."""

    __tablename__ = "outbox_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(20))  # E.164
    producer_id: Mapped[int | None] = mapped_column(ForeignKey("producers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    body: Mapped[str | None] = mapped_column(Text)
    content_sid: Mapped[str | None] = mapped_column(String(64))
    content_variables: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    not_before: Mapped[datetime] = mapped_column(default=clock.now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[int | None]
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Set on a staff alert caused by a sandbox producer: like every message to a sandbox producer, it is
    # written to the message table and never handed to a provider.
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The producer a staff alert is about (their name and number are in it): erasing them rewrites it.
    about_producer_id: Mapped[int | None] = mapped_column(ForeignKey("producers.id"), index=True)
    __table_args__ = (Index("ix_outbox_items_due", "status", "not_before"),)


class OutboxAttempt(Base):
    """One try at handing an outbox item to the provider, kept for the staff and for audits."""

    __tablename__ = "outbox_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_item_id: Mapped[int] = mapped_column(ForeignKey("outbox_items.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=clock.now)
    outcome: Mapped[str] = mapped_column(String(20))  # sent | retry | failed
    error_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    provider_sid: Mapped[str | None] = mapped_column(String(64))


class ConversationState(Base):
    """Where one phone number is in a conversation; locked while one of its messages is handled."""

    __tablename__ = "conversation_states"
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    producer_id: Mapped[int | None] = mapped_column(ForeignKey("producers.id"), index=True)
    flow: Mapped[str | None] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    # The open staff conversation of this phone (StaffConversation.id), read with the lock at no extra cost:
    # while it is set, the bot answers only the global words. Closing the conversation clears it.
    handoff_id: Mapped[int | None]


class StockReport(Base):
    """One line of the append-only stock ledger; the latest line per cooperative and product is the level."""

    __tablename__ = "stock_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    # Kept when the producer's personal data is erased: the producer row stays, anonymous.
    producer_id: Mapped[int | None] = mapped_column(ForeignKey("producers.id"), index=True)
    quantity: Mapped[float]
    unit: Mapped[str] = mapped_column(String(20))
    reported_at: Mapped[datetime] = mapped_column(default=clock.now)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    source: Mapped[str] = mapped_column(String(20), default="sms")  # message | undo | api
    # An undo is a new line pointing at the line it reverts (indexed: every level asks "is this line undone?").
    reverts_id: Mapped[int | None] = mapped_column(ForeignKey("stock_reports.id"), index=True)
    # Why staff corrected the level (a line from staff carries no producer and no message).
    note: Mapped[str | None] = mapped_column(String(500))
    __table_args__ = (Index("ix_stock_reports_level", "cooperative_id", "product_id", "reported_at"),)


# --- workshops, prices and broadcasts ---------------------------------------------------------

# A workshop without its own reminders gets these: two days before at 09:00 and the same day at 07:00, local.
DEFAULT_REMINDERS = [{"days_before": 2, "time": "09:00"}, {"days_before": 0, "time": "07:00"}]


class Workshop(Base):
    """A training session in Dakar with a capacity; producers sign up by message, the rest wait in line."""

    __tablename__ = "workshops"
    id: Mapped[int] = mapped_column(primary_key=True)
    title_fr: Mapped[str] = mapped_column(String(200))
    title_wo: Mapped[str | None] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(200))
    description_fr: Mapped[str | None] = mapped_column(Text)
    description_wo: Mapped[str | None] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    location: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int] = mapped_column(Integer)
    # None: registration stays open until the start.
    registration_deadline: Mapped[datetime | None]
    # [{"days_before": 2, "time": "09:00"}, …] in local time; None means DEFAULT_REMINDERS.
    reminders: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    registrations: Mapped[list[Registration]] = relationship(back_populates="workshop", order_by="Registration.id")

    def title(self, lang: str) -> str:
        """The title in `lang`, French when that language has none."""
        return getattr(self, f"title_{lang}", None) or self.title_fr

    def description(self, lang: str) -> str | None:
        return getattr(self, f"description_{lang}", None) or self.description_fr

    def reminder_offsets(self) -> list[dict[str, Any]]:
        return list(self.reminders) if self.reminders is not None else list(DEFAULT_REMINDERS)


class Registration(Base):
    """One producer's place at one workshop: registered, waitlisted, cancelled or attended."""

    __tablename__ = "registrations"
    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshops.id", ondelete="CASCADE"))
    producer_id: Mapped[int] = mapped_column(ForeignKey("producers.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))  # registered | waitlisted | cancelled | attended
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # The waitlist is served in the order of this time (set again when a cancelled producer signs up anew).
    queued_at: Mapped[datetime] = mapped_column(default=clock.now)
    # When the seat was given: a reminder goes to those holding a seat at the reminder's time.
    registered_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    workshop: Mapped[Workshop] = relationship(back_populates="registrations")
    producer: Mapped[Producer] = relationship()
    __table_args__ = (
        UniqueConstraint("workshop_id", "producer_id", name="uq_registrations_workshop_producer"),
        Index("ix_registrations_status", "workshop_id", "status", "queued_at"),
    )


class PriceObservation(Base):
    """A price seen by staff for a product on a market and a day, in whole F CFA per unit."""

    __tablename__ = "price_observations"
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    price: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(20))
    market: Mapped[str] = mapped_column(String(120))
    observed_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    product: Mapped[Product] = relationship()
    __table_args__ = (Index("ix_price_observations_latest", "product_id", "market", "observed_on"),)


class Broadcast(Base):
    """A message from the staff to an audience of producers, sent now or later by the scheduler."""

    __tablename__ = "broadcasts"
    id: Mapped[int] = mapped_column(primary_key=True)
    text_fr: Mapped[str | None] = mapped_column(Text)
    text_wo: Mapped[str | None] = mapped_column(Text)
    text_en: Mapped[str | None] = mapped_column(Text)
    # {"cooperative_id": 3, "product": "yaourt", "language": "wo"}: every key optional, all must match.
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    send_at: Mapped[datetime] = mapped_column(default=clock.now)
    status: Mapped[str] = mapped_column(String(12), default="scheduled")  # scheduled | enqueued
    enqueued_at: Mapped[datetime | None]
    recipients: Mapped[int | None]  # how many outbox items it made
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    __table_args__ = (Index("ix_broadcasts_due", "status", "send_at"),)

    def text(self, lang: str) -> str:
        """The text in `lang`: French, then any language given, when that one is missing."""
        return (getattr(self, f"text_{lang}", None) or self.text_fr or self.text_wo or self.text_en or "")


# --- orders -----------------------------------------------------------------------------------


class Order(Base):
    """An order from the boutique to one cooperative; the first of its producers to say yes takes it."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    # CMD-0001…: written from the id right after the insert, so two orders created at once never share one.
    reference: Mapped[str | None] = mapped_column(String(20), unique=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[float]
    unit: Mapped[str] = mapped_column(String(20))
    due_date: Mapped[date]
    note: Mapped[str | None] = mapped_column(Text)
    # pending | accepted | partial | declined | delivered | cancelled | expired
    status: Mapped[str] = mapped_column(String(20), default="pending")
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("producers.id"))
    accepted_quantity: Mapped[float | None]
    accepted_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Goes up by one whenever what a producer would answer changes (taken, cancelled, quantity or date changed):
    # a WhatsApp button carries the revision it was sent with, so a tap on a stale button changes nothing.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    cooperative: Mapped[Cooperative] = relationship()
    product: Mapped[Product] = relationship()
    accepted_by: Mapped[Producer | None] = relationship()
    notifications: Mapped[list[OrderNotification]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderNotification.id")
    __table_args__ = (Index("ix_orders_cooperative_status", "cooperative_id", "status"),)


class OrderNotification(Base):
    """One producer told about one order, and what that producer answered."""

    __tablename__ = "order_notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    producer_id: Mapped[int] = mapped_column(ForeignKey("producers.id"), index=True)
    # None when the producer answered without having been alerted (joined the cooperative later).
    notified_at: Mapped[datetime | None]
    sent_via: Mapped[str | None] = mapped_column(String(20))  # whatsapp | template | sms | undeliverable
    answer: Mapped[str | None] = mapped_column(String(20))  # None | accepted | partial | declined | too_late
    quantity: Mapped[float | None]
    answered_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    order: Mapped[Order] = relationship(back_populates="notifications")
    producer: Mapped[Producer] = relationship()
    __table_args__ = (UniqueConstraint("order_id", "producer_id", name="uq_order_notifications_order_producer"),)


class LoginThrottle(Base):
    """Failed sign-ins in a row of one account (`kind` "account") or one client address ("address").

    Shared by every web worker and kept across restarts; `next_attempt_at` is when the next try is allowed.
    """

    __tablename__ = "login_throttles"
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)


class StaffSession(Base):
    """One signed-in dashboard session. The cookie holds a random token, this row its SHA-256 and its end;
    signing out deletes the row, so a copy of the cookie no longer opens anything."""

    __tablename__ = "staff_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ImportJob(Base):
    """A producers' CSV file being imported in chunks (ovop.domain.csv_import): the upload itself, how far the import
    has gone and the report of each row done. Any web worker can take the next chunk; `done` only moves
    forward by a conditional update, so a chunk is never imported twice. Deleted by the first upload a day or
    more after its last change."""

    __tablename__ = "import_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_by: Mapped[str] = mapped_column(String(80))
    filename: Mapped[str] = mapped_column(String(200), default="")
    content: Mapped[bytes] = mapped_column(LargeBinary)  # emptied once every row is done
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    ignored: Mapped[list] = mapped_column(JSON, default=list)
    reports: Mapped[str] = mapped_column(Text, default="")  # one JSON array per row done, a line each
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    finished_at: Mapped[datetime | None]
    __table_args__ = {"sqlite_autoincrement": True}  # a deleted job's number (its page's address) is never reused
