"""Settings from the environment, in one place, with the defaults of the contract in DESIGN.md."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from ovop.core.paths import INSTANCE


# Settings whose defaults live next to the code that uses them; taken from the environment only when set.
PASSED_THROUGH = ("TWILIO_TEMPLATES", "QUIET_HOURS", "PRICE_TIP_SCHEDULE", "STOCK_REMINDER_SCHEDULE", "PRICE_MARKET",
                  "SCHEDULER_INTERVAL_MINUTES", "WEEKLY_WINDOW_HOURS")


class ConfigError(RuntimeError):
    """A setting the service cannot start with; the message says which one and what to set."""


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _count(env, name: str, default: int, minimum: int = 0) -> int:
    """A whole-number setting; anything else stops the start with a message naming the variable."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def from_environment(env: os._Environ | dict | None = None) -> dict:
    """Read every setting the service knows; anything unset takes its documented default."""
    env = os.environ if env is None else env
    account_sid, auth_token = env.get("TWILIO_ACCOUNT_SID"), env.get("TWILIO_AUTH_TOKEN")
    passed = {name: env[name] for name in PASSED_THROUGH if env.get(name)}
    return passed | {
        "DATABASE_URL": env.get("DATABASE_URL") or None,
        "PORT": int(env.get("PORT") or 5000),
        "ADMIN_TOKEN": env.get("ADMIN_TOKEN") or None,
        "ADMIN_PASSWORD": env.get("ADMIN_PASSWORD") or None,
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "TWILIO_ACCOUNT_SID": account_sid,
        "TWILIO_AUTH_TOKEN": auth_token,
        "TWILIO_SMS_FROM": env.get("TWILIO_SMS_FROM") or None,
        "TWILIO_WHATSAPP_FROM": env.get("TWILIO_WHATSAPP_FROM") or None,
        "TWILIO_MESSAGING_SERVICE_SID": env.get("TWILIO_MESSAGING_SERVICE_SID") or None,
        "TWILIO_API_BASE_URL": env.get("TWILIO_API_BASE_URL") or None,
        "TWILIO_TIMEOUT": float(env.get("TWILIO_TIMEOUT") or 10),
        "PUBLIC_BASE_URL": (env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
        "OUTBOUND_BACKEND": env.get("OUTBOUND_BACKEND") or ("twilio" if account_sid and auth_token else "console"),
        "BOT_TIMEZONE": env.get("BOT_TIMEZONE") or "Africa/Dakar",
        "OUTBOX_RATE_SMS": float(env.get("OUTBOX_RATE_SMS") or 10),
        "OUTBOX_RATE_WHATSAPP": float(env.get("OUTBOX_RATE_WHATSAPP") or 80),
        "OUTBOX_MAX_ATTEMPTS": int(env.get("OUTBOX_MAX_ATTEMPTS") or 8),
        "JOIN_REPLIES_PER_DAY": int(env.get("JOIN_REPLIES_PER_DAY") or 2),
        "OPTOUT_WORDS": _split(env.get("OPTOUT_WORDS")) or ["bayi", "bàyyi", "noppi"],
        "STAFF_PHONES": _split(env.get("STAFF_PHONES")),
        "CONVERSATION_TIMEOUT_MINUTES": int(env.get("CONVERSATION_TIMEOUT_MINUTES") or 30),
        # How many proxies in front of the web process append to X-Forwarded-For / set X-Forwarded-Proto.
        # 0 trusts no such header: a client's address is the socket's, whatever it writes in its headers.
        "TRUSTED_PROXIES": _count(env, "TRUSTED_PROXIES", 0),
        # Threads per gunicorn worker (the Procfile passes the same variable); the database pool matches it.
        "WEB_THREADS": _count(env, "WEB_THREADS", 8, minimum=1),
    }


def check(config: dict) -> None:
    """Refuse to start with settings that would make the service unsafe; ConfigError says what to set."""
    proxies = config.get("TRUSTED_PROXIES", 0)
    if isinstance(proxies, bool) or not isinstance(proxies, int) or proxies < 0:
        raise ConfigError(f"TRUSTED_PROXIES must be a whole number, 0 or more, not {proxies!r}")
    base = config.get("PUBLIC_BASE_URL")
    if config.get("TWILIO_AUTH_TOKEN") and not base:
        raise ConfigError(
            "PUBLIC_BASE_URL is required when TWILIO_AUTH_TOKEN is set: Twilio signs the exact URL it calls, and "
            "without it the URL checked would be built from headers any client can write. Set it to the address "
            "Twilio calls, e.g. PUBLIC_BASE_URL=https://ovop.example.org")
    if base:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"PUBLIC_BASE_URL must be an http(s) address such as https://ovop.example.org, "
                              f"not {base!r}")


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
