"""Serving a stored photo, voice note or PDF to staff (the dashboard's session or the API's token decides who).

Only a row's file as ovop.messaging.media stored it (YYYY/MM/<random>.<ext>, resolved under MEDIA_DIR) is ever
served: no path from the request reaches the file system. Images and audio are shown inline; a PDF and any
other type are downloads. `nosniff` and a sandboxing CSP keep a file from being run as a page.
"""
from __future__ import annotations

from flask import Response, send_file

from ovop.messaging import media
from ovop.models import MessageMedia

PDF = "application/pdf"


def send(media_dir: str, row: MessageMedia | None) -> Response | None:
    """The file of a stored media row, or None (unknown, not stored, erased, or missing on disk)."""
    if row is None or row.status != "stored":
        return None
    target = media.stored_file(media_dir, row.path)
    if target is None:
        return None
    kind = media.bare_type(row.content_type)
    inline = kind in media.INLINE
    mimetype = kind if inline or kind == PDF else "application/octet-stream"
    response = send_file(target, mimetype=mimetype, conditional=True, max_age=0,
                         as_attachment=not inline, download_name=f"media-{row.id}{media.extension(kind)}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
