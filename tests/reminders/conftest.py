# The SMTP server and private-queue fixtures are shared with tests/mail.
from tests.mail.conftest import make_smtpd, rq_queue, smtpd  # noqa: F401
