"""The one clock of the service, so tests and `jobs run --at` can set the time."""
from __future__ import annotations

import contextlib
import threading
from datetime import datetime, timedelta, timezone

_state = threading.local()
_frozen: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """Return the current time, timezone-aware in UTC (or the time a test or a job run set)."""
    frozen = getattr(_state, "frozen", None) or _frozen
    return frozen if frozen is not None else datetime.now(timezone.utc) + _offset


def shift_to(moment: datetime) -> None:
    """Make the running clock start from `moment` and keep ticking (the test suite's `--now`)."""
    global _offset
    if moment.tzinfo is None:
        raise ValueError("shift_to needs a timezone-aware datetime")
    _offset = moment - datetime.now(timezone.utc)


@contextlib.contextmanager
def frozen_at(moment: datetime, *, all_threads: bool = False):
    """Make now() answer `moment` inside the block (this thread only unless all_threads)."""
    global _frozen
    if moment.tzinfo is None:
        raise ValueError("frozen_at needs a timezone-aware datetime")
    moment = moment.astimezone(timezone.utc)
    if all_threads:
        previous, _frozen = _frozen, moment
    else:
        previous, _state.frozen = getattr(_state, "frozen", None), moment
    try:
        yield moment
    finally:
        if all_threads:
            _frozen = previous
        else:
            _state.frozen = previous
