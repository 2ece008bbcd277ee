"""The staff inbox: producers handed to a person (ovop.conversation.handoff), their thread with photos and voice
notes, a reply box and a close button; and the stored media files themselves, for signed-in staff."""
from __future__ import annotations

from flask import abort, current_app, g, redirect, request, session, url_for

from ovop.conversation import handoff
from ovop.core.errors import Refusal
from ovop.domain import directory, schemas
from ovop.models import MessageMedia
from ovop.web import media_files, paging
from ovop.web.dashboard import _, auth, bp, database, notice, page, problem
from ovop.web.dashboard.simulator import Bubble

LIMIT = 50  # conversations a page
MAX_ID = directory.MAX_ID
REFUSED = {"opted out": "inbox.refused.opted_out", "no channel": "inbox.refused.no_channel",
           "no open": "inbox.refused.no_open"}


NO_MENU = frozenset({"dashboard.static", "dashboard.media_file"})


@bp.before_request
def _count_unread():
    """The menu's count (producer messages in open conversations staff have not opened), read before the page
    opens its own transaction, for a signed-in page only."""
    if request.method == "GET" and request.endpoint not in NO_MENU and auth.signed_in():
        with database().transaction() as db_session:
            g.inbox_unread = handoff.unread(db_session)


@bp.context_processor
def _inbox_globals():
    return {"inbox_unread": lambda: g.get("inbox_unread", 0)}


@bp.get("/inbox", endpoint="inbox")
def inbox_page():
    """Open conversations, the latest message first (`?status=closed` for the closed ones)."""
    status = "closed" if request.args.get("status") == "closed" else "open"
    window, refused_link = paging.asked(handoff.INBOX_KEYS, LIMIT)
    with database().transaction() as db_session:
        found = handoff.conversations(db_session, status, window)
        pager = paging.pager("dashboard.inbox", found, handoff.INBOX_KEYS, window, refused_link,
                             status=status if status == "closed" else None)
        return page("inbox.html", conversations=found, showing=status, pager=pager)


@bp.get(f"/inbox/<int(min=1, max={MAX_ID}):producer_id>", endpoint="inbox_conversation")
def conversation_page(producer_id: int):
    """One producer's conversation; opening it marks it read."""
    return _show(producer_id)


def _show(producer_id: int, status: int = 200, error: dict | None = None, text: str = ""):
    """The conversation page (marked read), with a refusal next to the reply box when there is one."""
    with database().transaction() as db_session:
        try:
            conversation, messages = handoff.read(db_session, producer_id)
        except handoff.InboxRefusal:
            notice("inbox.not_found")
            return redirect(url_for("dashboard.inbox"))
        g.inbox_unread = handoff.unread(db_session)  # the menu counts this conversation as read now
        return _conversation(conversation, messages, status, error, text)


def _conversation(conversation, messages, status: int = 200, error=None, text: str = ""):
    bubbles = [Bubble(mine=m.direction == "in", channel=m.channel, body=m.body or "", at=m.created_at,
                      status=m.status, kind=m.kind if m.direction == "out" else None, message=m, author=m.author)
               for m in messages]
    return page("inbox_conversation.html", status, conversation=conversation, producer=conversation.producer,
                bubbles=bubbles, error=error, text=text)


@bp.post(f"/inbox/<int(min=1, max={MAX_ID}):producer_id>/reply", endpoint="inbox_reply")
def reply(producer_id: int):
    text = (request.form.get("text") or "")[:4000]
    with database().transaction() as db_session:
        try:
            given = schemas.parse(schemas.StaffReply, {"text": text})
            handoff.reply(db_session, current_app.config, producer_id, given.text, _author())
            name = handoff.producer_of(db_session, producer_id).name or "#" + str(producer_id)
        except Refusal as refused:
            error = problem(refused)
        except handoff.InboxRefusal as refused:
            if refused.status == 404:
                notice("inbox.not_found")
                return redirect(url_for("dashboard.inbox"))
            error = {"field": "text", "message": _refusal_text(refused)}
        else:
            notice("inbox.sent", name=name)
            return redirect(url_for("dashboard.inbox_conversation", producer_id=producer_id))
    return _again(producer_id, error, text)


@bp.post(f"/inbox/<int(min=1, max={MAX_ID}):producer_id>/close", endpoint="inbox_close")
def close(producer_id: int):
    with database().transaction() as db_session:
        try:
            conversation = handoff.close(db_session, producer_id, _author())
            name = conversation.producer.name or "#" + str(producer_id)
        except handoff.InboxRefusal as refused:
            if refused.status == 404:
                notice("inbox.not_found")
            else:
                notice("inbox.refused.no_open")
            return redirect(url_for("dashboard.inbox"))
    notice("inbox.closed", name=name)
    return redirect(url_for("dashboard.inbox"))


def _again(producer_id: int, error: dict, text: str):
    """The conversation page again with the refusal next to the reply box (nothing was sent)."""
    return _show(producer_id, 422 if error.get("field") == "text" else 409, error, text)


def _refusal_text(refused: handoff.InboxRefusal) -> str:
    key = next((key for words, key in REFUSED.items() if words in refused.reason), None)
    return _(key) if key else refused.reason


def _author() -> str:
    user = session.get("user")
    return user if isinstance(user, str) and user else "staff"


@bp.get(f"/media/<int(min=1, max={MAX_ID}):media_id>", endpoint="media_file")
def media_file(media_id: int):
    """A stored photo, voice note or PDF, for signed-in staff only (the blueprint checks the session)."""
    with database().transaction() as db_session:
        response = media_files.send(current_app.config["MEDIA_DIR"], db_session.get(MessageMedia, media_id))
    if response is None:
        abort(404)
    return response
