"""The command line: the web app with the `flask` commands of ovop/cli/commands.py added."""
from __future__ import annotations

from flask import Flask

from ovop.cli.commands import register
from ovop.web.app import create_app as create_web_app


def create_app(config: dict | None = None) -> Flask:
    """The app every process builds (web, worker, CLI and tests): the web app plus its commands."""
    app = create_web_app(config)
    register(app)
    return app
