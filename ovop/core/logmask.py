"""Phone numbers in log lines, masked: "+221770000101" is logged as "+221*******01".

Installed once per process as a log-record factory, so every line is masked before any handler sees it: ours,
the libraries' (a Twilio error quoting the recipient), tracebacks, and URLs in request logs ("%2B221…").
The country code and the last two digits stay, enough to tell messages apart when reading a log.
"""
from __future__ import annotations

import logging
import re
import threading

# "+" or its URL form "%2B", then 7 to 15 digits (E.164), not glued to other digits.
PHONE = re.compile(r"(?<![\d+])(\+|%2[Bb])(\d{3})(\d{2,10})(\d{2})(?!\d)")
_lock = threading.Lock()
_installed = False


def mask(text: str) -> str:
    """`text` with every phone number's middle digits replaced by stars."""
    return PHONE.sub(lambda found: f"{found[1]}{found[2]}{'*' * len(found[3])}{found[4]}", text)


def _mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to logging's own error report
        return
    masked = mask(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = mask(logging.Formatter().formatException(record.exc_info))


def install() -> None:
    """Mask phone numbers in every log record made from now on, in this process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        make_record = logging.getLogRecordFactory()

        def masked_record(*args, **kwargs) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            _mask_record(record)
            return record

        logging.setLogRecordFactory(masked_record)
        _installed = True
