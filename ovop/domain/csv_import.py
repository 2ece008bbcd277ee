"""Producers from a CSV file: read whatever was uploaded without ever failing, then import row by row.

`read` turns the uploaded bytes into rows, or raises one FileProblem saying what is wrong with the file as a
whole (empty, binary, an Excel workbook, too big, no phone column…). `import_rows` creates each row's producer
through ovop.domain.directory (which checks it with schemas.NewProducer, as for the API) in its own savepoint, so a bad row is reported and the others still land.

Long files (up to MAX_ROWS rows; creating a producer takes a few milliseconds, so 20,000 rows take far longer
than a request may: gunicorn's --timeout 14, a proxy's read timeout) are imported a chunk per request, and
nothing of an import lives in a server process:
- without JavaScript, the upload becomes an ImportJob row holding the file itself (`start_job`) and the answer is
  a redirect to its progress page; each load of that page imports the next chunk (`advance`: at most PAGE_CHUNK
  rows or PAGE_BUDGET seconds) and refreshes itself until the report is complete. Any web worker can take the
  next chunk; the chunk is claimed by a conditional update of `done` in the transaction that imports it, so a
  reload, a second tab or two workers racing never import a row twice, and a worker killed mid-chunk leaves
  nothing of it behind (the next load does it again);
- with JavaScript, the browser gets the rows back from a first request and sends them again in chunks of CHUNK
  rows, drawing a progress bar as each chunk's report comes back (static/dashboard.js); the server checks every
  row it is sent as if it came from anywhere.
"""
from __future__ import annotations

import csv
import io
import json
import re
import time
import unicodedata
from dataclasses import astuple, dataclass, field
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ovop.core import clock
from ovop.domain import directory
from ovop.core.db import Database
from ovop.core.errors import Duplicate, Invalid, Refusal
from ovop.models import Cooperative, ImportJob

COLUMNS = ("phone", "name", "cooperative", "language", "channel", "products")
# Headers as staff write them, after folding (lowercase, no accents, no spaces, dashes or underscores).
HEADERS = {
    "phone": "phone", "telephone": "phone", "tel": "phone", "numero": "phone", "mobile": "phone",
    "portable": "phone", "name": "name", "nom": "name", "prenometnom": "name", "nomcomplet": "name",
    "cooperative": "cooperative", "coop": "cooperative", "gie": "cooperative", "cooperativeid": "cooperative",
    "language": "language", "langue": "language", "lang": "language", "channel": "channel", "canal": "channel",
    "products": "products", "produits": "products", "product": "products", "produit": "products",
}
LANGUAGE_WORDS = {"francais": "fr", "french": "fr", "wolof": "wo", "anglais": "en", "english": "en"}
CHANNEL_WORDS = {"wa": "whatsapp", "whatsapp": "whatsapp", "sms": "sms", "texto": "sms"}
MAX_BYTES = 4 * 1024 * 1024
MAX_ROWS = 20_000
MAX_CELL = 500
CHUNK = 200  # rows per request of the JavaScript path
PAGE_CHUNK = 500  # rows one load of a job's progress page imports at most…
PAGE_BUDGET = 3.0  # …and seconds it spends on them (a slow database makes smaller chunks, never a timeout)
JOB_KEPT = timedelta(days=1)  # a job (its file, then its report) is deleted a day after its last change


class FileProblem(Exception):
    """What is wrong with a whole file: `key` is a UI string, `params` fill it."""

    def __init__(self, key: str, **params):
        super().__init__(key)
        self.key, self.params = key, params


@dataclass
class Parsed:
    rows: list[dict[str, str]]  # each with its source line under "line" and the COLUMNS found
    ignored: list[str] = field(default_factory=list)  # columns not understood, left out


@dataclass(frozen=True)
class RowReport:
    line: int
    ok: bool
    kind: str  # created | bad_phone | unknown_cooperative | duplicate | invalid | too_many_values
    field: str | None = None
    code: str | None = None  # the refusal's code (ovop.core.errors) and its parameters
    phone: str = ""
    name: str = ""
    params: dict | None = None


def fold(word: str) -> str:
    """Lowercase, accents and separators removed: "Téléphone " -> "telephone", "Coopérative_ID" -> "cooperativeid"."""
    stripped = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return re.sub(r"[\s_\-.'’]+", "", stripped.casefold())


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" is UTF-16 with a BOM
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise FileProblem("import.binary") from None
    if data.startswith(b"PK\x03\x04"):
        raise FileProblem("import.workbook")
    if b"\x00" in data:
        raise FileProblem("import.binary")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # a CSV saved by Excel on a French Windows
        if text.count("\ufffd") > max(3, len(text) // 100):
            raise FileProblem("import.binary") from None
    if any(unicodedata.category(char) == "Cc" and char not in "\r\n\t" for char in text):
        raise FileProblem("import.binary")
    return text


def _delimiter(header_line: str) -> str:
    """The separator of the header line: ";" (French Excel), tab, or ","."""
    counts = {mark: header_line.count(mark) for mark in (";", "\t", ",")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read(data: bytes) -> Parsed:
    """The rows of an uploaded CSV file, or FileProblem."""
    if len(data) > MAX_BYTES:
        raise FileProblem("import.too_big", megabytes=MAX_BYTES // (1024 * 1024))
    text = _decode(data)
    if not text.strip():
        raise FileProblem("import.empty")
    lines = io.StringIO(text.lstrip("\r\n"))
    reader = csv.reader(lines, delimiter=_delimiter(text.lstrip("\r\n").splitlines()[0]))
    try:
        header = next(reader)
        columns = [HEADERS.get(fold(cell)) for cell in header]
        if "phone" not in columns:
            raise FileProblem("import.no_phone_column", found=", ".join(cell.strip() for cell in header)[:200],
                              expected=", ".join(COLUMNS))
        repeated = sorted({name for name in columns if name and columns.count(name) > 1})
        if repeated:
            raise FileProblem("import.repeated_column", column=repeated[0])
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise FileProblem("import.too_many_rows", limit=MAX_ROWS)
            row = {name: cell.strip()[:MAX_CELL] for name, cell in zip(columns, cells) if name}
            row["line"] = reader.line_num
            if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header):]):
                row["too_many_values"] = "1"
            rows.append(row)
    except csv.Error as error:
        raise FileProblem("import.unreadable", line=reader.line_num, reason=str(error)) from None
    if not rows:
        raise FileProblem("import.no_rows")
    ignored = [cell.strip() for cell, name in zip(header, columns) if not name and cell.strip()]
    return Parsed(rows, ignored)


def cooperative_index(session: Session) -> dict[str, int]:
    """Cooperative ids by folded name and by id written as text."""
    index = {}
    for coop_id, name in session.execute(select(Cooperative.id, Cooperative.name)):
        index[fold(name)] = coop_id
        index[str(coop_id)] = coop_id
    return index


def fields_of(row: dict[str, str], cooperatives: dict[str, int]) -> dict:
    """The directory's fields for one row; blank cells take the directory's defaults."""
    fields: dict = {"phone": row.get("phone", "")}
    if row.get("name"):
        fields["name"] = row["name"]
    if row.get("cooperative"):
        found = cooperatives.get(fold(row["cooperative"]))
        if found is None:
            raise Invalid("cooperative", "unknown_cooperative_name", name=row["cooperative"])
        fields["cooperative_id"] = found
    if row.get("language"):
        word = fold(row["language"])
        fields["language"] = LANGUAGE_WORDS.get(word, word)
    if row.get("channel"):
        word = fold(row["channel"])
        fields["channel"] = CHANNEL_WORDS.get(word, word)
    if row.get("products"):
        fields["products"] = [code for code in re.split(r"[\s,;|/]+", row["products"].lower()) if code]
    return fields


def _kind(error: Refusal) -> str:
    if isinstance(error, Duplicate):
        return "duplicate"
    return {"phone": "bad_phone", "cooperative": "unknown_cooperative"}.get(error.field, "invalid")


def import_rows(session: Session, rows: list[dict[str, str]], deadline: float | None = None) -> list[RowReport]:
    """Create a producer per row, each in a savepoint; one report per row, in order.

    With a `deadline` (a time.monotonic() value) it stops once that is past, after one row at least: the reports
    then cover the first rows only."""
    cooperatives = cooperative_index(session)
    reports = []
    for row in rows:
        if deadline is not None and reports and time.monotonic() > deadline:
            break
        line, phone, name = int(row.get("line") or 0), row.get("phone", ""), row.get("name", "")
        if row.get("too_many_values"):
            reports.append(RowReport(line, False, "too_many_values", phone=phone, name=name))
            continue
        try:
            with session.begin_nested():
                directory.create_producer(session, fields_of(row, cooperatives))
        except Refusal as error:
            reports.append(RowReport(line, False, _kind(error), error.field, error.code, phone, name, error.params))
            continue
        except IntegrityError:  # the same number added by someone else at this very moment
            reports.append(RowReport(line, False, "duplicate", "phone", None, phone, name))
            continue
        reports.append(RowReport(line, True, "created", phone=phone, name=name))
    return reports


def rows_from_json(payload) -> list[dict[str, str]] | None:
    """The rows a browser sent back for one chunk, checked: None when they are not what `read` made."""
    if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list) or len(payload["rows"]) > CHUNK:
        return None
    rows = []
    for row in payload["rows"]:
        if not isinstance(row, dict):
            return None
        clean = {key: str(value)[:MAX_CELL] for key, value in row.items()
                 if key in COLUMNS + ("too_many_values",) and isinstance(value, (str, int))}
        line = row.get("line")
        clean["line"] = line if isinstance(line, int) and not isinstance(line, bool) and 0 < line < 10**9 else 0
        rows.append(clean)
    return rows


# --- import jobs (the path without JavaScript) --------------------------------------------------------------

def start_job(session: Session, data: bytes, filename: str, login: str) -> ImportJob:
    """A new import job holding the uploaded file, or FileProblem when the file cannot be imported at all.

    Jobs untouched for JOB_KEPT are deleted on the way (their report names producers and their numbers)."""
    parsed = read(data)
    now = clock.now()
    session.execute(delete(ImportJob).where(ImportJob.updated_at < now - JOB_KEPT)
                    .execution_options(synchronize_session=False))
    name = "".join(char for char in filename if char.isprintable()).strip()[:200]
    job = ImportJob(created_by=login[:80], filename=name, content=data, total=len(parsed.rows), done=0, created=0,
                    ignored=parsed.ignored, reports="", created_at=now, updated_at=now)
    session.add(job)
    session.flush()
    return job


def advance(db: Database, job_id: int, *, limit: int = PAGE_CHUNK, budget: float = PAGE_BUDGET) -> int:
    """Import the job's next rows (at most `limit`, for about `budget` seconds) in one transaction; how many.

    0 when the job is gone, finished, or someone else took these rows first. The claim is the conditional update
    of `done` from the value read: on PostgreSQL a racing transaction waits on the row and then finds `done`
    moved, on SQLite transactions are serialised (BEGIN IMMEDIATE); the loser imports nothing."""
    with db.transaction() as session:
        job = session.get(ImportJob, job_id)
        if job is None or job.finished_at is not None:
            return 0
        start, now = job.done, clock.now()
        claimed = session.execute(
            update(ImportJob).where(ImportJob.id == job_id, ImportJob.done == start, ImportJob.finished_at.is_(None))
            .values(updated_at=now).execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            return 0
        try:
            rows = read(job.content).rows
        except FileProblem:  # the file was read at upload; only a change of the rules since can get here
            rows = []
        reports = import_rows(session, rows[start:start + limit], deadline=time.monotonic() + budget)
        end = start + len(reports)
        finished = end >= len(rows)
        lines = "".join(json.dumps(astuple(report), ensure_ascii=False) + "\n" for report in reports)
        values = {"done": end, "created": ImportJob.created + sum(report.ok for report in reports),
                  "reports": ImportJob.reports + lines, "updated_at": now}
        if finished:  # the file is no longer needed: the report keeps each row's line, number and name
            values.update(finished_at=now, content=b"")
        session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values)
                        .execution_options(synchronize_session=False))
        return len(reports)


def job_reports(job: ImportJob) -> list[RowReport]:
    """The report of each row the job has done, in order."""
    return [RowReport(*json.loads(line)) for line in job.reports.split("\n") if line]
