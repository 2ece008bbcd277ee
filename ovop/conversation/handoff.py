"""A person when the bot cannot help: the staff inbox, and what the bot says about photos and voice notes.

A staff conversation (`StaffConversation`) opens when the producer
- sends a voice note (reason "voice_note"),
- asks for a person, or writes a letter of questions the bot cannot answer (ovop.language.understand: "human";
  reason "asked"),
- is not understood twice in a row (reason "not_understood").
The producer is told once that the team will answer. While it is open (`ConversationState.handoff_id`, read with
the conversation's lock, so the check costs no statement) the bot answers only the global words in
`BOT_WORDS` (STOP above all); anything else is recorded for staff, counted as unread, and left unanswered.
Staff read, answer and close it (below: `read`, `reply`, `close`, used by the API and the dashboard); closing
gives the producer back to the bot.

A message that is only a photo, a document or a location gets a short thank-you, not the help text. A photo
sent during a stock report, or within PHOTO_WINDOW after one, belongs to that report (`stock_report_id`).
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from ovop.core import clock, keyset
from ovop.language.i18n import mark, t
from ovop.messaging.channels import UNDELIVERABLE
from ovop.messaging.media import kind_of
from ovop.messaging.notify import notify
from ovop.models import (ConversationState, Message, MessageMedia, OutboxItem, Producer, StaffConversation,
                         StockReport)

# The global words the bot still answers while a person has the conversation, and those that also close it.
BOT_WORDS = frozenset({"optout", "optout_ask", "optin", "language", "help"})
LEAVING_WORDS = frozenset({"menu"})
MISSES = "not_understood_in_a_row"  # kept in the conversation's memory between messages
MISSES_BEFORE_A_PERSON = 2
PHOTO_WINDOW = timedelta(minutes=10)
THANKS = {"photo": mark("media.received.photo"), "voice": mark("media.received.voice"),
          "document": mark("media.received.document"), "location": mark("media.received.location"),
          "file": mark("media.received.file")}


def holds(turn, word, answers_an_order: Callable[[Any], bool]) -> bool:
    """True when an open staff conversation takes this message: recorded and counted unread, no answer.

    Still for the bot: the global words of BOT_WORDS (an opt-out also closes the conversation: nobody may write
    to them now, flows/optout.py); MENU, by which the producer leaves the person for the bot; the answer to a
    question the bot asked (its open question, "stop?" or "which language?", or an order alert:
    `answers_an_order`). A conversation closed meanwhile lets the bot answer."""
    if not turn.state.handoff_id:
        return False
    text = (turn.text or "").strip()
    if word is not None and text:  # an empty message or a file alone reads as "help": here it is kept for staff
        if word.kind in LEAVING_WORDS:
            leave(turn, word.kind)
            return False
        if word.kind in BOT_WORDS:
            return False
    if text and ((turn.state.flow and turn.state.step) or answers_an_order(turn)):
        return False  # an answer to the bot's own open question (stop? which language?) or to an order alert
    bumped = turn.session.execute(
        update(StaffConversation)
        .where(StaffConversation.id == turn.state.handoff_id, StaffConversation.status == "open")
        .values(unread=StaffConversation.unread + 1, last_message_at=turn.now)
        .execution_options(synchronize_session=False))
    if bumped.rowcount == 0:
        turn.state.handoff_id = None
        return False
    turn.silent = True
    return True


def leave(turn, why: str) -> None:
    """The producer leaves the person (MENU), or may no longer be written to (STOP): the open conversation
    closes, and the producer is with the bot again."""
    if not turn.state.handoff_id:
        return
    turn.session.execute(update(StaffConversation)
                         .where(StaffConversation.id == turn.state.handoff_id, StaffConversation.status == "open")
                         .values(status="closed", closed_at=turn.now, closed_by=f"producer ({why.upper()})",
                                 unread=0)
                         .execution_options(synchronize_session=False))
    turn.state.handoff_id = None


def open_for(turn, reason: str, say: str | None = mark("handoff.opened")):
    """Open the producer's staff conversation (or join the open one) and tell them once; leaves any flow."""
    conversation = None
    if turn.state.handoff_id:
        conversation = turn.session.get(StaffConversation, turn.state.handoff_id)
    if conversation is None or conversation.status != "open":
        conversation = (_open_of(turn.session, turn.producer.id)
                        or _start(turn.session, turn.producer.id, reason, turn.now, acknowledged=False))
    conversation.unread = (conversation.unread or 0) + 1
    conversation.last_message_at = turn.now
    turn.state.handoff_id = conversation.id
    turn.data = {}
    if conversation.acknowledged or say is None:
        turn.silent = True
    else:
        turn.say(say)
        conversation.acknowledged = True
    return None, None


# --- media ------------------------------------------------------------------------------------------------

def media_only(turn) -> bool:
    """A photo, voice note, document or location with no text to read."""
    return bool(turn.media or turn.located) and not (turn.text or "").strip()


def receive_media(turn):
    """Thank the producer for what came without text; a voice note opens a staff conversation, a photo during
    a stock report joins the report. Returns the (flow, step) the conversation moves to."""
    kinds = [kind_of(content_type) for content_type in turn.media]
    if "voice" in kinds:
        return open_for(turn, "voice_note", say=THANKS["voice"])
    if "photo" in kinds:
        if turn.state.flow == "stock" and turn.state.step:
            # The report is still being asked about: the photo joins it when it is written (attach_photos).
            turn.data["photo_messages"] = [*turn.data.get("photo_messages", []), turn.message_id]
            turn.say(mark("media.photo_with_report"))
            return turn.state.flow, turn.state.step
        report_id = turn.session.scalar(
            select(StockReport.id).where(StockReport.producer_id == turn.producer.id,
                                         StockReport.reverts_id.is_(None), StockReport.source == "message",
                                         StockReport.reported_at >= turn.now - PHOTO_WINDOW)
            .order_by(StockReport.id.desc()).limit(1))
        if report_id is not None:
            _attach(turn, [turn.message_id], report_id)
            turn.say(mark("media.photo_with_report"))
            return turn.state.flow, turn.state.step
    kind = kinds[0] if kinds else "location"
    turn.say(THANKS[kind])
    return turn.state.flow, turn.state.step


def attach_photos(turn, report_id: int) -> None:
    """Photos sent while the stock report was being asked about join the report just written."""
    messages = turn.data.get("photo_messages") or []
    if messages:
        _attach(turn, messages, report_id)


def _attach(turn, message_ids: list[int], report_id: int) -> None:
    turn.session.execute(update(MessageMedia)
                         .where(MessageMedia.message_id.in_(message_ids), MessageMedia.content_type.like("image/%"))
                         .values(stock_report_id=report_id).execution_options(synchronize_session=False))


# --- not understood twice ---------------------------------------------------------------------------------

def take_misses(turn) -> int:
    """How many messages in a row were not understood before this one (kept out of the flow's memory)."""
    return int(turn.data.pop(MISSES, 0) or 0)


def after_answer(turn, misses: int, replies: list[str]) -> list[str]:
    """Count a plain "not understood"; the second in a row hands the producer to a person."""
    if turn.silent or turn.state.handoff_id or replies != [t("not_understood", turn.lang)]:
        return replies
    if misses + 1 >= MISSES_BEFORE_A_PERSON:
        turn.replies = []
        open_for(turn, "not_understood", say=mark("handoff.opened_not_understood"))
        turn.state.flow, turn.state.step, turn.state.data, turn.state.expires_at = None, None, {}, None
        return turn.replies
    turn.state.data = {**(turn.state.data or {}), MISSES: misses + 1}
    return replies


# --- the staff's side: the inbox, a reply, closing ------------------------------------------------------------

INBOX_KEYS = keyset.Order(keyset.desc(StaffConversation.last_message_at, datetime),
                          keyset.desc(StaffConversation.id, int))
THREAD_MESSAGES = 50
STAFF_REPLY = "staff_reply"


class InboxRefusal(Exception):
    """What staff asked cannot be done: `status` 404 (no such producer, or erased) or 409, and why in English."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def conversations(session: Session, status: str | None = None,
                  window: keyset.Window | None = None) -> keyset.Page:
    """Staff conversations, the latest message first; `status` open | closed | None (both)."""
    query = select(StaffConversation).options(selectinload(StaffConversation.producer))
    if status:
        query = query.where(StaffConversation.status == status)
    return keyset.fetch(session, query, INBOX_KEYS, window or keyset.Window(100))


def unread(session: Session) -> int:
    """Producer messages waiting in open conversations that staff have not opened (the menu's count)."""
    return int(session.scalar(select(func.coalesce(func.sum(StaffConversation.unread), 0))
                              .where(StaffConversation.status == "open")) or 0)


def producer_of(session: Session, producer_id: int) -> Producer:
    producer = session.get(Producer, producer_id)
    if producer is None or producer.deleted_at is not None:
        raise InboxRefusal(404, f"there is no producer with id {producer_id}")
    return producer


def current(session: Session, producer_id: int) -> StaffConversation | None:
    """The producer's open conversation, else their latest one."""
    return session.scalar(select(StaffConversation).where(StaffConversation.producer_id == producer_id)
                          .order_by((StaffConversation.status == "open").desc(), StaffConversation.id.desc())
                          .limit(1))


def read(session: Session, producer_id: int) -> tuple[StaffConversation, list[Message]]:
    """A producer's conversation and their latest messages (oldest first, with media); opening it marks it
    read."""
    producer_of(session, producer_id)
    conversation = current(session, producer_id)
    if conversation is None:
        raise InboxRefusal(404, f"producer {producer_id} has no staff conversation")
    if conversation.unread:
        conversation.unread = 0
    return conversation, thread(session, producer_id)


def thread(session: Session, producer_id: int, limit: int = THREAD_MESSAGES) -> list[Message]:
    latest = list(session.scalars(select(Message).where(Message.producer_id == producer_id)
                                  .options(selectinload(Message.media))
                                  .order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)))
    return latest[::-1]


def reply(session: Session, config: dict, producer_id: int, text: str, author: str,
          now: datetime | None = None) -> Message:
    """Send a staff member's text to the producer through the outbox and the channel policy (free WhatsApp
    text inside the 24 h window, else a template, else SMS). Opens a conversation (reason "staff") when none is
    open, so the producer's answer reaches staff. Refused (409) to a producer who opted out, or whom no channel
    reaches now; nothing is written then."""
    now = now or clock.now()
    producer = producer_of(session, producer_id)
    if producer.opted_out:
        raise InboxRefusal(409, "the producer opted out (STOP): nothing may be sent until they send START")
    conversation = _open_conversation(session, producer, now)
    key = f"staff-reply:{conversation.id}:{secrets.token_hex(8)}"
    notice = notify(session, config, producer, STAFF_REPLY, dedupe_key=key, key=mark("staff.reply"),
                    params={"text": text}, now=now)
    if notice is None:
        raise InboxRefusal(409, "the producer may not be written to")
    if notice.status == UNDELIVERABLE:
        raise InboxRefusal(409, "no channel reaches the producer now: outside WhatsApp's 24 h window, with no "
                                "template configured and no SMS")
    item_id, body = session.execute(select(OutboxItem.id, OutboxItem.body)
                                    .where(OutboxItem.dedupe_key == key)).one()
    message = Message(direction="out", channel=notice.channel, phone=producer.phone, producer_id=producer.id,
                      body=body or text, kind=STAFF_REPLY, author=author[:80], status="queued", status_rank=0,
                      outbox_item_id=item_id, created_at=now, updated_at=now)
    session.add(message)
    conversation.unread, conversation.acknowledged, conversation.last_message_at = 0, True, now
    session.flush()
    return message


def close(session: Session, producer_id: int, by: str, now: datetime | None = None) -> StaffConversation:
    """Close the producer's open conversation: the bot answers them again."""
    now = now or clock.now()
    producer_of(session, producer_id)
    conversation = _open_of(session, producer_id)
    if conversation is None:
        raise InboxRefusal(409, f"producer {producer_id} has no open conversation")
    conversation.status, conversation.closed_at, conversation.closed_by = "closed", now, by[:80]
    conversation.unread = 0
    # Back with the bot, with no question left open from before (a late "ok" must not answer an old "stop?").
    session.execute(update(ConversationState).where(ConversationState.handoff_id == conversation.id)
                    .values(handoff_id=None, flow=None, step=None, data={}, expires_at=None)
                    .execution_options(synchronize_session=False))
    session.flush()
    return conversation


def _open_conversation(session: Session, producer: Producer, now: datetime) -> StaffConversation:
    conversation = _open_of(session, producer.id)
    if conversation is not None:
        return conversation
    conversation = _start(session, producer.id, "staff", now, acknowledged=True)
    state = session.scalar(select(ConversationState).where(ConversationState.phone == producer.phone))
    if state is None:
        session.add(ConversationState(phone=producer.phone, producer_id=producer.id, data={}, version=0,
                                      updated_at=now, handoff_id=conversation.id))
    else:
        state.handoff_id = conversation.id
    return conversation


def _open_of(session: Session, producer_id: int) -> StaffConversation | None:
    """The producer's open conversation (at most one: a partial unique index), or None."""
    return session.scalar(select(StaffConversation).where(StaffConversation.producer_id == producer_id,
                                                          StaffConversation.status == "open"))


def _start(session: Session, producer_id: int, reason: str, now: datetime, *,
           acknowledged: bool) -> StaffConversation:
    """Open a conversation for the producer; `acknowledged`: the producer need not be told a person will answer."""
    conversation = StaffConversation(producer_id=producer_id, status="open", reason=reason, opened_at=now,
                                     last_message_at=now, unread=0, acknowledged=acknowledged)
    session.add(conversation)
    session.flush()
    return conversation
