"""The command line: the web app with the `flask` commands of ovop/cli/commands.py added."""
from __future__ import annotations

import click
from flask import Flask

from ovop.cli.commands import register
from ovop.core.config import ConfigError
from ovop.web.app import create_app as create_web_app


class StartRefused(click.ClickException, ConfigError):
    """A ConfigError that the `flask` command prints as one line ("Error: QUIET_HOURS must be …"), exit status 1."""


def create_app(config: dict | None = None) -> Flask:
    """The app every process builds (web, worker, CLI and tests): the web app plus its commands."""
    try:
        app = create_web_app(config)
    except ConfigError as error:
        raise StartRefused(str(error)) from None
    register(app)
    return app
