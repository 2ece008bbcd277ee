"""Catalogues match the code, fall back to French, format money and dates, and fit SMS segments."""
from __future__ import annotations

import io
import re
import shutil
import string
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import check_and_call_extract_file, extract, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from ovop.language import i18n
from ovop.language.i18n import (LANGUAGES, ONE_SEGMENT_KEYS, for_channel, format_date, format_datetime, format_money, sms_encoding, sms_segments, t, tn)

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("ovop", "app.py")  # what scripts/translations.sh extracts
POT = ROOT / "locales" / "messages.pot"
RUN_IT = "run `make translations` (scripts/translations.sh) and fill the new entries"


def extract_code_keys() -> dict[str, str | None]:
    """Run Babel's extraction in-process, as the script does: key -> plural msgid (or None)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: list = []
    for source in SOURCES:
        path = ROOT / source
        if path.is_dir():
            found += extract_from_dir(path, method_map, options_map, keywords=i18n.EXTRACTION_KEYWORDS)
        elif path.is_file():
            found += check_and_call_extract_file(
                path, method_map, options_map, None, i18n.EXTRACTION_KEYWORDS, (), False, dirpath=ROOT
            )
    keys: dict[str, str | None] = {}
    for _filename, _lineno, message, _comments, _context in found:
        key, plural = (message[0], message[1]) if isinstance(message, tuple) else (message, None)
        keys[key] = plural or keys.get(key)
    return keys


def read_catalog(path: Path) -> Catalog:
    """Parse a .po/.pot file straight from disk."""
    with path.open("rb") as fileobj:
        return read_po(fileobj)


def po_path(lang: str) -> Path:
    """Where a language's catalogue lives."""
    return ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po"


def forms(message) -> tuple[str, ...]:
    """A message's msgstr as a tuple of forms (one for a singular entry)."""
    return message.string if isinstance(message.string, tuple) else (message.string,)


def placeholders(text: str) -> set[str]:
    """The str.format field names used in text."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


CODE_KEYS = extract_code_keys()


# --- catalogues against the code -----------------------------------------------------------------

def test_the_pot_is_up_to_date_with_the_code():
    pot = {m.id if isinstance(m.id, str) else m.id[0]: m for m in read_catalog(POT) if m.id}
    missing = sorted(set(CODE_KEYS) - set(pot))
    stale = sorted(set(pot) - set(CODE_KEYS))
    assert not missing, f"keys used in code but absent from locales/messages.pot: {missing}; {RUN_IT}"
    assert not stale, f"keys in locales/messages.pot no longer used in code: {stale}; {RUN_IT}"
    for key, plural in CODE_KEYS.items():
        assert pot[key].pluralizable == bool(plural), f"{key}: singular/plural changed; {RUN_IT}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_catalogue_holds_exactly_the_code_keys(lang):
    keys = {m.id if isinstance(m.id, str) else m.id[0] for m in read_catalog(po_path(lang)) if m.id}
    assert keys == set(CODE_KEYS), f"locales/{lang} differs from the code; {RUN_IT}"


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("key", sorted(CODE_KEYS))
def test_every_key_has_french_and_english_text(key, lang):
    message = read_catalog(po_path(lang)).get(key)
    assert message is not None, f"{key} missing from locales/{lang}; {RUN_IT}"
    assert not message.fuzzy, f"{key} is fuzzy in locales/{lang}: review it and remove the flag"
    assert all(forms(message)), f"{key} has an empty msgstr in locales/{lang}"


@pytest.mark.parametrize("key", sorted(CODE_KEYS))
def test_every_key_reads_in_wolof_or_falls_back_to_french(key):
    french = read_catalog(po_path("fr"))[key]
    params = {name: "x" for form in forms(french) for name in placeholders(form)}
    params.pop("n", None)
    text = tn(key, 2, "wo", **params) if CODE_KEYS[key] else t(key, "wo", **params)
    assert text and text != key


@pytest.mark.parametrize("lang", ["wo", "en"])
def test_translations_use_the_same_placeholders_as_french(lang):
    french = read_catalog(po_path("fr"))
    for message in read_catalog(po_path(lang)):
        if not message.id or not any(forms(message)):
            continue
        expected = set().union(*(placeholders(f) for f in forms(french[message.id])))
        used = set().union(*(placeholders(f) for f in forms(message) if f))
        assert used == expected, f"{message.id} in {lang} uses {used}, French uses {expected}"


def test_the_script_extracts_with_the_same_keywords_as_the_tests():
    script = (ROOT / "scripts" / "translations.sh").read_text()
    declared = {
        name + ("" if spec is None else ":" + ",".join(map(str, spec)))
        for name, spec in i18n.EXTRACTION_KEYWORDS.items()
    }
    assert set(re.findall(r"-k (\S+)", script)) == declared
    assert all(source in script for source in SOURCES)


def test_the_script_is_valid_posix_sh():
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh")
    subprocess.run([sh, "-n", str(ROOT / "scripts" / "translations.sh")], check=True)


def test_the_extractor_adds_the_plural_msgid_and_skips_non_literal_keys():
    source = b'tn("stock.x", n, lang)\nmark_plural("a.b")\nt(key, lang)\nt("menu.main", lang)\n'
    found = extract(i18n.extract_message_keys, io.BytesIO(source), i18n.EXTRACTION_KEYWORDS)
    assert [message for _, message, _, _ in found] == [
        ("stock.x", "stock.x.plural"), ("a.b", "a.b.plural"), "menu.main",
    ]


# --- lookups and fallbacks ---------------------------------------------------------------------

def test_t_serves_what_the_po_file_says():
    for lang in LANGUAGES:
        for message in read_catalog(po_path(lang)):
            if message.id and not message.pluralizable and message.string and not placeholders(message.string):
                assert t(message.id, lang) == message.string


def test_t_reads_the_po_file_and_ignores_a_stale_mo(tmp_path, monkeypatch):
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: fr\\n"\n"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n\n'
        'msgid "greeting"\nmsgstr "Bonjour {name}"\n', encoding="utf-8"
    )
    stale = Catalog(locale="fr")
    stale.add("greeting", "Ancien texte")
    with (folder / "messages.mo").open("wb") as mo:
        write_mo(mo, stale)
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    i18n.reload_catalogs()
    try:
        assert t("greeting", "fr", name="Awa") == "Bonjour Awa"
    finally:
        monkeypatch.undo()
        i18n.reload_catalogs()


def test_an_empty_wolof_msgstr_falls_back_to_french(monkeypatch):
    monkeypatch.setattr(i18n._catalog("wo")["menu.main"], "string", "")
    assert t("menu.main", "wo") == t("menu.main", "fr")


def test_an_empty_english_msgstr_falls_back_to_french(monkeypatch):
    monkeypatch.setattr(i18n._catalog("en")["not_understood"], "string", "")
    assert t("not_understood", "en") == t("not_understood", "fr")


def test_a_fuzzy_translation_is_not_served(monkeypatch):
    monkeypatch.setattr(i18n._catalog("wo")["language.set"], "flags", {"fuzzy"})
    assert t("language.set", "wo") == t("language.set", "fr")


def test_a_broken_placeholder_in_wolof_falls_back_to_french(monkeypatch):
    monkeypatch.setattr(i18n._catalog("wo")["stock.items_recorded"], "string", ("{nombre} produit",))
    assert tn("stock.items_recorded", 3, "wo") == "3 produits enregistrés"


def test_an_unknown_key_raises_key_error():
    with pytest.raises(KeyError, match="no.such.key"):
        t("no.such.key", "wo")


@pytest.mark.parametrize("lang", ["es", "", None, "FR", "fr_SN", "fr-SN"])
def test_an_unknown_or_regional_language_reads_french(lang):
    assert t("menu.main", lang) == t("menu.main", "fr")


def test_params_are_formatted():
    assert tn("stock.items_recorded", 40, "fr") == "40 produits enregistrés"


# --- plurals ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "lang, nplurals, expr", [("fr", 2, "(n > 1)"), ("en", 2, "(n != 1)"), ("wo", 1, "0")]
)
def test_plural_forms_come_from_each_catalogue_header(lang, nplurals, expr):
    catalog = read_catalog(po_path(lang))
    assert (catalog.num_plurals, catalog.plural_expr) == (nplurals, expr)


@pytest.mark.parametrize(
    "lang, n, expected",
    [
        ("fr", 0, "0 produit enregistré"),
        ("fr", 1, "1 produit enregistré"),
        ("fr", 2, "2 produits enregistrés"),
        ("en", 0, "0 products recorded"),
        ("en", 1, "1 product recorded"),
        ("en", 2, "2 products recorded"),
    ],
)
def test_plural_forms_follow_the_language(lang, n, expected):
    assert tn("stock.items_recorded", n, lang) == expected


def test_wolof_has_one_form_for_every_count():
    one, many = tn("stock.items_recorded", 1, "wo"), tn("stock.items_recorded", 5, "wo")
    assert "5" in many and one.replace("1", "5") == many


def test_an_untranslated_wolof_plural_falls_back_to_french_not_english(monkeypatch):
    monkeypatch.setattr(i18n._catalog("wo")["stock.items_recorded"], "string", ("",))
    assert tn("stock.items_recorded", 2, "wo") == "2 produits enregistrés"
    assert tn("stock.items_recorded", 1, "wo") == "1 produit enregistré"


# --- money and dates --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "lang, expected",
    [("fr", "1\u202f500\u00a0F\u202fCFA"), ("wo", "1.500\u00a0F\u202fCFA"), ("en", "1,500\u00a0F\u202fCFA")],
)
def test_money_is_in_f_cfa_in_every_language(lang, expected):
    assert format_money(1500, lang) == expected


def test_money_folds_to_plain_spaces_for_sms():
    assert for_channel(format_money(25000, "fr"), "sms") == "25 000 F CFA"


DAKAR_2300 = datetime(2026, 12, 7, 1, 0, tzinfo=timezone(timedelta(hours=2)))  # 23:00 on 6 Dec in Dakar


@pytest.mark.parametrize(
    "lang, date, date_time",
    [
        ("fr", "dim. 6 déc.", "dim. 6 déc. 23:00"),
        ("wo", "Dib, 6 Des", "Dib, 6 Des - 23:00"),
        ("en", "Sun, 6 Dec", "Sun, 6 Dec, 23:00"),
    ],
)
def test_dates_are_shown_in_dakar_time_in_the_producers_language(lang, date, date_time):
    assert format_date(DAKAR_2300, lang, "Africa/Dakar") == date
    assert format_datetime(DAKAR_2300, lang, "Africa/Dakar") == date_time


def test_a_naive_datetime_is_taken_as_utc():
    assert format_datetime(datetime(2026, 12, 7, 10, 0), "fr", "Africa/Dakar") == "lun. 7 déc. 10:00"


def test_another_time_zone_can_be_asked_for():
    assert format_datetime(DAKAR_2300, "fr", tz="Europe/Paris") == "lun. 7 déc. 00:00"


# --- SMS-critical messages ------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("key", ONE_SEGMENT_KEYS)
def test_sms_critical_messages_fit_one_gsm7_segment(key, lang):
    text = for_channel(t(key, lang), "sms")
    assert sms_encoding(text) == "GSM-7"
    assert sms_segments(text) == 1, f"{key} in {lang} is {len(text)} characters after folding"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_join_message_speaks_french_and_wolof(lang):
    text = t("join.info", lang).lower()
    assert "ovop" in text
    assert any(word in text for word in ("inscri", "coopérative", "boutique")), "no French in join.info"
    assert any(word in text for word in ("ngir", "bindu", "njiit", "wax ak")), "no Wolof in join.info"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_main_menu_numbers_five_choices_and_points_to_help(lang):
    text = t("menu.main", lang)
    assert [int(n) for n in re.findall(r"^(\d) ", text, re.MULTILINE)] == [1, 2, 3, 4, 5]
    assert re.search(r"\b(AIDE|HELP|NDIMBAL)\b", text)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_language_menu_offers_the_three_languages(lang):
    assert re.findall(r"^\d .+$", t("language.choose", lang), re.MULTILINE) == [
        "1 Français", "2 Wolof", "3 English",
    ]
