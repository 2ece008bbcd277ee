"""Photos, voice notes and documents producers send: fetched from Twilio with the account's credentials and kept
under MEDIA_DIR.

The webhook records each file as a `MessageMedia` row, "pending", with the address Twilio gave. `fetch_pending`
(run by the worker every minute, and by `flask media fetch`) downloads them:

- only from Twilio's media host: https://api.twilio.com, or the host of TWILIO_API_BASE_URL when it is set (the
  fake Twilio of the tests), under /2010-04-01/Accounts/<our AccountSid>/Messages/…/Media/…. A webhook can be
  forged in local mode, so any other address is refused without a request (no fetching on a stranger's behalf);
- with HTTP Basic AccountSid:AuthToken on that host only: Twilio answers with a redirect to its CDN, which is
  followed without our credentials;
- only images, audio and PDF, at most MEDIA_MAX_BYTES: the body is streamed and the download stopped at the
  limit; a bigger file is "refused" and nothing of it is left on disk;
- under a random name with the extension of its type; the row's `source_url` (it names our account) is cleared
  once the file is kept, refused or given up;
- a failure (network, 5xx, 429) is retried on the next runs, MAX_ATTEMPTS in all, then "failed". Never a crash.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from sqlalchemy import select, update

from ovop.core import clock
from ovop.core.db import Database
from ovop.models import MessageMedia

log = logging.getLogger(__name__)

TWILIO_MEDIA_ORIGIN = "https://api.twilio.com"
MAX_ATTEMPTS = 5
BATCH = 20  # files fetched per run; the next run takes the rest
TIMEOUT = (5.0, 20.0)  # connect, read (between two chunks)
DEADLINE = 120.0  # seconds for a whole download: a host that drips bytes is given up and retried later
MAX_REDIRECTS = 3
CHUNK = 64 * 1024

EXTENSIONS = {
    "image/jpeg": ".jpg", "image/jpg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
    "image/heic": ".heic", "audio/ogg": ".ogg", "audio/opus": ".opus", "audio/mpeg": ".mp3", "audio/mp3": ".mp3",
    "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/amr": ".amr", "audio/wav": ".wav", "audio/x-wav": ".wav",
    "audio/webm": ".weba", "application/pdf": ".pdf",
}
# What the dashboard may show inline; any other kept type is served as a download.
INLINE = frozenset(t for t in EXTENSIONS if t.startswith(("image/", "audio/"))) - {"image/heic"}
_MEDIA_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-fA-F]{32}|AC[0-9a-zA-Z]{1,64})"
                         r"/Messages/[A-Za-z0-9]{1,64}/Media/[A-Za-z0-9]{1,64}$")
_STORED_NAME = re.compile(r"^\d{4}/\d{2}/[0-9a-f]{32}\.[a-z0-9]{2,5}$")


def bare_type(content_type: str | None) -> str:
    """'audio/ogg; codecs=opus' -> 'audio/ogg'."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def kept(content_type: str | None) -> bool:
    """Images, audio and PDF are kept; anything else is refused."""
    kind = bare_type(content_type)
    return kind.startswith(("image/", "audio/")) or kind == "application/pdf"


def kind_of(content_type: str | None) -> str:
    """photo | voice | document | file: what the producer is thanked for."""
    kind = bare_type(content_type)
    if kind.startswith("image/"):
        return "photo"
    if kind.startswith("audio/"):
        return "voice"
    if kind == "application/pdf":
        return "document"
    return "file"


def extension(content_type: str | None) -> str:
    kind = bare_type(content_type)
    if kind in EXTENSIONS:
        return EXTENSIONS[kind]
    sub = re.sub(r"[^a-z0-9]", "", kind.partition("/")[2])[:5]
    return f".{sub}" if len(sub) >= 2 else ".bin"


def valid_stored_path(path: str | None) -> bool:
    """A path this module wrote (YYYY/MM/<32 hex>.<ext>): nothing else is ever served or deleted."""
    return bool(path) and bool(_STORED_NAME.match(path))


def stored_file(media_dir: str, path: str | None) -> Path | None:
    """The file of a stored row, when it is one of ours and lies under MEDIA_DIR; else None."""
    if not valid_stored_path(path):
        return None
    root = Path(media_dir).resolve()
    target = (root / path).resolve()
    if root not in target.parents or not target.is_file():
        return None
    return target


def discard(media_dir: str, paths) -> int:
    """Delete stored files (an erasure); returns how many were removed. A missing file is no error."""
    removed = 0
    for path in paths:
        target = stored_file(media_dir, path)
        if target is not None:
            try:
                target.unlink()
                removed += 1
            except OSError:
                log.warning("could not delete media file %s", path)
    return removed


def _origin(config: dict) -> tuple[str, str]:
    base = config.get("TWILIO_API_BASE_URL")
    if not base:  # unset: the real Twilio (the fake Twilio of the tests sets it)
        base = TWILIO_MEDIA_ORIGIN
    parts = urlsplit(base)
    return parts.scheme.lower(), _netloc(parts)


def _netloc(parts) -> str:
    """host:port with the default port written out, so 'api.twilio.com' and 'api.twilio.com:443' compare equal."""
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return ""
    return f"{(parts.hostname or '').lower()}:{port}"


def from_twilio(url: str | None, config: dict) -> bool:
    """True when `url` is a media address of our own Twilio account on Twilio's media host."""
    if not url:
        return False
    parts = urlsplit(url)
    scheme, netloc = _origin(config)
    if parts.scheme.lower() != scheme or _netloc(parts) != netloc or parts.username or parts.password:
        return False
    if parts.query or parts.fragment:
        return False
    match = _MEDIA_PATH.match(parts.path)
    return bool(match) and match["account"] == config.get("TWILIO_ACCOUNT_SID")


@dataclass(frozen=True)
class Result:
    status: str  # stored | refused | failed | retry
    path: str | None = None
    size: int | None = None
    error: str | None = None


def fetch_pending(db: Database, config: dict, now: datetime | None = None, limit: int = BATCH) -> int:
    """Fetch what is pending (a batch); returns how many files were stored. Without Twilio credentials
    nothing is fetched (local mode): the rows wait."""
    account, token = config.get("TWILIO_ACCOUNT_SID"), config.get("TWILIO_AUTH_TOKEN")
    now = now or clock.now()
    with db.transaction() as session:
        rows = session.execute(select(MessageMedia.id, MessageMedia.content_type, MessageMedia.source_url,
                                      MessageMedia.attempts)
                               .where(MessageMedia.status == "pending", MessageMedia.attempts < MAX_ATTEMPTS)
                               .order_by(MessageMedia.id).limit(limit)).all()
    stored = 0
    for media_id, content_type, url, attempts in rows:
        if not from_twilio(url, config):
            host = urlsplit(url or "").hostname or "?"
            _finish(db, media_id, attempts, Result("refused", error=f"not a Twilio media address (host {host})"),
                    now, keep_url=True)
            continue
        if not kept(content_type):
            _finish(db, media_id, attempts, Result("refused", error=f"type not kept: {bare_type(content_type)}"),
                    now)
            continue
        if not (account and token):
            continue
        if not _claim(db, media_id, attempts):
            continue  # another worker took it
        result = download(url, content_type, config, now)
        if result.status == "retry" and attempts + 1 >= MAX_ATTEMPTS:
            result = Result("failed", error=result.error)
        try:
            recorded = _finish(db, media_id, attempts + 1, result, now)
        except Exception:
            if result.path:
                discard(config["MEDIA_DIR"], [result.path])
            raise
        if not recorded:
            # The row left "pending" during the download (the producer was erased): the file has no owner.
            if result.path:
                discard(config["MEDIA_DIR"], [result.path])
            continue
        stored += result.status == "stored"
    return stored


def _claim(db: Database, media_id: int, attempts: int) -> bool:
    """Count the attempt before the download: a worker that dies mid-download still uses one of the tries."""
    with db.transaction() as session:
        claimed = session.execute(update(MessageMedia)
                                  .where(MessageMedia.id == media_id, MessageMedia.status == "pending",
                                         MessageMedia.attempts == attempts)
                                  .values(attempts=attempts + 1).execution_options(synchronize_session=False))
        return claimed.rowcount == 1


def _finish(db: Database, media_id: int, attempts: int, result: Result, now: datetime,
            keep_url: bool = False) -> bool:
    """Record the outcome on a row still pending; False when it is no longer (erased meanwhile)."""
    values: dict = {"error": result.error}
    if result.status != "retry":
        values.update(status=result.status, path=result.path, size=result.size, fetched_at=now)
        if not keep_url:
            values["source_url"] = None
    with db.transaction() as session:
        return session.execute(update(MessageMedia)
                               .where(MessageMedia.id == media_id, MessageMedia.status == "pending")
                               .values(**values).execution_options(synchronize_session=False)).rowcount == 1


def download(url: str, content_type: str, config: dict, now: datetime) -> Result:
    """One try at fetching `url` into MEDIA_DIR (see the module's rules). Never raises for the network."""
    credentials = (config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"])
    scheme, origin = _origin(config)
    limit = config["MEDIA_MAX_BYTES"]
    session = requests.Session()
    session.trust_env = False  # no proxy or .netrc from the environment decides where credentials go
    current = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            ours = parts.scheme.lower() == scheme and _netloc(parts) == origin
            response = session.get(current, auth=credentials if ours else None, stream=True, timeout=TIMEOUT,
                                   allow_redirects=False, headers={"Accept": "*/*"})
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                current = urljoin(current, location)
                target = urlsplit(current)
                if target.scheme.lower() not in ("http", "https") or not target.hostname:
                    return Result("failed", error="redirected to an address that is not http(s)")
                if scheme == "https" and target.scheme.lower() != "https":
                    return Result("failed", error="redirected from https to plain http")
                continue
            with response:
                return _save(response, content_type, config["MEDIA_DIR"], limit, now)
        return Result("failed", error="too many redirects")
    except requests.RequestException as error:
        return Result("retry", error=f"{type(error).__name__}: could not reach the media host")
    except OSError as error:
        log.exception("could not write a media file under %s", config["MEDIA_DIR"])
        return Result("retry", error=f"could not write the file: {error.strerror or error}")
    finally:
        session.close()


def _save(response: requests.Response, declared: str, media_dir: str, limit: int, now: datetime) -> Result:
    status = response.status_code
    if status == 429 or status >= 500 or status in (401, 403):
        return Result("retry", error=f"the media host answered {status}")
    if status != 200:
        return Result("failed", error=f"the media host answered {status}")
    served = bare_type(response.headers.get("Content-Type"))
    if served and served != "application/octet-stream" and not kept(served):
        return Result("refused", error=f"type not kept: {served}")
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        return Result("refused", error=f"larger than {limit} bytes ({length})")
    relative = f"{now:%Y/%m}/{secrets.token_hex(16)}{extension(declared)}"
    target = Path(media_dir) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    size, started = 0, time.monotonic()
    try:
        with open(partial, "xb") as out:
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _TooBig()
                if time.monotonic() - started > DEADLINE:
                    raise _TooSlow()
                out.write(chunk)
        os.replace(partial, target)
    except _TooBig:
        partial.unlink(missing_ok=True)
        return Result("refused", error=f"larger than {limit} bytes")
    except _TooSlow:
        partial.unlink(missing_ok=True)
        return Result("retry", error=f"the download took longer than {DEADLINE:.0f} s")
    except BaseException:  # a network error is retried by the caller; nothing partial stays
        partial.unlink(missing_ok=True)
        raise
    return Result("stored", path=relative, size=size)


class _TooBig(Exception):
    pass


class _TooSlow(Exception):
    pass
