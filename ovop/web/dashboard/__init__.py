"""The staff dashboard: server-rendered pages served from `/` (the login page), in French or English.

One blueprint; each area registers its pages on it from its own module (views_*.py), sign-in and CSRF live in
auth.py. Pages read and write through the same domain functions as the JSON API (ovop.domain.directory, ovop.domain.orders…),
so every rule stays in one place; a refusal from them is shown next to the form, never as a 500.
"""
from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_date
from babel.dates import format_timedelta
from babel.numbers import format_decimal
from flask import Blueprint, current_app, flash, render_template, request, session, url_for

from ovop.web.dashboard import ui_text
from ovop.core import clock
from ovop.core.db import Database
from ovop.core.errors import Invalid, Refusal
from ovop.language.i18n import format_datetime, format_money
from ovop.language.formats import quantity_text

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/dashboard-static")

# The menu, in order: (endpoint, label key). The simulator comes first: it is what a newcomer tries.
NAV = (("dashboard.simulator", "nav.simulator"), ("dashboard.overview", "nav.overview"),
       ("dashboard.orders", "nav.orders"), ("dashboard.workshops", "nav.workshops"),
       ("dashboard.prices", "nav.prices"), ("dashboard.producers", "nav.producers"),
       ("dashboard.inbox", "nav.inbox"), ("dashboard.messages", "nav.messages"),
       ("dashboard.broadcasts", "nav.broadcasts"), ("dashboard.costs", "nav.costs"))
BABEL_LOCALES = {"fr": "fr_SN", "en": "en_GM"}  # as ovop.language.i18n: Senegal's French, English with 24-hour times


def database() -> Database:
    return current_app.extensions["ovop"].db


def lang() -> str:
    """The staff member's interface language (fr unless they switched to en)."""
    chosen = session.get("lang")
    return chosen if chosen in ui_text.LANGUAGES else ui_text.DEFAULT


def timezone_name() -> str:
    return current_app.config["BOT_TIMEZONE"]


def _(key: str, **params) -> str:
    """A UI string in the current language (what templates call `_`)."""
    return ui_text.text(lang(), key, **params)


def problem(error: Refusal) -> dict:
    """A refusal as a page shows it: the field's label and the reason, in the UI language."""
    return {"field": error.field, "message": ui_text.refusal(lang(), error)}


def notice(key: str, **params) -> None:
    """A one-time message on the next page (after a redirect); the key is translated when shown."""
    flash({"key": key, "params": params})


def wants_json() -> bool:
    """True for the page's own fetch() calls, which want JSON answers, errors included."""
    return request.is_json or request.accept_mimetypes.best == "application/json"


def page(template: str, status: int = 200, **context):
    """Render a dashboard template with `status`."""
    return render_template(template, **context), status


def form_value(name: str, limit: int = 2000) -> str:
    """A form field as text, stripped and bounded (a browser never sends more; a script might)."""
    return (request.form.get(name) or "").strip()[:limit]


def form_number(name: str, *, whole: bool = False, required: bool = True) -> float | int | None:
    """A number typed in a form: "12", "12,5" or "1 500"; Invalid names the field otherwise."""
    raw = form_value(name, 40).replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace(",", ".")
    if not raw:
        if required:
            raise Invalid(name, "required")
        return None
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise Invalid(name, "not_an_integer" if whole else "not_a_number") from None
    if not whole and not math.isfinite(value):
        raise Invalid(name, "not_a_number")
    return value


def form_moment(name: str, *, required: bool = False) -> str | None:
    """A local date and time from an <input type=datetime-local>, as ISO 8601 with the service's UTC offset."""
    raw = form_value(name, 40)
    if not raw:
        if required:
            raise Invalid(name, "required")
        return None
    try:
        local = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(name, "not_a_datetime") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(timezone_name()))
    return local.isoformat()


def local_input(moment: datetime | None) -> str:
    """A moment as an <input type=datetime-local> value in the service's time zone."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(timezone_name())).strftime("%Y-%m-%dT%H:%M")


@bp.context_processor
def _template_globals():
    return {"_": _, "lang": lang(), "ui_languages": ui_text.LANGUAGES, "nav": NAV, "signed_in": auth.signed_in(),
            "csrf_token": auth.csrf_token, "csrf_field": auth.csrf_field, "in_section": _in_section}


def _in_section(endpoint: str) -> bool:
    """True when the page shown belongs to that menu entry (/producers/import is under /producers)."""
    root = url_for(endpoint)
    return request.path == root or request.path.startswith(root + "/")


# --- how values are written on the pages ------------------------------------------------------------------

@bp.app_template_filter("when")
def _when(moment: datetime | None) -> str:
    """A moment in local time, e.g. "lun. 7 déc. 10:00"; empty for none."""
    return format_datetime(moment, lang(), timezone_name()) if moment else ""


@bp.app_template_filter("day")
def _day(value: date | None) -> str:
    return babel_date(value, format="medium", locale=BABEL_LOCALES[lang()]) if value else ""


def short_day(moment: datetime | date) -> str:
    """A chart's axis date, e.g. "7 déc."."""
    return babel_date(moment, format="d MMM", locale=BABEL_LOCALES[lang()])


def number_text(value: float) -> str:
    """A number the local way, e.g. "1 500" (for chart axes)."""
    return format_decimal(value, format="#,##0.##", locale=BABEL_LOCALES[lang()])


@bp.app_template_filter("ago")
def _ago(moment: datetime | None) -> str:
    """How long ago, e.g. "il y a 3 jours"."""
    if moment is None:
        return ""
    return format_timedelta(moment - clock.now(), add_direction=True, locale=BABEL_LOCALES[lang()])


@bp.app_template_filter("money")
def _money(amount: int | None) -> str:
    return format_money(amount, lang()) if amount is not None else ""


@bp.app_template_filter("qty")
def _qty(quantity: float | None) -> str:
    return quantity_text(quantity)


@bp.app_template_filter("flash_text")
def _flash_text(message) -> str:
    if isinstance(message, dict):
        return _(message.get("key", ""), **(message.get("params") or {}))
    return str(message)


def csv_safe(value) -> str:
    """A cell that a spreadsheet will not run as a formula (=, +, -, @ at the start)."""
    cell = "" if value is None else str(value)
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


# The pages register themselves on `bp` when imported.
from ovop.web.dashboard import auth  # noqa: E402,F401  (sign-in, sign-out, CSRF, the failed-login limit)
from ovop.web.dashboard import overview as views_overview  # noqa: E402,F401
from ovop.web.dashboard import orders as views_orders  # noqa: E402,F401
from ovop.web.dashboard import workshops as views_workshops  # noqa: E402,F401
from ovop.web.dashboard import prices as views_prices  # noqa: E402,F401
from ovop.web.dashboard import producers as views_producers  # noqa: E402,F401
from ovop.web.dashboard import messages as views_messages  # noqa: E402,F401
from ovop.web.dashboard import broadcasts as views_broadcasts  # noqa: E402,F401
from ovop.web.dashboard import simulator as views_simulator  # noqa: E402,F401
from ovop.web.dashboard import inbox as views_inbox  # noqa: E402,F401
from ovop.web.dashboard import costs as views_costs  # noqa: E402,F401
