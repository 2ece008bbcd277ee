"""Small helpers shared by tests: signing webhooks, serving the app on loopback, making producers."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from ovop.models import Cooperative, Producer, Product


def sign(auth_token: str, url: str, form: dict) -> str:
    """X-Twilio-Signature as Twilio computes it for `url` and `form`."""
    return RequestValidator(auth_token).compute_signature(url, form)


def inbound_form(phone: str, body: str, sid: str, channel: str = "sms") -> dict:
    """The form Twilio posts for one inbound message."""
    sender = f"whatsapp:{phone}" if channel == "whatsapp" else phone
    return {"From": sender, "To": "whatsapp:+14155238886" if channel == "whatsapp" else "+15005550006",
            "Body": body, "MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "NumMedia": "0"}


@contextmanager
def live_server(app):
    """Serve `app` on a free loopback port in a thread (for real concurrent HTTP requests)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def add_producer(session, phone="+221770000101", *, name="Awa Ndiaye", language="fr", channel="sms",
                 products=("yaourt",), cooperative="GIE Takku Liggéey") -> Producer:
    """A producer of a cooperative making `products` (created as needed)."""
    from sqlalchemy import select
    made = []
    for code in products:
        product = session.scalar(select(Product).where(Product.code == code))
        if product is None:
            product = Product(code=code, unit="pot", name_fr=code, low_stock_threshold=10)
            session.add(product)
        made.append(product)
    coop = session.scalar(select(Cooperative).where(Cooperative.name == cooperative))
    if coop is None:
        coop = Cooperative(name=cooperative, region="Thiès", products=list(made))
        session.add(coop)
    producer = Producer(phone=phone, name=name, language=language, channel=channel, cooperative=coop,
                        products=list(made))
    session.add(producer)
    session.flush()
    return producer
