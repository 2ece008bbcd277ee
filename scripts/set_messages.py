"""Set catalogue texts from a small JSON file: {"key": {"fr": "...", "en": "...", "wo": "..."}}.

    .venv/bin/python scripts/set_messages.py messages.json

Run `make translations` first so the keys exist; a Wolof text is marked "check with producers".
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parent.parent / "locales"


def main(path: str) -> None:
    texts = json.loads(Path(path).read_text(encoding="utf-8"))
    for lang in ("fr", "wo", "en"):
        po_path = LOCALES / lang / "LC_MESSAGES" / "messages.po"
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=lang)
        for key, by_lang in texts.items():
            if lang not in by_lang:
                continue
            message = catalog.get(key)
            if message is None:
                sys.exit(f"{key} is not in {po_path}: run `make translations` first")
            message.string = by_lang[lang]
            message.flags.discard("fuzzy")
            if lang == "wo" and "check with producers" not in message.user_comments:
                message.user_comments.append("check with producers")
        with po_path.open("wb") as handle:
            write_po(handle, catalog, width=110)


if __name__ == "__main__":
    main(sys.argv[1])
