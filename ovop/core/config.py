"""The service's settings: one typed, frozen `Settings`, every variable with its type and default, checked once.

`load()` reads the environment (and what a test passes instead), parses every variable and stops the start with
a ConfigError naming the first one that is wrong: a bad QUIET_HOURS fails when the process starts, not at night
in a job. The app copies the result into Flask's app.config (`Settings.as_config()`, the same names as the
environment), which every layer reads as a plain complete dict: nothing below repeats a default.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ovop.core.db import default_url
from ovop.core.localtime import quiet_window, weekly
from ovop.core.paths import INSTANCE
from ovop.core.phones import InvalidPhone, to_e164

BACKENDS = ("twilio", "console")
SMS_PROVIDERS = ("twilio", "smsgate")
DATABASES = ("sqlite", "postgresql")


class ConfigError(RuntimeError):
    """A setting the service cannot start with; the message names it and says what to set, in one line."""


# --- how one variable's text becomes its value (ValueError says what is wrong, without the name) ------------

def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {value!r}")
    return value.strip()


def whole(minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    """A whole number within bounds, from text or an int."""
    def parse(value):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"must be a whole number, not {value!r}")
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"must be a whole number, not {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
            raise ValueError(f"must be {bounds}, not {number}")
        return number
    return parse


def decimal(minimum: float, *, above: bool = False) -> Callable[[Any], float]:
    """A number (10, 2.5) at least `minimum`, or above it."""
    def parse(value):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"must be a number, not {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"must be a number, not {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")) or number < minimum \
                or (above and number == minimum):
            raise ValueError(f"must be a number {'above' if above else 'of at least'} {minimum:g}, not {value!r}")
        return number
    return parse


def optional(value: Any) -> str | None:
    return _text(value) or None


def word_list(value: Any) -> tuple[str, ...]:
    """'a, b,c' (or a list) -> ('a', 'b', 'c')."""
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, (list, tuple)):
        raise ValueError(f"must be a comma-separated list, not {value!r}")
    return tuple(part.strip() for part in map(_text, parts) if part.strip())


def phone_list(value: Any) -> tuple[str, ...]:
    """Phone numbers, comma-separated, each to E.164."""
    try:
        return tuple(dict.fromkeys(to_e164(phone) for phone in word_list(value)))
    except InvalidPhone as error:
        raise ValueError(f"must be phone numbers separated by commas: {error}") from None


def templates(value: Any) -> dict:
    """{"kind": {"language": "HX…"}}, as JSON text or a dict."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError('must be a JSON object like {"order_alert": {"fr": "HX…"}}, and is not valid JSON') \
                from None
    if not isinstance(value, dict) or not all(
            isinstance(by_language, dict) and all(isinstance(sid, str) for sid in by_language.values())
            for by_language in value.values()):
        raise ValueError('must be a JSON object like {"order_alert": {"fr": "HX…", "wo": "HX…"}}')
    return value


def prices(value: Any) -> dict:
    """MESSAGE_PRICES: {"sms": {provider: F CFA per segment}, "whatsapp": {category: F CFA per message}}."""
    example = '{"sms": {"twilio": 40, "smsgate": 15}, "whatsapp": {"utility": 10, "marketing": 30, "service": 0}}'
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"must be a JSON object like {example}, and is not valid JSON") from None
    if not isinstance(value, dict) or set(value) - {"sms", "whatsapp"} or not all(
            isinstance(table, dict) and all(
                isinstance(price, (int, float)) and not isinstance(price, bool) and 0 <= price < 1e6
                for price in table.values())
            for table in value.values()):
        raise ValueError(f"must be a JSON object like {example} (prices in F CFA, 0 or more)")
    return {channel: {str(name): float(price) for name, price in table.items()} for channel, table in value.items()}


def directory(value: Any) -> str:
    text = _text(value)
    if not text:
        raise ValueError("must be a folder")
    return text


def time_zone(value: Any) -> str:
    name = _text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"must be a time zone name such as Africa/Dakar, not {name!r}") from None
    return name


def quiet(value: Any) -> str:
    """'21:00-07:00' or 'off'."""
    spec = _text(value)
    try:
        return "off" if quiet_window(spec) is None else spec
    except ValueError:
        raise ValueError(f"must be two local times like 21:00-07:00, or off; not {spec!r}") from None


def weekly_slot(value: Any) -> str:
    """'mon 08:00'."""
    spec = _text(value)
    try:
        weekly(spec)
    except ValueError:
        raise ValueError(f"must be a weekday and a local time like 'mon 08:00', not {spec!r}") from None
    return spec


def one_of(*choices: str) -> Callable[[Any], str]:
    def parse(value):
        chosen = _text(value).lower()
        if chosen not in choices:
            raise ValueError(f"must be {' or '.join(choices)}, not {value!r}")
        return chosen
    return parse


def database(value: Any) -> str:
    """A SQLAlchemy URL of a database the service runs on; the error never shows the password."""
    try:
        url = make_url(_text(value))
    except ArgumentError:
        raise ValueError("must be a database URL such as postgresql+psycopg://user:pass@host/db") from None
    if url.get_backend_name() not in DATABASES:
        raise ValueError(f"must be a sqlite:/// or postgresql+psycopg:// URL, not {url.drivername}://…")
    return url.render_as_string(hide_password=False)


def public_url(value: Any) -> str | None:
    base = _text(value).rstrip("/")
    if not base:
        return None
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"must be an http(s) address such as https://ovop.example.org, not {base!r}")
    return base


def setting(default: Any = MISSING, parse: Callable[[Any], Any] = optional, *,
            factory: Callable[[], Any] | None = None):
    """A field of Settings: its default and how its environment text is read."""
    if factory is not None:
        return field(default_factory=factory, metadata={"parse": parse})
    return field(default=default, metadata={"parse": parse})


# --- the settings -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """Every environment variable of the service (its name is the field's, in capitals), typed, with its default.

    The README's Configuration table lists the same variables (tests/test_settings.py checks it).
    """

    database_url: str = setting(parse=database, factory=default_url)
    port: int = setting(5000, whole(1, 65535))
    admin_token: str | None = setting(None)  # generated, kept under instance/ and printed when unset
    admin_password: str | None = setting(None)  # idem
    secret_key: str | None = setting(None)  # signs the dashboard's session cookie; generated and kept when unset
    twilio_account_sid: str | None = setting(None)
    twilio_auth_token: str | None = setting(None)
    twilio_sms_from: str | None = setting(None)
    twilio_whatsapp_from: str | None = setting(None)
    twilio_messaging_service_sid: str | None = setting(None)
    twilio_api_base_url: str | None = setting(None, public_url)
    twilio_timeout: float = setting(10.0, decimal(0, above=True))
    twilio_templates: dict = setting(parse=templates, factory=dict)
    public_base_url: str | None = setting(None, public_url)
    sms_provider: str = setting("twilio", one_of(*SMS_PROVIDERS))
    smsgate_url: str | None = setting(None, public_url)  # e.g. https://api.sms-gate.app/3rdparty/v1 or the phone's
    smsgate_username: str | None = setting(None)
    smsgate_password: str | None = setting(None)
    smsgate_signing_key: str | None = setting(None)
    smsgate_timeout: float = setting(10.0, decimal(0, above=True))
    # A phone sends about one SMS every few seconds, and operators cap what one SIM sends a day.
    smsgate_seconds_per_sms: float = setting(5.0, decimal(0))
    smsgate_daily_cap: int = setting(300, whole(1))
    media_dir: str = setting(str(INSTANCE / "media"), directory)
    media_max_bytes: int = setting(10 * 1024 * 1024, whole(1024))
    message_prices: dict = setting(parse=prices, factory=dict)
    # How many proxies in front of the web process append to X-Forwarded-For / set X-Forwarded-Proto.
    # 0 trusts no such header: a client's address is the socket's, whatever it writes in its headers.
    trusted_proxies: int = setting(0, whole(0))
    web_concurrency: int = setting(3, whole(1))  # read by the Procfile's gunicorn line; checked here all the same
    web_threads: int = setting(8, whole(1))  # the database pool of each web process matches it
    outbound_backend: str | None = setting(None, one_of(*BACKENDS))  # None: twilio with credentials, else console
    bot_timezone: str = setting("Africa/Dakar", time_zone)
    quiet_hours: str = setting("21:00-07:00", quiet)
    outbox_rate_sms: float = setting(10.0, decimal(0))  # 0: no limit (tests, benchmarks)
    outbox_rate_whatsapp: float = setting(80.0, decimal(0))
    outbox_max_attempts: int = setting(8, whole(1))
    join_replies_per_day: int = setting(2, whole(0))
    optout_words: tuple[str, ...] = setting(("bayi", "bàyyi", "noppi"), word_list)
    staff_phones: tuple[str, ...] = setting((), phone_list)
    conversation_timeout_minutes: int = setting(30, whole(1))
    price_tip_schedule: str = setting("mon 08:00", weekly_slot)
    stock_reminder_schedule: str = setting("fri 10:00", weekly_slot)
    price_market: str = setting("Boutique OVOP Dakar", _text)
    scheduler_interval_minutes: int = setting(5, whole(1, 1440))
    weekly_window_hours: float = setting(12.0, decimal(0, above=True))

    def __post_init__(self):
        if self.outbound_backend is None:
            # Real carriers when one is configured: Twilio's credentials, or the SMS gateway alone.
            carrier = (self.twilio_account_sid and self.twilio_auth_token) or self.sms_provider == "smsgate"
            object.__setattr__(self, "outbound_backend", "twilio" if carrier else "console")
        self._check()

    def _check(self) -> None:
        """What no single variable shows: combinations the service must not start with."""
        if self.twilio_auth_token and not self.public_base_url:
            raise ConfigError(
                "PUBLIC_BASE_URL is required when TWILIO_AUTH_TOKEN is set: Twilio signs the exact URL it calls, "
                "and without it the URL checked would be built from headers any client can write. Set it to the "
                "address Twilio calls, e.g. PUBLIC_BASE_URL=https://ovop.example.org")
        if self.sms_provider == "smsgate" and not (self.smsgate_url and self.smsgate_username
                                                   and self.smsgate_password and self.smsgate_signing_key):
            raise ConfigError(
                "SMS_PROVIDER=smsgate needs SMSGATE_URL, SMSGATE_USERNAME, SMSGATE_PASSWORD and SMSGATE_SIGNING_KEY "
                "(the gateway's API address, its Basic auth, and the key it signs its webhooks with)")
        if self.outbound_backend == "twilio" and self.sms_provider != "smsgate" \
                and not (self.twilio_account_sid and self.twilio_auth_token):
            raise ConfigError("OUTBOUND_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN "
                              "(or SMS_PROVIDER=smsgate, for SMS through the gateway alone)")

    @classmethod
    def names(cls) -> list[str]:
        """The environment variables, in the order of the fields."""
        return [item.name.upper() for item in fields(cls)]

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from variables given as text (the environment) or as values (a test's config); unset, None
        and empty mean the default. ConfigError names the first variable that is wrong."""
        given = {}
        for item in fields(cls):
            name = item.name.upper()
            value = values.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            try:
                given[item.name] = item.metadata["parse"](value)
            except ValueError as error:
                raise ConfigError(f"{name} {error}") from None
        return cls(**given)

    def as_config(self) -> dict:
        """{"QUIET_HOURS": "21:00-07:00", …}: what goes into app.config, every variable present."""
        return {item.name.upper(): getattr(self, item.name) for item in fields(self)}


def load(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """The settings from the environment, where `overrides` (a test's config) wins."""
    env = os.environ if env is None else env
    names = Settings.names()
    values = {name: env[name] for name in names if name in env}
    values.update({name: value for name, value in (overrides or {}).items() if name in names})
    return Settings.parse(values)


def defaults(**values: Any) -> dict:
    """A complete config dict of the defaults, with `values` in place of some (tests call the layers with it)."""
    return Settings().as_config() | values


def fill_secrets(config: dict, store: Path | None = None) -> list[str]:
    """Generate the admin token, password and session key when unset, kept in `store` so a restart keeps them.

    Returns lines telling the operator what was generated this time (nothing when they were already kept).
    """
    store = store or INSTANCE / "generated-secrets.json"
    kept = {}
    if store.exists():
        try:
            kept = json.loads(store.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = {}
    told, generators = [], {"ADMIN_TOKEN": lambda: secrets.token_urlsafe(24),
                            "ADMIN_PASSWORD": lambda: secrets.token_urlsafe(12),
                            "SECRET_KEY": lambda: secrets.token_hex(32)}
    for name, generate in generators.items():
        if config.get(name):
            continue
        if not kept.get(name):
            kept[name] = generate()
            if name != "SECRET_KEY":
                told.append(f"{name} was not set; generated one (kept in {store.name}): {kept[name]}")
        config[name] = kept[name]
        config.setdefault("GENERATED_SECRETS", []).append(name)
    if told:
        try:
            store.parent.mkdir(exist_ok=True)
            store.write_text(json.dumps(kept), encoding="utf-8")
            store.chmod(0o600)
        except OSError:
            told.append("could not keep the generated secrets; they change at every start")
    return told
