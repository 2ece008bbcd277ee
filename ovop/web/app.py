"""The web app: `create_app` builds Flask with the webhooks, the API and the dashboard (the CLI adds its commands)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, Request, jsonify
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix

from ovop.core import config as settings
from ovop.core import logmask
from ovop.core.db import Database
from ovop.messaging.carriers import transport_from_config
from ovop.messaging.transport import Transport
from ovop.web.api import bp as api_bp
from ovop.web.dashboard import bp as dashboard_bp
from ovop.web.smsgate import bp as smsgate_bp
from ovop.web.webhook import bp as webhook_bp

# A body nobody needs to send to the pages without a cap of their own (/healthz, unknown paths). The webhooks,
# the API and the dashboard set theirs before reading anything (ovop/web/webhook.py, ovop/web/api/, ovop/web/dashboard/auth.py).
DEFAULT_MAX_BODY = 16 * 1024


@dataclass
class Services:
    """What the app was built with, reachable as app.extensions["ovop"]."""

    db: Database
    transport: Transport


class OvopRequest(Request):
    """Flask's request, where JSON nested deeper than Python can parse is a 400, not a RecursionError (a 500).

    Even for get_json(silent=True): silence is for malformed JSON, and "the body must be JSON" would mislead.
    """

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            raise BadRequest("the JSON body is nested too deeply") from None


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask app from the environment, overridden by `config` (tests pass theirs)."""
    app = Flask(__name__, instance_relative_config=True)
    app.request_class = OvopRequest
    # Every variable parsed and checked once, here: a bad one stops the start with a ConfigError naming it.
    # app.config then holds all of them (the layers below read it as a complete dict), plus Flask's own keys.
    app.config.update(config or {})
    app.config.update(settings.load(config).as_config())
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = DEFAULT_MAX_BODY
    for line in settings.fill_secrets(app.config):
        # Said once, the first time a secret is generated (and kept under instance/); `serve` repeats it.
        print(line, flush=True)
    app.secret_key = app.config["SECRET_KEY"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # The twilio client logs every call at INFO, headers and recipient included: its warnings are enough.
    logging.getLogger("twilio").setLevel(logging.WARNING)
    logmask.install()  # phone numbers in log lines keep their country code and last two digits only

    # Behind Heroku's router or nginx the client's address and the scheme arrive in X-Forwarded-* headers, but
    # anyone can write those: they are believed only from the TRUSTED_PROXIES proxies the operator says are there.
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=0, x_port=0, x_prefix=0)

    app.extensions["ovop"] = Services(db=Database(app.config["DATABASE_URL"], pool_size=app.config["WEB_THREADS"]),
                                      transport=transport_from_config(app.config))

    app.register_blueprint(webhook_bp)
    app.register_blueprint(smsgate_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(dashboard_bp)

    @app.get("/healthz")
    def healthz():
        """200 when the database answers and is at the migrations' head, 503 otherwise (load balancers, uptime)."""
        problem = app.extensions["ovop"].db.health()
        if problem is None:
            return jsonify(status="ok")
        return jsonify(status="unavailable", error=problem), 503
    return app
