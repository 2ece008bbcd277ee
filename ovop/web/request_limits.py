"""Body caps for every HTTP endpoint (webhooks, API, dashboard), applied before anything reads the body."""
from __future__ import annotations

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge


def limit_body(cap: int) -> None:
    """Cap this request's body at `cap` bytes, before anything reads it: 413 above it.

    A declared Content-Length over the cap is refused unread. A body of unknown length (chunked) is read here,
    at most cap + 1 bytes, because Werkzeug would otherwise cut it silently at the cap and parse the rest.
    """
    request.max_content_length = cap
    if request.content_length is None and request.environ.get("wsgi.input_terminated"):
        request.max_content_length = cap + 1
        if len(request.get_data(cache=True)) > cap:
            raise RequestEntityTooLarge()
        request.max_content_length = cap
