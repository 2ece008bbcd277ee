"""Broadcasts: a text per language to an audience, with the server's preview of who gets it and what SMS cost."""
from __future__ import annotations

from datetime import datetime

from flask import current_app, jsonify, redirect, request, url_for
from sqlalchemy import func, select

from ovop.web.dashboard import _, bp, database, form_moment, form_value, notice, page, problem
from ovop.domain import broadcasts, directory, schemas
from ovop.core import clock
from ovop.web import paging
from ovop.core.errors import Invalid, Refusal
from ovop.language.i18n import LANGUAGES

PAGE_SIZE = 50  # broadcasts a page


def _audience(values) -> dict:
    """The audience as broadcasts.check_audience takes it, from form or JSON values."""
    audience = {}
    cooperative = str(values.get("cooperative_id") or "").strip()[:12]
    if cooperative:
        audience["cooperative_id"] = schemas.value("audience.cooperative_id", schemas.Id, cooperative)
    for key in ("product", "language"):
        value = str(values.get(key) or "").strip()[:40]
        if value:
            audience[key] = value
    return audience


def _fields() -> dict:
    texts = {code: request.form.get(f"text_{code}", "")[:broadcasts.MAX_TEXT + 100] for code in LANGUAGES}
    fields = {"text": {code: value for code, value in texts.items() if value.strip()},
              "audience": _audience({key: request.form.get(f"audience_{key}") for key in
                                     ("cooperative_id", "product", "language")})}
    if form_value("when", 10) == "later":
        fields["send_at"] = form_moment("send_at", required=True)
    return fields


def _page(form, error: Refusal | None = None, status: int = 200, preview: dict | None = None):
    window, refused_link = paging.asked(broadcasts.BROADCAST_KEYS, PAGE_SIZE)
    with database().transaction() as session:
        cooperatives = directory.cooperatives(session)
        listed = broadcasts.broadcasts(session, window)
        return page("broadcasts.html", status, form=form, error=problem(error) if error else None,
                    preview=preview, broadcasts=listed,
                    pager=paging.pager("dashboard.broadcasts", listed, broadcasts.BROADCAST_KEYS, window,
                                       refused_link),
                    cooperatives=cooperatives, products=directory.products(session), languages=LANGUAGES,
                    max_text=broadcasts.MAX_TEXT, cooperative_names={c.id: c.name for c in cooperatives})


@bp.get("/broadcasts", endpoint="broadcasts")
def broadcasts_page():
    return _page({"when": "now"})


@bp.post("/broadcasts")
def send_broadcast():
    """`action=preview` shows the server's preview; otherwise store it, and queue it at once when it is for now."""
    try:
        fields = _fields()
        if form_value("action", 10) == "preview":
            with database().transaction() as session:
                preview = broadcasts.preview(session, fields, current_app.config)
            return _page(request.form, preview=preview)
        now = clock.now()
        if "send_at" in fields and datetime.fromisoformat(fields["send_at"]) <= now:  # as form_moment wrote it
            raise Invalid("send_at", "not_in_the_future")
        with database().transaction() as session:
            broadcast = broadcasts.create(session, fields, now)
            queued = broadcasts.enqueue(session, broadcast, now, current_app.config) if "send_at" not in fields \
                else None
    except Refusal as error:
        return _page(request.form, error, 422)
    if queued is None:
        notice("broadcasts.scheduled")
    else:
        notice("broadcasts.queued", count=queued)
    return redirect(url_for("dashboard.broadcasts"))


@bp.post("/broadcasts/preview")
def preview_broadcast():
    """The live preview (JSON): producers reached, and per language the SMS text, encoding and segments."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error=_("broadcasts.bad_preview")), 400
    try:
        texts = body.get("text") if isinstance(body.get("text"), dict) else {}
        texts = {code: str(texts.get(code) or "")[:broadcasts.MAX_TEXT + 100] for code in LANGUAGES}
        fields = {"text": {code: value for code, value in texts.items() if value.strip()},
                  "audience": _audience(body.get("audience") if isinstance(body.get("audience"), dict) else {})}
        with database().transaction() as session:
            if fields["text"]:
                return jsonify(broadcasts.preview(session, fields, current_app.config))
            audience = broadcasts.check_audience(session, fields["audience"])
            reached = broadcasts.audience_query(session, audience).order_by(None).subquery()
            return jsonify(producers=session.scalar(select(func.count()).select_from(reached)), languages={})
    except Refusal as error:
        return jsonify(error=problem(error)["message"], field=error.field), 422


def audience_text(audience: dict, cooperative_names: dict) -> str:
    """"all producers", or the criteria in words."""
    parts = []
    if audience.get("cooperative_id"):
        parts.append(cooperative_names.get(audience["cooperative_id"], f"#{audience['cooperative_id']}"))
    if audience.get("product"):
        parts.append(audience["product"])
    if audience.get("language"):
        parts.append(_(f"language.{audience['language']}"))
    return " · ".join(parts) or _("broadcasts.everyone")


bp.add_app_template_global(audience_text, "audience_text")
