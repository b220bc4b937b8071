# The SMTP server fixtures are shared with tests/mail.
from tests.mail.conftest import make_smtpd, smtpd  # noqa: F401
