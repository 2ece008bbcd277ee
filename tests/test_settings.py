"""The settings: every variable read and checked once at start, a bad one refused with its name, the README's
table and the Settings class listing the same variables, and no default repeated where a setting is used."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from app import create_app
from ovop.core import config as settings
from ovop.core.config import ConfigError, Settings
from tests.conftest import app_config

ROOT = Path(__file__).resolve().parent.parent

BAD = [
    ("QUIET_HOURS", "21h-7h"), ("QUIET_HOURS", "21:00"), ("QUIET_HOURS", "25:00-07:00"), ("QUIET_HOURS", "21:00-21:00"),
    ("BOT_TIMEZONE", "Dakar"), ("BOT_TIMEZONE", "../../etc/passwd"),
    ("OUTBOX_RATE_SMS", "fast"), ("OUTBOX_RATE_SMS", "-1"), ("OUTBOX_RATE_WHATSAPP", "nan"),
    ("OUTBOX_MAX_ATTEMPTS", "0"),
    ("PORT", "http"), ("PORT", "70000"), ("PORT", "0"),
    ("TRUSTED_PROXIES", "yes"), ("TRUSTED_PROXIES", "-1"), ("TRUSTED_PROXIES", "1.5"),
    ("WEB_THREADS", "0"), ("WEB_CONCURRENCY", "three"),
    ("DATABASE_URL", "mysql://ovop:secret@db.example/ovop"), ("DATABASE_URL", "ovop.sqlite3"),
    ("PUBLIC_BASE_URL", "ovop.example.org"), ("TWILIO_API_BASE_URL", "ftp://api.example"),
    ("TWILIO_TIMEOUT", "0"), ("TWILIO_TEMPLATES", "{not json"), ("TWILIO_TEMPLATES", '[1, 2]'),
    ("TWILIO_TEMPLATES", '{"order_alert": "HX1"}'),
    ("OUTBOUND_BACKEND", "sms"), ("OUTBOUND_BACKEND", "twilio"),
    ("STAFF_PHONES", "+221770009999, 12"),
    ("PRICE_TIP_SCHEDULE", "monday"), ("STOCK_REMINDER_SCHEDULE", "someday 10:00"),
    ("JOIN_REPLIES_PER_DAY", "two"), ("CONVERSATION_TIMEOUT_MINUTES", "0"), ("SCHEDULER_INTERVAL_MINUTES", "0"),
    ("WEEKLY_WINDOW_HOURS", "-3"),
]


@pytest.mark.parametrize("name, value", BAD, ids=[f"{name}={value}" for name, value in BAD])
def test_a_bad_value_stops_the_start_with_the_variable_named(database_url, name, value):
    with pytest.raises(ConfigError) as refused:
        create_app(app_config(database_url, **{name: value}))
    said = str(refused.value)
    assert re.match(rf"{name}\b", said) and "\n" not in said
    assert "secret" not in said  # a database password never reaches the log


def test_the_command_line_prints_one_line_naming_the_variable(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in Settings.names()}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", ADMIN_TOKEN="t", ADMIN_PASSWORD="p",
               SECRET_KEY="s", QUIET_HOURS="22h-6h")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "current"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == "Error: QUIET_HOURS must be two local times like 21:00-07:00, or off; not '22h-6h'\n"


def test_the_environment_is_read_into_typed_values():
    env = {"QUIET_HOURS": "22:00-06:00", "STAFF_PHONES": "77 000 99 99, +221770009998", "OUTBOX_RATE_SMS": "2.5",
           "TWILIO_TEMPLATES": '{"order_alert": {"fr": "HXfr", "wo": "HXwo"}}', "OPTOUT_WORDS": " bayil ,, dëgg ",
           "PORT": "8080", "TRUSTED_PROXIES": "1", "PUBLIC_BASE_URL": "https://ovop.example.org/",
           "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "token", "BOT_TIMEZONE": "Africa/Abidjan"}
    read = settings.load(env=env)
    assert (read.quiet_hours, read.staff_phones, read.outbox_rate_sms) == ("22:00-06:00",
                                                                           ("+221770009999", "+221770009998"), 2.5)
    assert read.twilio_templates == {"order_alert": {"fr": "HXfr", "wo": "HXwo"}}
    assert (read.optout_words, read.port, read.trusted_proxies) == (("bayil", "dëgg"), 8080, 1)
    assert (read.public_base_url, read.outbound_backend, read.bot_timezone) == ("https://ovop.example.org", "twilio",
                                                                                "Africa/Abidjan")


def test_unset_or_empty_means_the_default_and_what_a_test_passes_wins_over_the_environment():
    defaults = Settings()
    assert settings.load(env={"QUIET_HOURS": "", "PORT": " "}) == defaults
    assert (defaults.quiet_hours, defaults.port, defaults.outbound_backend) == ("21:00-07:00", 5000, "console")
    assert settings.load({"PORT": 6000, "QUIET_HOURS": "off"}, env={"PORT": "7000"}).port == 6000
    assert settings.load({"QUIET_HOURS": "OFF"}, env={}).quiet_hours == "off"


def test_the_app_config_holds_every_variable():
    with pytest.raises(FrozenInstanceError):
        Settings().port = 1  # frozen: read once, never changed behind the app's back
    assert set(settings.defaults()) == set(Settings.names())


def readme_variables() -> set[str]:
    """The variables of the README's Configuration table (first column, each in backquotes)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_the_readme_table_and_the_settings_list_the_same_variables():
    assert readme_variables() == set(Settings.names())


def test_the_procfile_defaults_are_the_settings_defaults():
    procfile = (ROOT / "Procfile").read_text(encoding="utf-8")
    defaults = Settings()
    for name in ("WEB_CONCURRENCY", "WEB_THREADS", "PORT"):
        assert f"${{{name}:-{getattr(defaults, name.lower())}}}" in procfile


def test_no_module_repeats_a_default_where_a_setting_is_read():
    """`config.get("QUIET_HOURS", "21:00-07:00")` or `config.get("BOT_TIMEZONE") or "Africa/Dakar"`: the app's
    config holds every variable, so a fallback there is a second default that can drift from Settings. (`or ""`
    and `or ()` only guard against None.)"""
    names = "|".join(Settings.names())
    literal = r"""["'][^"']|[0-9]|[\[({][^\])}]|[A-Z_]{3}"""  # "x", 5, [x], (x), {x}, A_CONSTANT
    fallback = re.compile(rf"""\.get\(\s*["']({names})["']\s*(,|\)\s*or\s*({literal}))""")
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in sorted((ROOT / "ovop").rglob("*.py")) if path.name != "config.py"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if fallback.search(line)]
    assert found == []


GATEWAY = {"SMS_PROVIDER": "smsgate", "SMSGATE_URL": "https://gateway.example.org/3rdparty/v1",
           "SMSGATE_USERNAME": "boutique", "SMSGATE_PASSWORD": "secret", "SMSGATE_SIGNING_KEY": "key"}


def test_a_boutique_with_the_sms_gateway_alone_sends_through_it():
    chosen = Settings.parse(GATEWAY)
    assert chosen.outbound_backend == "twilio"  # real carriers, though no Twilio account is set
    assert Settings.parse({**GATEWAY, "OUTBOUND_BACKEND": "console"}).outbound_backend == "console"
    assert Settings.parse({}).outbound_backend == "console"
    with pytest.raises(ConfigError, match="SMS_PROVIDER=smsgate needs"):
        Settings.parse({**GATEWAY, "SMSGATE_SIGNING_KEY": ""})
    with pytest.raises(ConfigError, match="OUTBOUND_BACKEND=twilio needs"):
        Settings.parse({"OUTBOUND_BACKEND": "twilio"})


def test_the_sms_gateway_alone_carries_sms_and_no_whatsapp(database_url):
    application = create_app(app_config(database_url, **GATEWAY, OUTBOUND_BACKEND=None))
    transport = application.extensions["ovop"].transport
    assert transport.carrier("sms") == "smsgate"
    assert transport.carrier("whatsapp") is None
    assert not transport.can_send("whatsapp")


def test_with_the_gateway_alone_the_twilio_webhook_cannot_be_forged(database_url):
    application = create_app(app_config(database_url, **GATEWAY, OUTBOUND_BACKEND=None))
    answer = application.test_client().post("/twilio/inbound", data={"From": "+221770000101", "Body": "STOP",
                                                                     "MessageSid": "SMforged"})
    assert answer.status_code == 403
