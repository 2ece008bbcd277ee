"""The conversation engine (minimal): one inbound text -> replies. It never sends."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from bot.i18n import t
from bot.models import ConversationState, Producer


@dataclass
class Turn:
    session: Session
    producer: Producer
    state: ConversationState
    text: str
    now: datetime
    config: dict = field(default_factory=dict)


@dataclass
class Outcome:
    replies: list[str] = field(default_factory=list)


def handle(turn: Turn) -> Outcome:
    """Answer one message from a registered producer."""
    return Outcome(replies=[t("menu.main", turn.producer.language or "fr")])
