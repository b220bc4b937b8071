"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, on a free port, in a thread of its own.

The handlers record what the server accepted, so that a test can count the mails that arrived. Variants refuse
for a while (451), refuse for good (550), or drop the connection in the middle of DATA.
"""

import threading
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from portal.launcher import free_port


class RecordingHandler:
    """Accepts everything and keeps each message the server took responsibility for."""

    def __init__(self):
        self._lock = threading.Lock()
        self.envelopes = []
        self._parsed: list[EmailMessage] = []
        self.data_commands = 0

    def accept(self, envelope) -> None:
        with self._lock:
            self.envelopes.append(envelope)
            self._parsed.append(message_from_bytes(envelope.original_content, policy=policy.default))

    @property
    def messages(self) -> list[EmailMessage]:
        # Parsed once, at accept: aiosmtpd reads every attribute of its handler on each connection, and parsing
        # every message so far there made a run of many mails quadratic.
        with self._lock:
            return list(self._parsed)

    def reply_to_data(self, server, session, envelope) -> str:
        self.accept(envelope)
        return "250 2.0.0 Message accepted for delivery"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self._lock:
            self.data_commands += 1
        return self.reply_to_data(server, session, envelope)


class TempFailFirstHandler(RecordingHandler):
    """451 to the first DATA, 250 afterwards: a server that is busy once."""

    def reply_to_data(self, server, session, envelope) -> str:
        if self.data_commands == 1:
            return "451 4.3.0 Try again later"
        return super().reply_to_data(server, session, envelope)


class RejectHandler(RecordingHandler):
    """550 to DATA: a permanent refusal."""

    def reply_to_data(self, server, session, envelope) -> str:
        return "550 5.7.1 Message refused"


class RcptHandler(RecordingHandler):
    """Answers RCPT TO with a fixed reply (450 greylisting, 550 unknown user)."""

    def __init__(self, reply: str):
        super().__init__()
        self.reply = reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        return self.reply


class DisconnectBeforeDataHandler(RecordingHandler):
    """Drops the connection at MAIL FROM: the server never saw the message, so it may be sent again."""

    def __init__(self):
        super().__init__()
        self.dropped = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        with self._lock:
            self.dropped += 1
        if self.dropped == 1:
            server.transport.abort()
            return "421 4.3.0 going away"  # never reaches the client: the transport is gone
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


class DisconnectDuringDataHandler(RecordingHandler):
    """Receives the whole message, then drops the connection instead of answering: the sender cannot know."""

    def reply_to_data(self, server, session, envelope) -> str:
        self.accept(envelope)
        server.transport.abort()
        return "250 2.0.0 never sent"


class SMTPServer:
    def __init__(self, handler: RecordingHandler):
        self.handler = handler
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port, ready_timeout=10)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages


@contextmanager
def smtp_server(handler: RecordingHandler | None = None):
    server = SMTPServer(handler or RecordingHandler())
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()
