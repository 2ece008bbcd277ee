"""The producers' CSV import without JavaScript: a file up to the limit (20,000 rows) becomes an import job that
its progress page imports chunk by chunk, each row once, whoever reloads the page or races for the next chunk;
a file that cannot be imported is refused with a 4xx at once, never a 500."""
from __future__ import annotations

import io
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ovop.domain import csv_import
from ovop.core import clock
from ovop.models import ImportJob, Producer
from tests.helpers import live_server
from tests.test_dashboard import PASSWORD, Staff, with_dashboard

ROWS = csv_import.MAX_ROWS  # the documented limit
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
REPORTED = re.compile(r'<tr class="(?:ok|bad)" data-kind="(\w+)"><td data-label="Ligne">(\d+)</td>'
                      r'<td data-label="Téléphone">([^<]*)</td>')


@pytest.fixture
def staff(demo) -> Staff:
    signed = Staff(with_dashboard(demo).test_client())
    assert signed.login().status_code == 302
    return signed


def number(n: int) -> str:
    """A distinct Senegalese mobile number per row, as staff type them: "78 500 01 23"."""
    digits = f"785{n:06d}"
    return f"{digits[:2]} {digits[2:5]} {digits[5:7]} {digits[7:]}"


def big_file(rows: int = ROWS) -> tuple[bytes, dict[int, str]]:
    """`rows` producer rows (file lines 2…rows+1) and the outcome expected of the odd ones, by file line."""
    lines, odd = ["phone,name,cooperative,language"], {}
    for n in range(rows):
        line = n + 2
        phone, coop, language = number(n), "GIE Takku Liggéey" if n % 2 else "", "wo"
        if n == 7:
            phone, odd[line] = "12", "bad_phone"
        elif n == 4_321:
            coop, odd[line] = "Coopérative qui n'existe pas", "unknown_cooperative"
        elif n == 9_999:
            phone, odd[line] = "+221 77 000 01 01", "duplicate"  # a demo producer's number
        elif n == rows - 1:
            phone, odd[line] = number(3), "duplicate"  # the same number as line 5, many chunks earlier
        elif n == 15_000:
            language, odd[line] = "klingon", "invalid"
        lines.append(f"{phone},Producteur {n},{coop},{language}")
    return ("\r\n".join(lines) + "\r\n").encode(), odd


def post_file(staff: Staff, content: bytes, filename="producteurs.csv"):
    return staff.client.post("/producers/import", data={"csrf_token": staff.token(),
                                                       "file": (io.BytesIO(content), filename)},
                             content_type="multipart/form-data")


def imported(db) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Producer).where(Producer.phone.like("+221785%")))


def test_a_file_of_20000_rows_imports_without_javascript_each_row_once(staff, db):
    content, odd = big_file()
    answer = post_file(staff, content)
    assert answer.status_code == 303  # at once: nothing is imported by the upload itself
    progress_page = answer.headers["Location"]
    assert re.fullmatch(r"/producers/import/\d+", progress_page)
    assert imported(db) == 0

    loads, seen = 0, []
    while True:
        page = staff.get(progress_page)
        loads += 1
        assert page.status_code == 200 and loads <= ROWS
        if "Refresh" not in page.headers:
            break
        assert page.headers["Refresh"] == "0"  # it did a chunk: straight on to the next
        done = int(re.search(r'<progress max="20000" value="(\d+)"', page.text).group(1))
        assert f"Lignes traitées : {done} / {ROWS}" in page.text
        seen.append(done)
    assert seen == sorted(seen) and len(set(seen)) == len(seen) and len(seen) >= ROWS // csv_import.PAGE_CHUNK - 1
    print(f"\n{ROWS} rows in {loads} page loads")

    report = REPORTED.findall(page.text)
    assert [int(line) for _, line, _ in report] == list(range(2, ROWS + 2))  # every row once, in order
    kinds = {int(line): kind for kind, line, _ in report}
    assert {line: kind for line, kind in kinds.items() if kind != "created"} == odd
    assert report[0][2] == number(0) and report[-1][2] == number(3)
    created = ROWS - len(odd)
    assert f"Ajoutés : {created} · Refusés : {len(odd)} · Lignes : {ROWS}" in page.text
    assert imported(db) == created
    with db.transaction() as session:
        phones = session.scalars(select(Producer.phone).where(Producer.phone.like("+221785%"))).all()
        assert len(phones) == len(set(phones)) == created
        last = session.scalar(select(Producer).where(Producer.phone == "+221785019997"))
        assert (last.name, last.language, last.cooperative.name) == ("Producteur 19997", "wo", "GIE Takku Liggéey")
        job = session.scalar(select(ImportJob))
        assert (job.done, job.created, job.content) == (ROWS, created, b"")  # the file is dropped once done

    again = staff.get(progress_page)  # a reload of the finished page imports nothing more
    assert again.status_code == 200 and "Refresh" not in again.headers
    assert REPORTED.findall(again.text) == report and imported(db) == created


def test_racing_workers_and_reloads_import_each_row_once(staff, db):
    content, odd = big_file(1_200)
    job_page = post_file(staff, content).headers["Location"]
    job_id = int(job_page.rsplit("/", 1)[1])
    errors = []

    def worker():
        try:
            while csv_import.advance(db, job_id, limit=50) or not finished():
                pass
        except Exception as error:  # noqa: BLE001 - any failure fails the test below
            errors.append(error)

    def finished() -> bool:
        with db.transaction() as session:
            return session.get(ImportJob, job_id).finished_at is not None

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(5):
        assert staff.get(job_page).status_code == 200  # a reloaded page joins the race
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    page = staff.get(job_page)
    report = REPORTED.findall(page.text)
    assert [int(line) for _, line, _ in report] == list(range(2, 1_202))
    assert {int(line): kind for kind, line, _ in report if kind != "created"} == odd
    assert imported(db) == 1_200 - len(odd)
    assert f"Ajoutés : {1_200 - len(odd)} · Refusés : {len(odd)} · Lignes : 1200" in page.text


def test_a_chunk_stops_at_its_time_budget_after_one_row_at_least(staff, db):
    content, odd = big_file(30)
    job_page = post_file(staff, content).headers["Location"]
    job_id = int(job_page.rsplit("/", 1)[1])
    assert csv_import.advance(db, job_id, budget=-1) == 1
    assert csv_import.advance(db, job_id, limit=10) == 10
    page = staff.get(job_page)  # the page takes what is left
    assert "Refresh" not in page.headers and len(REPORTED.findall(page.text)) == 30
    assert csv_import.advance(db, job_id) == 0 and imported(db) == 30 - len(odd)


def test_an_unfinished_import_is_listed_and_resumes(staff, db):
    post_file(staff, big_file(10)[0], filename="coop thies.csv")
    form = staff.get("/producers/import")
    assert "Imports non terminés" in form.text and "coop thies.csv" in form.text
    assert "Lignes traitées : 0 / 10" in form.text
    job_page = re.search(r'href="(/producers/import/\d+)"', form.text).group(1)
    assert "Ajoutés : 8 · Refusés : 2 · Lignes : 10" in staff.get(job_page).text
    assert "Imports non terminés" not in staff.get("/producers/import").text


@pytest.mark.parametrize("content, status, message", [
    (b"", 422, "Le fichier est vide."),
    (b"nom,ville\nAwa,Thies\n", 422, "il faut une colonne"),
    (b"phone\n\"" + b"7" * 200_000 + b"\"\n", 422, "CSV illisible"),
    (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, 422, "classeur Excel"),
    (big_file(ROWS + 1)[0], 422, f"Trop de lignes (au plus {ROWS})"),
    (b"phone,name\n" + b"771234567," + b"n" * (csv_import.MAX_BYTES + 10) + b"\n", 422, "Fichier trop gros"),
    (b"phone\n" + b"7" * (6 * 1024 * 1024), 413, "Fichier trop gros"),
], ids=["empty", "no-phone-column", "huge-field", "workbook", "over-the-row-limit", "over-4-MB", "over-5-MB"])
def test_a_file_that_cannot_be_imported_is_refused_at_once(staff, db, content, status, message):
    answer = post_file(staff, content)
    assert answer.status_code == status
    assert message in answer.get_data(as_text=True).replace("&#39;", "'")
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_an_unknown_or_forgotten_import_is_a_404_and_jobs_are_kept_a_day(staff, db):
    assert staff.get("/producers/import/999999").status_code == 404
    assert staff.get("/producers/import/99999999999").status_code == 404
    start = clock.now()
    with clock.frozen_at(start):
        old_page = post_file(staff, big_file(3)[0]).headers["Location"]
        staff.get(old_page)
    with clock.frozen_at(start + csv_import.JOB_KEPT + timedelta(minutes=1)):
        assert staff.login().status_code == 302  # a session lasts 12 h
        new = post_file(staff, b"phone\n70 999 88 77\n")
        assert new.status_code == 303, (new.status_code, new.headers.get("Location"))
        new_page = new.headers["Location"]
        gone = staff.get(old_page)
        assert gone.status_code == 404 and "effacé un jour après" in gone.text
        assert "Ajoutés : 1 · Refusés : 0 · Lignes : 1" in staff.get(new_page).text
    assert imported(db) == 3  # what the forgotten job imported stays


def test_the_import_pages_need_a_signed_in_staff_member(staff, dash_visitor):
    job_page = post_file(staff, big_file(3)[0]).headers["Location"]
    answer = dash_visitor.get(job_page)
    assert answer.status_code == 302 and "/?next=" in answer.headers["Location"]
    assert post_file(dash_visitor, big_file(3)[0]).status_code == 302


@pytest.fixture
def dash_visitor(demo) -> Staff:
    return Staff(with_dashboard(demo).test_client())


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: apt-get install chromium")
def test_a_browser_without_javascript_follows_the_import_to_its_report(demo, tmp_path):
    """Chromium with JavaScript off: the plain form post, then the page reloading itself chunk after chunk."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    content, odd = big_file(1_100)
    csv_file = tmp_path / "producteurs.csv"
    csv_file.write_bytes(content)
    with live_server(with_dashboard(demo)) as base, playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_context(java_script_enabled=False, locale="fr-FR", base_url=base).new_page()
            page.goto("/")
            page.fill("input[name=password]", PASSWORD)
            page.click("form button[type=submit]")
            page.goto("/producers/import")
            page.set_input_files("input[type=file]", str(csv_file))
            page.click("#import-form button[type=submit]")
            playwright_api.expect(page.locator("#import-report")).to_have_attribute("data-state", "done",
                                                                                    timeout=120_000)
            assert f"Ajoutés : {1_100 - len(odd)} · Refusés : {len(odd)} · Lignes : 1100" in \
                page.locator("#import-summary").inner_text()
            assert page.locator("#import-rows tr").count() == 1_100
        finally:
            browser.close()
