"""Producers: list and search, add and edit, opt-out state and last message, import from a CSV file."""
from __future__ import annotations

from flask import Response, jsonify, make_response, redirect, request, session as signed, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import defer
from werkzeug.exceptions import RequestEntityTooLarge

from ovop.core import keyset
from ovop.domain import csv_import
from ovop.web import paging
from ovop.web.dashboard import _, bp, database, form_value, lang, notice, page, problem, wants_json
from ovop.web.dashboard.ui_text import reason, refusal
from ovop.domain import directory, schemas
from ovop.core.errors import Duplicate, Invalid, Refusal
from ovop.models import ImportJob, Message, Producer

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
    """Producers by name, PAGE_SIZE a page read from the database; `q` searches names and numbers,
    `cooperative_id` narrows."""
    q = (request.args.get("q") or "").strip()[:200]
    cooperative_id = request.args.get("cooperative_id") or ""
    window, refused_link = paging.asked(directory.PRODUCER_KEYS, PAGE_SIZE)
    with database().transaction() as session:
        try:
            query = schemas.parse_query(schemas.ProducerQuery, {"q": q, "cooperative_id": cooperative_id})
            shown = directory.producers(session, q=query.q, cooperative_id=query.cooperative_id, window=window)
            error = None
        except Refusal as refused:
            shown, error = keyset.Page(), problem(refused)
        pager = paging.pager("dashboard.producers", shown, directory.PRODUCER_KEYS, window, refused_link,
                             q=q, cooperative_id=cooperative_id)
        return page("producers.html", 422 if error else 200, producers=shown, q=q, pager=pager,
                    cooperative_id=cooperative_id, cooperatives=directory.cooperatives(session), error=error,
                    last=_last_messages(session, [producer.id for producer in shown]))


def _fields(creating: bool) -> dict:
    """The producer form as the directory's fields."""
    cooperative = form_value("cooperative_id", 12)
    fields = {"phone": form_value("phone", 40), "name": form_value("name", 200) or None,
              "cooperative_id": schemas.value("cooperative_id", schemas.Id, cooperative) if cooperative else None,
              "language": form_value("language", 4), "channel": form_value("channel", 12)}
    products = [code[:40] for code in request.form.getlist("products")][:100]
    if products or not creating:
        fields["products"] = products
    if creating:  # chosen once, at creation (ovop.domain.directory.update_producer refuses a change)
        fields["sandbox"] = bool(form_value("sandbox", 5))
    return fields


def _form_page(producer: Producer | None, form, error: Refusal | None, status: int):
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
    except Refusal as error:
        return _form_page(None, _posted(), error, 409 if isinstance(error, Duplicate) else 422)
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
    except Refusal as error:
        return _form_page(producer, _posted(), error, 409 if isinstance(error, Duplicate) else 422)
    notice("producers.saved")
    return redirect(url_for("dashboard.edit_producer", producer_id=producer_id))


# --- CSV import ---------------------------------------------------------------------------------------------

def _report_json(report: csv_import.RowReport) -> dict:
    """A row's outcome with its message in the staff's language, e.g. "numéro invalide — « 12 » n'est pas…"."""
    message = _("import.kind." + report.kind)
    if report.code and report.kind == "unknown_cooperative":
        message = reason(lang(), report.code, report.params)
    elif report.code and report.kind in ("bad_phone", "duplicate"):
        message += " — " + reason(lang(), report.code, report.params)
    elif report.code:
        message += " — " + refusal(lang(), Invalid(report.field or "", report.code, **(report.params or {})))
    return {"line": report.line, "ok": report.ok, "kind": report.kind, "phone": report.phone, "name": report.name,
            "message": message}


def _upload() -> tuple[bytes, str]:
    """The uploaded file's bytes (one more than the limit at most, so `read` can say it is too big) and name."""
    upload = request.files.get("file")
    if upload is None:
        raise csv_import.FileProblem("import.no_file")
    return upload.stream.read(csv_import.MAX_BYTES + 1), upload.filename or ""


def _uploaded() -> csv_import.Parsed:
    return csv_import.read(_upload()[0])


def _import_page(status: int = 200, **context):
    """The import form, with the imports left unfinished (a closed tab) to go back to."""
    with database().transaction() as session:
        unfinished = list(session.execute(
            select(ImportJob.id, ImportJob.filename, ImportJob.done, ImportJob.total, ImportJob.updated_at)
            .where(ImportJob.finished_at.is_(None)).order_by(ImportJob.id.desc()).limit(10)))
    return page("producer_import.html", status, chunk=csv_import.CHUNK, columns=csv_import.COLUMNS,
                unfinished=unfinished, **context)


@bp.route("/producers/import", methods=["GET", "POST"], endpoint="import_producers")
def import_producers():
    """Without JavaScript: the file becomes an import job, imported chunk by chunk by its progress page."""
    if request.method == "GET":
        return _import_page()
    try:
        data, filename = _upload()
        with database().transaction() as session:
            job = csv_import.start_job(session, data, filename, str(signed.get("user") or ""))
            job_id = job.id
    except csv_import.FileProblem as trouble:
        return _import_page(422, file_error=_(trouble.key, **trouble.params))
    return redirect(url_for("dashboard.import_job", job_id=job_id), 303)


@bp.get(f"/producers/import/<{ID}:job_id>", endpoint="import_job")
def import_job(job_id: int):
    """One import: each load imports the next chunk and refreshes itself; the row-by-row report at the end."""
    imported = csv_import.advance(database(), job_id)
    with database().transaction() as session:
        job = session.scalar(select(ImportJob).where(ImportJob.id == job_id).options(defer(ImportJob.content)))
    if job is None:
        return page("error.html", 404, message=_("import.job_gone"))
    context = {"job": job, "created": job.created, "ignored": job.ignored, "unfinished": []}
    if job.finished_at is None:
        response = make_response(page("producer_import.html", chunk=csv_import.CHUNK, columns=csv_import.COLUMNS,
                                      **context))
        # Straight on after a chunk done here; a little later when another request holds the next one.
        response.headers["Refresh"] = "0" if imported else "2"
        return response
    reports = [_report_json(report) for report in csv_import.job_reports(job)]
    return page("producer_import.html", chunk=csv_import.CHUNK, columns=csv_import.COLUMNS, reports=reports,
                **context)


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
        return _import_page(413, file_error=message)
    return page("error.html", 413, message=message)
