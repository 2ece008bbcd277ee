"""One transport for the sender, which hands each message to its channel's carrier.

Who carries what is decided in one place, `ovop.messaging.channels.provider_for`: SMS by SMS_PROVIDER (Twilio or
the SMS gateway on a local SIM), WhatsApp by Twilio, everything by the console when OUTBOUND_BACKEND=console.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ovop.messaging.channels import provider_for
from ovop.messaging.smsgate import NAME as SMSGATE, SmsGateTransport
from ovop.messaging.transport import ConsoleTransport, SendResult, Transport, TransportError, twilio_from_config

CHANNELS = ("sms", "whatsapp")


class Carriers:
    """Sends each channel through its own transport (`by_channel`), with the interface of one transport."""

    def __init__(self, by_channel: dict[str, Any], providers: dict[str, str]):
        self.by_channel, self.providers = by_channel, providers
        # What `flask worker` says it sends through, e.g. "sms by smsgate, whatsapp by twilio".
        self.name = ", ".join(f"{channel} by {providers[channel]}" for channel in by_channel)

    def carrier(self, channel: str) -> str | None:
        """The provider that carries `channel` (twilio | smsgate), None when none can."""
        return self.providers.get(channel) if channel in self.by_channel else None

    def _for(self, channel: str):
        transport = self.by_channel.get(channel)
        if transport is None:
            raise TransportError(f"no carrier configured for {channel}", permanent=True)
        return transport

    def can_send(self, channel: str) -> bool:
        transport = self.by_channel.get(channel)
        return transport is not None and getattr(transport, "can_send", lambda _channel: True)(channel)

    def send(self, to, channel, *, body=None, content_sid=None, content_variables=None, status_callback=None,
             key=None) -> SendResult:
        return self._for(channel).send(to, channel, body=body, content_sid=content_sid,
                                       content_variables=content_variables, status_callback=status_callback,
                                       key=key)

    def find_sent(self, to: str, channel: str, body: str | None, since: datetime | None, *,
                  template: bool = False, content_variables: dict[str, Any] | None = None,
                  key: str | None = None) -> list[str]:
        transport = self._for(channel)
        if not hasattr(transport, "find_sent"):
            return []
        return transport.find_sent(to, channel, body, since, template=template,
                                   content_variables=content_variables, key=key)


def transport_from_config(config: dict) -> Transport:
    """The transport the settings ask for: the console (OUTBOUND_BACKEND=console), else each channel's carrier."""
    if provider_for(config, "sms") == "console":
        return ConsoleTransport()
    built: dict[str, Any] = {}
    by_channel: dict[str, Any] = {}
    providers = {channel: provider_for(config, channel) for channel in CHANNELS}
    for channel, provider in providers.items():
        if provider not in built:
            built[provider] = _build(config, provider)
        if built[provider] is not None:
            by_channel[channel] = built[provider]
    if not by_channel:
        raise RuntimeError("no carrier configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or "
                           "SMS_PROVIDER=smsgate with SMSGATE_URL, SMSGATE_USERNAME and SMSGATE_PASSWORD")
    return Carriers(by_channel, providers)


def _build(config: dict, provider: str):
    """The transport of one provider, or None when its settings are missing (that channel cannot be sent)."""
    if provider == SMSGATE:
        if not (config.get("SMSGATE_URL") and config.get("SMSGATE_USERNAME") and config.get("SMSGATE_PASSWORD")):
            return None
        return SmsGateTransport(config["SMSGATE_URL"], config["SMSGATE_USERNAME"], config["SMSGATE_PASSWORD"],
                                timeout=config["SMSGATE_TIMEOUT"])
    if not (config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN")):
        return None
    return twilio_from_config(config)
