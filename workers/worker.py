"""Duly's RQ worker: `rq worker -w workers.worker.Worker`.

RQ runs each job in a forked work horse in a process group of its own, and a warm shutdown (SIGTERM or Ctrl-C to
the worker: docker stop, systemd, Kubernetes, the demo launcher) only waits for the horse. A job sending a batch of
reminders would then go on until nothing is due. This worker passes the shutdown on to the horse as SIGTERM: a
job that knows how to stop (dispatch_reminders) finishes the reminder it is sending and gives the rest back; every
other job ignores the signal and finishes as before.
"""

import contextlib
import os
import signal

from rq import Worker as RQWorker


class Worker(RQWorker):
    def setup_work_horse_signals(self) -> None:
        super().setup_work_horse_signals()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # unless the job installs its own handler

    def handle_warm_shutdown_request(self) -> None:
        super().handle_warm_shutdown_request()
        if self.horse_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.horse_pid, signal.SIGTERM)
