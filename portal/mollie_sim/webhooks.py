"""Webhook calls as Mollie makes them: ``POST id=tr_...`` form-encoded, retried with a growing pause on failure.

Mollie retries for about a day; the simulator retries a few times over seconds. A failed webhook never fails the
request that caused it. ``background=False`` makes every attempt, retries included, before ``deliver`` returns, so
that tests need not wait for threads.
"""

import logging
import threading
import time
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

log = logging.getLogger(__name__)


class WebhookSender:
    def __init__(
        self, *, background: bool = True, attempts: int = 4, backoff: float = 2.0, timeout: float = 5.0
    ) -> None:
        self.background, self.attempts, self.backoff, self.timeout = background, attempts, backoff, timeout

    def deliver(self, url: str, payment_id: str, *, wait: bool) -> None:
        """Call ``url`` about ``payment_id``; with ``wait`` the first attempt is made before returning."""
        if not self.background:
            self._attempts(url, payment_id, first=0)
        elif not (wait and self._attempt(url, payment_id)):
            first = 1 if wait else 0
            threading.Thread(target=self._attempts, args=(url, payment_id, first), daemon=True).start()

    def _attempts(self, url: str, payment_id: str, first: int) -> None:
        for number in range(first, self.attempts):
            if number:
                time.sleep(self.backoff * 2 ** (number - 1))
            if self._attempt(url, payment_id):
                return
        log.warning("webhook %s for %s: gave up after %d attempts", url, payment_id, self.attempts)

    def _attempt(self, url: str, payment_id: str) -> bool:
        request = Request(  # noqa: S310 - the payment's webhookUrl was checked to be http(s) when it was created
            url,
            data=urlencode({"id": payment_id}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Mollie HTTP client/1.0"},
            method="POST",
        )
        try:
            with urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - as above
                return 200 <= response.status < 300
        except HTTPError as exc:
            exc.close()
            log.warning("webhook %s for %s: HTTP %s", url, payment_id, exc.code)
        except OSError as exc:  # URLError, refused connections and timeouts alike
            log.warning("webhook %s for %s: %s", url, payment_id, exc)
        return False
