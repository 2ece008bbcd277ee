"""Delivery status from Twilio's callbacks: a status only moves forward, whatever order they arrive in."""
from __future__ import annotations

from sqlalchemy import select, update

from bot import clock
from bot.db import Database
from bot.models import Message, Producer
from bot.outbound import OPTED_OUT_CODE

# Callbacks arrive out of order ("sent" after "delivered"); the rank decides which one stands.
RANK = {
    "accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4,
    "undelivered": 5, "failed": 5, "delivered": 6, "read": 7, "canceled": 5,
}


def record(db: Database, sid: str, status: str, error_code: int | None) -> bool:
    """Store a callback for message `sid`; True when it moved the message forward."""
    status = status.strip().lower()
    rank = RANK.get(status)
    if rank is None:
        return False
    now = clock.now()
    with db.transaction() as session:
        # One conditional update: two callbacks racing cannot move a status backwards.
        moved = session.execute(
            update(Message).where(Message.provider_sid == sid, Message.status_rank < rank)
            .values(status=status, status_rank=rank, error_code=error_code, updated_at=now)).rowcount == 1
        if error_code == OPTED_OUT_CODE:
            phone = session.scalar(select(Message.phone).where(Message.provider_sid == sid))
            if phone:
                session.execute(update(Producer).where(Producer.phone == phone, Producer.opted_out.is_(False))
                                .values(opted_out=True, opted_out_at=now))
        return moved
