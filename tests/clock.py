"""The suite's clock: real by default, or moved to a day that tends to break date-sensitive code.

``DULY_TEST_CLOCK=saturday make test-postgres`` (or ``pytest --clock=saturday``) runs every test as if it started at
that moment: each test travels there afresh (time-machine, ticking), so no test straddles midnight by accident, and
every process a test starts through ``tests.processes`` runs on the same moved clock (``clock_site/sitecustomize.py``
reads the offset from its environment). A test that pins its own clock inside still wins. ``make test-any-day`` runs
the suite under every preset below on both databases.

The presets lie ahead of the real date on purpose: Chromium keeps the real clock, and a cookie that the server dated in
the past would be dropped by it.
"""

import os
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
CLOCK_SITE = Path(__file__).resolve().parent / "clock_site"
OFFSET_VARIABLE = "DULY_TEST_CLOCK_OFFSET"

PRESETS = {
    "saturday": datetime(2026, 12, 12, 10, 0, tzinfo=AMSTERDAM),
    "sunday": datetime(2026, 12, 13, 15, 0, tzinfo=AMSTERDAM),
    # Christmas Day, a Friday: the next sending day is Monday the 28th (Boxing Day and a weekend between).
    "christmas": datetime(2026, 12, 25, 9, 30, tzinfo=AMSTERDAM),
    # After the send window, and an hour before midnight: the organisation's today is still the UTC date.
    "late-evening": datetime(2026, 12, 9, 23, 30, tzinfo=AMSTERDAM),
    # Just past midnight in Amsterdam, still yesterday in UTC (and on a machine whose local zone is UTC).
    "after-midnight": datetime(2026, 12, 10, 0, 30, tzinfo=AMSTERDAM),
    # A minute before the clocks go forward (02:00 CET becomes 03:00 CEST), and before they go back.
    "dst-spring": datetime(2027, 3, 28, 1, 59, tzinfo=AMSTERDAM),
    "dst-autumn": datetime(2027, 10, 31, 2, 59, fold=0, tzinfo=AMSTERDAM),
}


def destination(value: str | None) -> datetime | None:
    """A preset's name or an ISO 8601 moment with its offset; None or '' for the real clock."""
    if not value:
        return None
    if value in PRESETS:
        return PRESETS[value]
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"DULY_TEST_CLOCK={value!r}: give the offset too (e.g. 2026-12-12T10:00+01:00)")
    return moment


def offset_seconds() -> float:
    """How far this process's clock is from the real one: 0 unless a travel is on."""
    if not time_machine.escape_hatch.is_travelling():
        return 0.0
    return time.time() - time_machine.escape_hatch.time.time()


def process_env(pythonpath: str) -> dict[str, str]:
    """PYTHONPATH and the clock's offset for a child process, so that it runs on this process's clock."""
    offset = offset_seconds()
    if abs(offset) < 1:
        return {"PYTHONPATH": pythonpath}
    return {OFFSET_VARIABLE: repr(offset), "PYTHONPATH": os.pathsep.join((str(CLOCK_SITE), pythonpath))}
