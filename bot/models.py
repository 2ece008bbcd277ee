"""The producers' world as stored: cooperatives, products, producers, messages, the outbox, conversations."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table,
                        Text, TypeDecorator, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot import clock

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
    cooperative: Mapped[Cooperative | None] = relationship(back_populates="producers")
    products: Mapped[list[Product]] = relationship(secondary=producer_products, order_by=Product.code)


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
    # An undo is a new line pointing at the line it reverts.
    reverts_id: Mapped[int | None] = mapped_column(ForeignKey("stock_reports.id"))
    __table_args__ = (Index("ix_stock_reports_level", "cooperative_id", "product_id", "reported_at"),)
