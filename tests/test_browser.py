"""The dashboard in a real browser (Debian's Chromium driven by Playwright): sign-in, an order answered from the
phone simulator, a workshop sign-up exported as CSV, CSRF, the SMS counter, the chunked import, screenshots."""
from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect, sync_playwright = playwright_api.expect, playwright_api.sync_playwright

from ovop.core import clock, config
from ovop.language import i18n
from ovop.domain import orders, prices, stock
from ovop.models import Producer, Registration, Workshop
from tests.helpers import live_server
from tests.test_dashboard import PASSWORD, with_dashboard

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parent / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason=f"{CHROMIUM} is missing: apt-get install chromium (no Playwright download)")]


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def site(demo):
    with live_server(with_dashboard(demo)) as base:
        yield base


def open_page(browser, base, viewport=PHONE):
    context = browser.new_context(viewport=viewport, locale="fr-FR", accept_downloads=True, base_url=base)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def sign_in(page, password=PASSWORD):
    page.goto("/")
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")


def say(page, text):
    """Type a message on the simulated phone and wait for the page to come back with it."""
    page.fill("#compose input[name=body]", text)
    page.press("#compose input[name=body]", "Enter")
    page.wait_for_selector(f"#thread .bubble.mine >> text={text}")


def test_a_wrong_password_is_refused(browser, site):
    page = open_page(browser, site)
    sign_in(page, "not-the-password")
    assert page.locator(".alert.error").inner_text() == "Utilisateur ou mot de passe incorrect."
    page.goto("/orders")
    assert page.url.startswith(f"{site}/?next=")


def test_an_order_reaches_the_simulated_phone_and_its_yes_accepts_it(browser, site):
    page = open_page(browser, site)
    sign_in(page)
    page.goto("/orders")
    page.select_option("select[name=cooperative_id]", label="GIE Takku Liggéey")
    page.select_option("select[name=product]", "yaourt")
    page.fill("input[name=quantity]", "30")
    page.fill("input[name=due_date]", (orders.local_today(config.defaults()) + timedelta(days=5)).isoformat())
    page.click("#order-form button[type=submit]")
    assert "CMD-0001" in page.locator("#orders").inner_text()

    page.click("nav.nav >> text=Simulateur")
    page.select_option("#sim-producer", "+221770000101")
    page.wait_for_selector("#thread .bubble.started")
    alert = page.locator("#thread .bubble.started").first.inner_text()
    assert "CMD-0001" in alert and "alerte commande" in alert.lower()
    say(page, "oui")
    assert "CMD-0001" in page.locator("#thread .bubble.theirs").last.inner_text()

    page.goto("/orders")
    row = page.locator("#order-1")
    assert row.get_attribute("data-status") == "accepted"
    assert "acceptée" in row.inner_text() and "Awa Ndiaye" in row.inner_text()


def test_a_workshop_sign_up_shows_in_registrations_and_the_csv(browser, site, db, tmp_path):
    page = open_page(browser, site)
    sign_in(page)
    page.goto("/simulator")
    page.select_option("#sim-producer", "+221760000103")
    say(page, "atelier")
    say(page, "1")
    assert "Inscription" in page.locator("#thread .bubble.theirs").last.inner_text() or \
        "inscrit" in page.locator("#thread .bubble.theirs").last.inner_text().lower()
    with db.transaction() as session:
        workshop_id = session.scalar(select(Registration.workshop_id))
    page.goto(f"/workshops/{workshop_id}")
    assert "Mariama Diallo" in page.locator("#registrations + table").inner_text()
    with page.expect_download() as download:
        page.click("#export-csv")
    saved = tmp_path / "attendees.csv"
    download.value.save_as(saved)
    content = saved.read_text(encoding="utf-8-sig")
    assert content.splitlines()[0].startswith("Nom,Téléphone")
    assert "Mariama Diallo,+221760000103" in content


def test_a_form_posted_without_its_csrf_token_is_refused(browser, site, db):
    page = open_page(browser, site)
    sign_in(page)
    page.goto("/prices")
    page.click("details.card > summary")
    page.fill("input[name=price]", "777")
    page.evaluate("document.querySelector('form[action=\"/prices\"] input[name=csrf_token]').remove()")
    page.click("form[action='/prices'] button[type=submit]")
    assert "CSRF" in page.locator(".alert.error").inner_text()
    page.goto("/prices?product=yaourt")
    assert "777" not in page.content()


def test_the_sms_counter_agrees_with_the_server(browser, site, db):
    from sqlalchemy import update
    from ovop.models import Producer
    with db.transaction() as session:  # the demo producers are sandbox producers, left out of broadcasts
        session.execute(update(Producer).values(sandbox=False))
    page = open_page(browser, site)
    sign_in(page)
    page.goto("/broadcasts")
    samples = ["Bonjour", "Réunion à Thiès… ça marche ?", "ŋ « guillemets » 1 500 F CFA", "€" * 90,
               "a" * 160, "a" * 161, "emoji 🙂 ok", "x" * 306 + "ê", "[{}]" * 40]
    for text in samples:
        folded = page.evaluate("t => window.ovopSms.fold(t)", text)
        assert folded == i18n.fold_gsm7(text)
        assert page.evaluate("t => window.ovopSms.segments(t)", folded) == i18n.sms_segments(folded)
        assert page.evaluate("t => window.ovopSms.segments(t)", text) == i18n.sms_segments(text)
        assert page.evaluate("t => window.ovopSms.encoding(t)", text) == i18n.sms_encoding(text)
    page.fill("textarea[name=text_fr]", "Réunion à Thiès ça marche ?")
    counter = page.locator("#counter-fr")
    assert "1 SMS (GSM-7)" in counter.inner_text() and "ç" in counter.inner_text()
    expect(page.locator("#audience-count")).to_contain_text("6")


def test_a_long_import_shows_its_progress_and_report(browser, site, tmp_path):
    lines = ["phone,name,cooperative"] + [f"77 400 {n // 100:02d} {n % 100:02d},Productrice {n},GIE Takku Liggéey"
                                         for n in range(450)] + ["12,Mauvais numéro,", "77 400 00 00,Doublon,"]
    csv_file = tmp_path / "producteurs.csv"
    csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page = open_page(browser, site)
    sign_in(page)
    page.goto("/producers/import")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-report")).to_have_attribute("data-state", "done", timeout=30_000)
    assert page.locator("#import-progress progress").get_attribute("max") == "452"
    summary = page.locator("#import-summary").inner_text()
    assert "Ajoutés : 450" in summary and "Refusés : 2" in summary
    assert page.locator("#import-rows tr.bad").count() == 2
    assert "numéro invalide" in page.locator("#import-rows tr[data-kind=bad_phone]").inner_text()


def _lively(db):
    """Stock reports over two months (a low one, a stale one) and yoghurt prices, for the screenshots."""
    rng, now = random.Random(7), clock.now()
    today = orders.local_today(config.defaults())
    with db.transaction() as session:
        for weeks, price in ((8, 450), (6, 450), (4, 475), (2, 525), (1, 500)):
            prices.record(session, {"product": "yaourt", "price": price,
                                    "observed_on": (today - timedelta(weeks=weeks)).isoformat()}, today)
        for producer in session.scalars(select(Producer).order_by(Producer.id)):
            for product in producer.products:
                quantity = rng.randint(20, 80)
                for days in (60, 45, 31, 20, 16, 9, 3):
                    if producer.name.startswith("Moussa") and days < 16:
                        continue  # Louga stops reporting: stale
                    quantity = max(2, quantity + rng.randint(-18, 12))
                    stock.record(session, producer, product, quantity, now - timedelta(days=days))


def test_staff_see_the_inbox_count_answer_and_close(browser, site, db):
    """A producer asks for a person on the simulated phone; staff see the count in the menu, read, answer and
    close, and the producer is back with the bot."""
    page = open_page(browser, site, DESKTOP)
    sign_in(page)
    page.goto("/simulator?phone=%2B221770000101")
    say(page, "je veux parler a quelqu'un svp")
    assert "ekip bi dina la tontu" in page.locator("#thread .bubble.theirs").last.inner_text()  # Awa reads Wolof
    say(page, "c'est pour le paiement")  # kept for staff: no answer

    page.goto("/inbox")
    expect(page.locator("#inbox-unread")).to_have_text("2")
    assert "demande une personne" in page.locator("#inbox").inner_text()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / "desktop-inbox-unread.png")
    page.click("#inbox >> text=Awa Ndiaye")
    expect(page.locator("#thread")).to_contain_text("c'est pour le paiement")
    expect(page.locator("#inbox-unread")).to_have_count(0)  # opened: read
    page.fill("#reply-text", "Bonjour Awa, la boutique vous appelle demain à 10 h.")
    page.click("#reply button[type=submit]")
    expect(page.locator(".alert.ok")).to_contain_text("Réponse envoyée")
    expect(page.locator("#thread")).to_contain_text("la boutique vous appelle demain")
    page.screenshot(path=SHOTS / "desktop-inbox-conversation.png", full_page=True)
    page.click("#close button[type=submit]")
    expect(page.locator(".alert.ok")).to_contain_text("Conversation fermée")
    page.screenshot(path=SHOTS / "desktop-inbox.png", full_page=True)

    page.goto("/simulator?phone=%2B221770000101")
    say(page, "MENU")
    assert "1" in page.locator("#thread .bubble.theirs").last.inner_text()  # the bot answers again
    page.context.close()


def test_screenshots_of_the_main_pages(browser, site, db):
    """Saved under tests/screenshots/ (git-ignored) for a person to look at."""
    _lively(db)
    SHOTS.mkdir(exist_ok=True)
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = open_page(browser, site, viewport)
        page.goto("/")
        page.screenshot(path=SHOTS / f"{name}-login.png")
        sign_in(page)
        if name == "phone":
            page.goto("/orders")
            page.select_option("select[name=cooperative_id]", label="GIE Takku Liggéey")
            page.select_option("select[name=product]", "yaourt")
            page.fill("input[name=quantity]", "25")
            page.fill("input[name=due_date]", (orders.local_today(config.defaults()) + timedelta(days=4)).isoformat())
            page.click("#order-form button[type=submit]")
            page.goto("/simulator?phone=%2B221770000101")
            for text in ("MENU", "oui", "atelier", "1"):
                say(page, text)
            page.goto("/producers/import")
            page.set_input_files("input[type=file]", files=[{
                "name": "producteurs.csv", "mimeType": "text/csv",
                "buffer": "phone;nom;coopérative;langue\n77 555 10 10;Khady Sow;GIE Takku Liggéey;wo\n"
                          "12;Numéro faux;;fr\n76 555 10 11;Ndèye Fall;Coop inconnue;fr\n"
                          "+221 77 000 01 01;Awa encore;;wo\n".encode()}])
            page.click("#import-form button[type=submit]")
            expect(page.locator("#import-report")).to_have_attribute("data-state", "done")
            page.screenshot(path=SHOTS / f"{name}-import-report.png", full_page=True)
        with db.transaction() as session:
            workshop_id = session.scalar(select(Workshop.id).order_by(Workshop.starts_at))
        for path, shot in (("/overview", "overview"), ("/orders", "orders"), ("/workshops", "workshops"),
                           (f"/workshops/{workshop_id}", "workshop"), ("/prices?product=yaourt", "prices"),
                           ("/producers", "producers"), ("/producers/import", "import"), ("/messages", "messages"),
                           ("/broadcasts", "broadcasts"), ("/simulator?phone=%2B221770000101", "simulator")):
            page.goto(path)
            if shot == "broadcasts":
                page.fill("textarea[name=text_fr]", "Réunion à Thiès : ça commence à 10 h « salle 2 » !")
                expect(page.locator("#audience-count")).to_contain_text(":")
            page.screenshot(path=SHOTS / f"{name}-{shot}.png", full_page=shot not in ("simulator",))
        page.click("header .langs >> text=EN")
        page.screenshot(path=SHOTS / f"{name}-simulator-en.png")
        page.context.close()
    assert len(list(SHOTS.glob("*.png"))) >= 25
