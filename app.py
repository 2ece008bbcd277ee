"""The OVOP producers' messaging service: `create_app` builds the web app, the worker and the CLI alike."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from bot import config as settings
from bot.db import Database
from bot.outbound import Transport, transport_from_config


@dataclass
class Services:
    """What the app was built with, reachable as app.extensions["ovop"]."""

    db: Database
    transport: Transport


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask app from the environment, overridden by `config` (tests pass theirs)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(settings.from_environment())
    app.config.update(config or {})
    for line in settings.fill_secrets(app.config):
        # Said once, the first time a secret is generated (and kept under instance/); `serve` repeats it.
        print(line, flush=True)
    app.secret_key = app.config["SECRET_KEY"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    # Behind Heroku/nginx the scheme and host Twilio signed arrive in X-Forwarded-* headers.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)

    app.extensions["ovop"] = Services(db=Database(app.config["DATABASE_URL"]),
                                      transport=transport_from_config(app.config))

    from admin.api import bp as api_bp
    from admin.dashboard import bp as dashboard_bp
    from bot.webhook import bp as webhook_bp
    app.register_blueprint(webhook_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(dashboard_bp)

    @app.get("/healthz")
    def healthz():
        """200 when the database answers, 503 otherwise (for load balancers and uptime checks)."""
        if app.extensions["ovop"].db.ping():
            return jsonify(status="ok")
        return jsonify(status="unavailable", error="database unreachable"), 503

    from bot.cli import register
    register(app)
    return app
