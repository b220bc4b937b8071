"""Put on a child process's PYTHONPATH by tests.clock.process_env: it starts the process on the test's moved clock.

Python imports ``sitecustomize`` at start-up, before any of the process's own code, so an ``rq worker`` or a
``flask`` command sees the same "now" as the test that started it.
"""

import os

_offset = os.environ.get("DULY_TEST_CLOCK_OFFSET")
if _offset:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()
