"""The conversation engine: one inbound text -> replies and a new conversation state. It never sends.

The caller (the webhook, `flask chat`, the simulator) owns the session and the transaction; the engine only
reads and adds rows through it, so the reply, the state and any domain change commit together or not at all.

Order of decisions for one message:
1. an expired conversation (idle longer than the timeout) starts again from the menu;
2. a tapped WhatsApp button or list item is routed on its payload (ovop.conversation.buttons); otherwise
   global words (help, menu, stop, start, language, cancel) work from any step;
3. while a person has the conversation (ovop.conversation.handoff), only STOP, START, language, help, MENU (which
   gives the producer back to the bot), the answer to a question the service asked (stop? an order alert) get an
   answer; anything else is kept for staff, unanswered; a photo, voice note, document or location without text
   is thanked for (a voice note opens the staff inbox); asking for a person is a global word;
4. inside a flow, the current step reads the message;
5. otherwise the message is understood on its own and routed to the flow that handles its meaning; a second
   "not understood" in a row hands the producer to a person.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ovop.language import understand
from ovop.language.i18n import t, tn
from ovop.conversation import buttons, global_words, handoff, routing
from ovop.conversation.flows import FLOWS
from ovop.conversation.flows.common import load_catalogue
from ovop.conversation.steps import REROUTE
from ovop.models import ConversationState, Producer


@dataclass
class Turn:
    """Everything a flow needs to answer one message, and what it answers."""

    session: Session
    producer: Producer
    state: ConversationState
    text: str
    now: datetime
    config: dict = field(default_factory=dict)
    message_id: int | None = None  # the inbound message being answered, for the records it causes
    channel: str = "sms"  # the channel the message came on: sms | whatsapp
    payload: str | None = None  # a tapped WhatsApp button's or list item's payload (ButtonPayload)
    media: tuple[str, ...] = ()  # the content types of the files that came with the message
    located: bool = False  # the message shares a location
    replies: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)  # the current flow's memory, saved with the state
    silent: bool = False  # set by a step that deliberately answers nothing
    _catalogue: understand.Catalogue | None = field(default=None, repr=False)

    @property
    def lang(self) -> str:
        return self.producer.language or "fr"

    def say(self, key: str, **params) -> None:
        """Add the reply `key` in the producer's language."""
        self.replies.append(t(key, self.lang, **params))

    def say_n(self, key: str, n: int, **params) -> None:
        """Add the plural reply `key` for `n` in the producer's language."""
        self.replies.append(tn(key, n, self.lang, **params))

    def catalogue(self) -> understand.Catalogue:
        """The product catalogue, built once per message."""
        if self._catalogue is None:
            self._catalogue = load_catalogue(self.session)
        return self._catalogue

    def product_codes(self) -> list[str]:
        """The codes of the products this producer makes (ovop.models.Producer.makes)."""
        return [product.code for product in self.producer.makes]


@dataclass
class Outcome:
    """What the engine decided: the replies to send back, in order."""

    replies: list[str] = field(default_factory=list)


def handle(turn: Turn) -> Outcome:
    """Answer one message from a registered producer."""
    state = turn.state
    if state.flow and state.expires_at and state.expires_at <= turn.now:
        state.flow, state.step, state.data = None, None, {}
    turn.data = dict(state.data or {})
    misses = handoff.take_misses(turn)

    word = understand.keyword(turn.text, turn.config["OPTOUT_WORDS"])
    if not turn.payload and handoff.holds(turn, word, routing.answers_an_order):  # kept for staff
        return Outcome(replies=[])
    if turn.payload:  # a tapped button or list item: routed on its payload, never its label (buttons.py)
        next_flow, next_step = buttons.handle(turn)
    elif handoff.media_only(turn):
        next_flow, next_step = handoff.receive_media(turn)
    elif word is not None and global_words.handles(word, turn):
        next_flow, next_step = global_words.handle(turn, word)
    elif state.flow in FLOWS and state.step:
        next_flow, next_step = FLOWS[state.flow].step(turn, state.step)
        if (next_flow, next_step) == REROUTE:  # not an answer to the open question: a new message
            turn.data = {}
            next_flow, next_step = routing.handle(turn)
    else:
        next_flow, next_step = routing.handle(turn)

    if next_flow is None or next_step is None:
        state.flow, state.step, state.data, state.expires_at = None, None, {}, None
    else:
        timeout = timedelta(minutes=turn.config["CONVERSATION_TIMEOUT_MINUTES"])
        state.flow, state.step, state.data = next_flow, next_step, dict(turn.data)
        state.expires_at = turn.now + timeout
    if turn.silent:
        return Outcome(replies=turn.replies)
    return Outcome(replies=handoff.after_answer(turn, misses, turn.replies or [t("not_understood", turn.lang)]))
