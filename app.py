"""The entry point named by `flask --app app …`, the Procfile and gunicorn (`app:create_app()`); the code is in ovop/."""
from ovop.cli import create_app

__all__ = ["create_app"]
