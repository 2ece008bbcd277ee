"""Settings from the environment, in one place, with the defaults of the contract in DESIGN.md."""
from __future__ import annotations

import os
import secrets


# Settings whose defaults live next to the code that uses them; taken from the environment only when set.
PASSED_THROUGH = ("TWILIO_TEMPLATES", "QUIET_HOURS", "PRICE_TIP_SCHEDULE", "STOCK_REMINDER_SCHEDULE", "PRICE_MARKET",
                  "SCHEDULER_INTERVAL_MINUTES", "WEEKLY_WINDOW_HOURS")


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


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
    }


def fill_secrets(config: dict) -> list[str]:
    """Generate the admin token and password when unset; return lines telling the operator what was made."""
    told = []
    if not config.get("ADMIN_TOKEN"):
        config["ADMIN_TOKEN"] = secrets.token_urlsafe(24)
        told.append(f"ADMIN_TOKEN (API bearer token) was not set; generated: {config['ADMIN_TOKEN']}")
    if not config.get("ADMIN_PASSWORD"):
        config["ADMIN_PASSWORD"] = secrets.token_urlsafe(12)
        told.append(f"ADMIN_PASSWORD (dashboard user 'admin') was not set; generated: {config['ADMIN_PASSWORD']}")
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = secrets.token_hex(32)
    return told
