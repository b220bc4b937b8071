"""The suite's clock reaches the processes tests start (tests/clock.py): a worker sees the test's "now"."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from tests.processes import ROOT, child_env

NOW = "from datetime import UTC, datetime; print(datetime.now(UTC).isoformat())"


def _child_now(app) -> datetime:
    output = subprocess.run(  # our own interpreter
        [sys.executable, "-c", NOW], env=child_env(app), cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return datetime.fromisoformat(output.strip())


def test_a_child_process_runs_on_the_tests_clock(app):
    assert abs(_child_now(app) - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_child_process_follows_a_clock_the_test_moved(app, time_machine):
    time_machine.move_to(datetime(2031, 2, 3, 4, 5, tzinfo=UTC), tick=True)
    assert abs(_child_now(app) - datetime(2031, 2, 3, 4, 5, tzinfo=UTC)) < timedelta(minutes=5)
