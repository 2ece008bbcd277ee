"""Delivery status from Twilio's callbacks and the SMS gateway's events: a status only moves forward, whatever order
they arrive in."""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ovop.core import clock
from ovop.core.db import Database
from ovop.language.i18n import fold_gsm7
from ovop.models import Message, OutboxItem, Producer
from ovop.messaging.transport import OPTED_OUT_CODE, OUTSIDE_WINDOW_CODE

# Callbacks arrive out of order ("sent" after "delivered"); the rank decides which one stands.
RANK = {
    "accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4,
    "undelivered": 5, "failed": 5, "delivered": 6, "read": 7, "canceled": 5,
}


def record(db: Database, sid: str, status: str, error_code: int | None) -> bool:
    """Store a callback for message `sid`; True when it moved the message forward."""
    with db.transaction() as session:
        return record_in(session, sid, status, error_code)


def record_in(session: Session, sid: str, status: str, error_code: int | None) -> bool:
    """`record` in the caller's transaction (the SMS gateway's webhook notes the event id in the same one)."""
    status = status.strip().lower()
    rank = RANK.get(status)
    if rank is None:
        return False
    now = clock.now()
    # Only a message we sent has a delivery status: a producer's own message keeps "received", whatever a
    # callback naming its sid says.
    ours = (Message.provider_sid == sid, Message.direction == "out")
    # One conditional update: two callbacks racing cannot move a status backwards.
    moved = session.execute(
        update(Message).where(*ours, Message.status_rank < rank)
        .values(status=status, status_rank=rank, error_code=error_code, updated_at=now)).rowcount == 1
    if error_code == OPTED_OUT_CODE:
        phone = session.scalar(select(Message.phone).where(*ours))
        if phone:
            session.execute(update(Producer).where(Producer.phone == phone, Producer.opted_out.is_(False))
                            .values(opted_out=True, opted_out_at=now))
    if error_code == OUTSIDE_WINDOW_CODE:
        _resend_by_sms(session, sid, now)
    return moved


def _resend_by_sms(session, sid: str, now) -> None:
    """WhatsApp refused free text outside the 24 h window after accepting it: the item goes again by SMS.

    Conditional on the item still being the WhatsApp one that was sent, so a repeated callback re-queues
    it once; the sender then sends it by SMS (or fails it for the staff when no SMS sender exists).
    """
    item_id = session.scalar(select(Message.outbox_item_id).where(Message.provider_sid == sid,
                                                                  Message.direction == "out"))
    item = session.get(OutboxItem, item_id) if item_id else None
    if item is None or item.channel != "whatsapp" or item.content_sid or not item.body:
        return
    session.execute(update(OutboxItem)
                    .where(OutboxItem.id == item.id, OutboxItem.channel == "whatsapp",
                           OutboxItem.status == "sent")
                    .values(channel="sms", body=fold_gsm7(item.body), status="pending", not_before=now,
                            provider_sid=None, last_error="WhatsApp 63016: outside the 24 h window; resent by SMS"))
