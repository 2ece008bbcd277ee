"""GSM-7 folding and SMS segment counting, with the characters of the glossary."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovop.language.i18n import GSM7, fold_gsm7, for_channel, format_money, is_gsm7, sms_encoding, sms_segments

# Characters the glossary lists as forcing UCS-2, and what SMS text shows instead.
FOLDED = [
    ("ç", "c"), ("â", "a"), ("ê", "e"), ("ë", "e"), ("î", "i"), ("ï", "i"), ("ô", "o"), ("û", "u"),
    ("œ", "oe"), ("ó", "o"), ("ŋ", "ng"), ("ã", "a"), ("À", "A"), ("Ë", "E"), ("Ó", "O"), ("Ŋ", "NG"),
    ("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("«", '"'), ("»", '"'), ("…", "..."),
    ("–", "-"), ("—", "-"), ("\u00a0", " "), ("\u202f", " "), ("\u2009", " "),
]
# Characters the glossary lists as GSM-7, kept as they are.
KEPT = list("éèàùìòÉÇñÑäöüÄÖÜÅåÆæßØø")


@pytest.mark.parametrize("char, folded", FOLDED)
def test_it_folds_characters_that_force_ucs2(char, folded):
    assert sms_encoding(char) == "UCS-2"
    assert fold_gsm7(char) == folded
    assert is_gsm7(folded)


@pytest.mark.parametrize("char", KEPT)
def test_it_keeps_gsm7_accented_letters(char):
    assert is_gsm7(char)
    assert fold_gsm7(char) == char


@pytest.mark.parametrize(
    "text, folded",
    [
        ("Jërëjëf, ñaar pot soow", "Jerejef, ñaar pot soow"),
        ("Déedéet, juróom-ñett kilo", "Déedéet, juroom-ñett kilo"),
        ("Merci 🙏🏾 !", "Merci  !"),
        ("👍", ""),
        ("ça coûte 1\u202f500\u00a0F\u202fCFA…", "ca coute 1 500 F CFA..."),
        ("l’atelier « marketing »", "l'atelier \" marketing \""),
        ("tab\there", "tab here"),
        ("caf\u0065\u0301", "cafe"),  # decomposed é: the lone combining accent cannot travel
        ("prix: 10€ [promo]", "prix: 10€ [promo]"),
        ("\x1b", ""),  # the escape code itself is not text
    ],
)
def test_it_folds_producer_text(text, folded):
    assert fold_gsm7(text) == folded


@pytest.mark.parametrize(
    "text, segments",
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters cost two septets
        ("€" * 81, 2),
        ("a" * 159 + "^", 2),
        ("a" * 152 + "€" + "a" * 152, 3),  # an escape pair is never split across two parts
        ("ê" * 70, 1),
        ("ê" * 71, 2),
        ("ê" * 134, 2),
        ("ê" * 135, 3),
        ("😀" * 35, 1),  # outside the BMP: two UTF-16 code units each
        ("😀" * 36, 2),
    ],
)
def test_it_counts_segments(text, segments):
    assert sms_segments(text) == segments


def test_one_non_gsm_character_switches_the_whole_message_to_ucs2():
    text = "a" * 100
    assert (sms_encoding(text), sms_segments(text)) == ("GSM-7", 1)
    assert (sms_encoding(text + "ê"), sms_segments(text + "ê")) == ("UCS-2", 2)


def test_babel_money_becomes_gsm7_after_folding():
    money = format_money(1500, "fr")
    assert sms_encoding(money) == "UCS-2"
    assert sms_encoding(fold_gsm7(money)) == "GSM-7"
    assert fold_gsm7(money) == "1 500 F CFA"


def test_for_channel_folds_sms_and_leaves_whatsapp_alone():
    text = "Jërëjëf ’ ŋ 🙏"
    assert for_channel(text, "sms") == "Jerejef ' ng "
    assert for_channel(text, "whatsapp") == text


def test_for_channel_refuses_an_unknown_channel():
    with pytest.raises(ValueError):
        for_channel("x", "fax")


@given(st.text())
def test_folded_text_is_always_gsm7(text):
    assert is_gsm7(fold_gsm7(text))


@given(st.text())
def test_folding_is_idempotent(text):
    once = fold_gsm7(text)
    assert fold_gsm7(once) == once


@given(st.text(alphabet=sorted(GSM7)))
def test_gsm7_text_is_left_unchanged(text):
    assert fold_gsm7(text) == text
