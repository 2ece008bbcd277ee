"""Fetch the photos, voice notes and documents producers sent (ovop.messaging.media), a batch a run."""
from __future__ import annotations

from datetime import datetime

from ovop.core.db import Database
from ovop.messaging import media


def run(db: Database, config: dict, now: datetime) -> int:
    """Download pending media into MEDIA_DIR; returns how many files were stored."""
    return media.fetch_pending(db, config, now)
