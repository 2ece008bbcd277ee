"""Settings from the environment, in one place, with the defaults of the contract in DESIGN.md."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


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


def fill_secrets(config: dict, store: Path | None = None) -> list[str]:
    """Generate the admin token, password and session key when unset, kept in `store` so a restart keeps them.

    Returns lines telling the operator what was generated this time (nothing when they were already kept).
    """
    store = store or Path(__file__).resolve().parent.parent / "instance" / "generated-secrets.json"
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
