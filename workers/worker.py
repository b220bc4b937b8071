"""Duly's RQ worker: `rq worker -w workers.worker.Worker`.

RQ runs each job in a forked work horse in a process group of its own, and a warm shutdown (SIGTERM or Ctrl-C to
the worker: docker stop, systemd, Kubernetes, the demo launcher) only waits for the horse. A job sending a batch of
reminders would then go on until nothing is due. This worker passes the shutdown on to the horse as SIGTERM: a
job that knows how to stop (dispatch_reminders) finishes the reminder it is sending and gives the rest back; every
other job ignores the signal and finishes as before.

It also stops without the minute's wait RQ's own may take: RQ listens for commands on a pub/sub thread that blocks
up to 60 s per read, and closing that connection at exit waits for the read to end.
"""

import contextlib
import os
import signal

from rq import Worker as RQWorker

# How long the command listener blocks per read: the most a stopping worker waits for it.
PUBSUB_WAIT = 1


class Worker(RQWorker):
    def subscribe(self) -> None:
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_WAIT, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def setup_work_horse_signals(self) -> None:
        super().setup_work_horse_signals()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # unless the job installs its own handler

    def handle_warm_shutdown_request(self) -> None:
        super().handle_warm_shutdown_request()
        if self.horse_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.horse_pid, signal.SIGTERM)
