"""Producers: list and search, add and edit, opt-out state and last message, import from a CSV file."""
from __future__ import annotations

from flask import Response, jsonify, redirect, request, url_for
from sqlalchemy import func, select
from werkzeug.exceptions import RequestEntityTooLarge

from admin import csv_import
from admin.dashboard import _, bp, database, form_value, lang, notice, page, problem, wants_json
from admin.ui_text import reason, refusal
from bot import directory
from bot.directory import DirectoryError
from bot.models import Message, Producer

ID = f"int(min=1, max={directory.MAX_ID})"
PAGE_SIZE = 50
EXAMPLE = ("phone,name,cooperative,language,channel,products\r\n"
           "77 123 45 67,Awa Diop,GIE Takku Liggéey,wo,whatsapp,yaourt\r\n"
           "+221 76 555 44 33,Khady Sow,Union des transformatrices de Kaolack,fr,sms,huile_arachide beurre_arachide\r\n")


def _last_messages(session, producer_ids: list[int]) -> dict[int, Message]:
    """Each producer's latest message, in or out, in one query."""
    if not producer_ids:
        return {}
    latest = (select(func.max(Message.id)).where(Message.producer_id.in_(producer_ids))
              .group_by(Message.producer_id))
    return {message.producer_id: message for message in session.scalars(select(Message).where(Message.id.in_(latest)))}


@bp.get("/producers", endpoint="producers")
def producers_page():
    """Producers by name; `q` searches names and numbers, `cooperative_id` narrows, `page` pages by 50."""
    q = (request.args.get("q") or "").strip()[:200]
    cooperative_id = request.args.get("cooperative_id") or ""
    number = request.args.get("page", "1")
    number = int(number) if number.isascii() and number.isdigit() and 0 < int(number) < 10**6 else 1
    with database().transaction() as session:
        try:
            found = directory.producers(session, q=q or None,
                                        cooperative_id=directory.query_int("cooperative_id", cooperative_id))
            error = None
        except DirectoryError as refused:
            found, error = [], problem(refused)
        shown = found[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
        return page("producers.html", 422 if error else 200, producers=shown, total=len(found), q=q,
                    cooperative_id=cooperative_id, page_number=number, pages=max(1, -(-len(found) // PAGE_SIZE)),
                    cooperatives=directory.cooperatives(session), error=error,
                    last=_last_messages(session, [producer.id for producer in shown]))


def _fields(creating: bool) -> dict:
    """The producer form as the directory's fields."""
    cooperative = form_value("cooperative_id", 12)
    fields = {"phone": form_value("phone", 40), "name": form_value("name", 200) or None,
              "cooperative_id": directory.query_int("cooperative_id", cooperative) if cooperative else None,
              "language": form_value("language", 4), "channel": form_value("channel", 12)}
    products = [code[:40] for code in request.form.getlist("products")][:100]
    if products or not creating:
        fields["products"] = products
    if creating:  # chosen once, at creation (bot.directory.update_producer refuses a change)
        fields["sandbox"] = bool(form_value("sandbox", 5))
    return fields


def _form_page(producer: Producer | None, form, error: DirectoryError | None, status: int):
    with database().transaction() as session:
        current = directory.producer(session, producer.id) if producer is not None else None
        return page("producer_form.html", status, producer=current, form=form,
                    cooperatives=directory.cooperatives(session), products=directory.products(session),
                    languages=directory.LANGUAGES, channels=directory.CHANNELS,
                    error=problem(error) if error else None,
                    last=_last_messages(session, [current.id]).get(current.id) if current else None)


def _form_of(producer: Producer) -> dict:
    return {"phone": producer.phone, "name": producer.name or "", "cooperative_id": producer.cooperative_id or "",
            "language": producer.language, "channel": producer.channel,
            "products": [product.code for product in producer.products]}


@bp.route("/producers/new", methods=["GET", "POST"])
def new_producer():
    if request.method == "GET":
        return _form_page(None, {"language": "fr", "channel": "whatsapp"}, None, 200)
    try:
        with database().transaction() as session:
            created = directory.create_producer(session, _fields(creating=True))
            producer_id = created.id
    except DirectoryError as error:
        return _form_page(None, _posted(), error, 409 if isinstance(error, directory.Duplicate) else 422)
    notice("producers.created")
    return redirect(url_for("dashboard.edit_producer", producer_id=producer_id))


def _posted() -> dict:
    return {**request.form.to_dict(), "products": request.form.getlist("products")}


@bp.route(f"/producers/<{ID}:producer_id>", methods=["GET", "POST"])
def edit_producer(producer_id: int):
    with database().transaction() as session:
        producer = directory.producer(session, producer_id)
        form = _form_of(producer) if producer is not None else None
    if producer is None:
        return page("error.html", 404, message=_("producers.not_found"))
    if request.method == "GET":
        return _form_page(producer, form, None, 200)
    try:
        with database().transaction() as session:
            directory.update_producer(session, directory.producer(session, producer_id), _fields(creating=False))
    except DirectoryError as error:
        return _form_page(producer, _posted(), error, 409 if isinstance(error, directory.Duplicate) else 422)
    notice("producers.saved")
    return redirect(url_for("dashboard.edit_producer", producer_id=producer_id))


# --- CSV import ---------------------------------------------------------------------------------------------

def _report_json(report: csv_import.RowReport) -> dict:
    """A row's outcome with its message in the staff's language, e.g. "numéro invalide — « 12 » n'est pas…"."""
    message = _("import.kind." + report.kind)
    if report.detail and report.kind == "unknown_cooperative":
        message = reason(lang(), report.detail)
    elif report.detail and report.kind in ("bad_phone", "duplicate"):
        message += " — " + reason(lang(), report.detail)
    elif report.detail:
        message += " — " + refusal(lang(), report.field or "", report.detail)
    return {"line": report.line, "ok": report.ok, "kind": report.kind, "phone": report.phone, "name": report.name,
            "message": message}


def _uploaded() -> csv_import.Parsed:
    upload = request.files.get("file")
    if upload is None:
        raise csv_import.FileProblem("import.no_file")
    return csv_import.read(upload.stream.read(csv_import.MAX_BYTES + 1))


@bp.route("/producers/import", methods=["GET", "POST"], endpoint="import_producers")
def import_producers():
    """Without JavaScript: the whole file in one request, and its report."""
    if request.method == "GET":
        return page("producer_import.html", chunk=csv_import.CHUNK, columns=csv_import.COLUMNS)
    try:
        parsed = _uploaded()
    except csv_import.FileProblem as trouble:
        return page("producer_import.html", 422, chunk=csv_import.CHUNK, columns=csv_import.COLUMNS,
                    file_error=_(trouble.key, **trouble.params))
    with database().transaction() as session:
        reports = [_report_json(report) for report in csv_import.import_rows(session, parsed.rows)]
    return page("producer_import.html", chunk=csv_import.CHUNK, columns=csv_import.COLUMNS, reports=reports,
                ignored=parsed.ignored, created=sum(report["ok"] for report in reports))


@bp.post("/producers/import/check", endpoint="import_check")
def import_check():
    """With JavaScript, step 1: read the file and hand its rows back to the page."""
    try:
        parsed = _uploaded()
    except csv_import.FileProblem as trouble:
        return jsonify(error=_(trouble.key, **trouble.params)), 422
    return jsonify(rows=parsed.rows, total=len(parsed.rows), chunk=csv_import.CHUNK,
                   ignored=[_("import.ignored", columns=", ".join(parsed.ignored))] if parsed.ignored else [])


@bp.post("/producers/import/rows", endpoint="import_rows")
def import_rows():
    """With JavaScript, step 2, once per chunk: import these rows and report on each."""
    rows = csv_import.rows_from_json(request.get_json(silent=True))
    if rows is None:
        return jsonify(error=_("import.bad_chunk", chunk=csv_import.CHUNK)), 400
    with database().transaction() as session:
        reports = [_report_json(report) for report in csv_import.import_rows(session, rows)]
    return jsonify(reports=reports)


@bp.get("/producers/import/example.csv")
def import_example():
    return Response("\ufeff" + EXAMPLE, mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="producers-example.csv"'})


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_error):
    """A body above the limit set in auth._check_request: the import page says so, any other page too."""
    uploading = request.endpoint in ("dashboard.import_producers", "dashboard.import_check")
    message = _("import.too_big", megabytes=csv_import.MAX_BYTES // (1024 * 1024)) if uploading \
        else _("error.too_big")
    if wants_json():
        return jsonify(error=message), 413
    if uploading:
        return page("producer_import.html", 413, chunk=csv_import.CHUNK, columns=csv_import.COLUMNS,
                    file_error=message)
    return page("error.html", 413, message=message)
