"""The floor the webhook is compared with: bare Flask answering the same TwiML, with no signature check,
no database and no engine. Served by the same gunicorn settings as the real app (bench/webhook_load.py).

BENCH_TWIML names a file holding the TwiML to answer (a real reply of the full app, captured by the benchmark).
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response, request


def create_app() -> Flask:
    """A Flask app with POST /twilio/inbound answering a fixed TwiML document, and /healthz."""
    app = Flask(__name__)
    path = os.environ.get("BENCH_TWIML")
    empty = '<?xml version="1.0" encoding="UTF-8"?><Response />'
    document = Path(path).read_text(encoding="utf-8") if path else empty

    @app.post("/twilio/inbound")
    def inbound():
        request.form.get("From")  # parse the form, as any handler of a Twilio webhook must
        return Response(document, mimetype="application/xml")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
