"""The Mollie webhook (issue 16, case 10): it proves nothing, so each call with a known ``tr_`` id makes a live call
to Mollie. Before: no limit at all, anyone could make Duly call Mollie as fast as they could post. Now a limit per
source address answers 429 above it (Mollie retries), and the same id again within a few seconds is answered 200
without a second fetch."""

import itertools

import pytest

from portal.payments import service

_addresses = itertools.count(1)


@pytest.fixture
def fetches(monkeypatch):
    """The payment ids the webhook asked Mollie about."""
    asked = []
    monkeypatch.setattr(service, "sync", lambda session, mollie_id, endpoint: asked.append(mollie_id) or "unchanged")
    return asked


def _address() -> str:
    """An address of this test's own, so that limits counted by other tests (all from 127.0.0.1) do not count."""
    return f"198.51.100.{next(_addresses)}"


def test_too_many_calls_from_one_address_get_429(app, client, monkeypatch, fetches):
    monkeypatch.setitem(app.config, "MOLLIE_WEBHOOK_RATE_LIMIT", "5 per minute")
    attacker, mollie = _address(), _address()

    answers = [
        client.post("/mollie/webhook", data={"id": f"tr_probe{n}"}, environ_base={"REMOTE_ADDR": attacker}).status_code
        for n in range(8)
    ]

    assert answers == [200] * 5 + [429] * 3
    assert fetches == [f"tr_probe{n}" for n in range(5)]  # the refused calls never reached Mollie
    # Another address (Mollie's own) is not held back by the attacker's calls.
    real = client.post("/mollie/webhook", data={"id": "tr_real"}, environ_base={"REMOTE_ADDR": mollie})
    assert real.status_code == 200
    assert fetches[-1] == "tr_real"


def test_the_same_id_again_within_seconds_is_not_fetched_twice(app, client, monkeypatch, fetches):
    monkeypatch.setitem(app.config, "MOLLIE_WEBHOOK_DEDUPE_SECONDS", 5)
    address = _address()

    answers = [
        client.post("/mollie/webhook", data={"id": mollie_id}, environ_base={"REMOTE_ADDR": address}).status_code
        for mollie_id in ("tr_dedupe1", "tr_dedupe1", "tr_dedupe1", "tr_dedupe2")
    ]

    assert answers == [200, 200, 200, 200]
    assert fetches == ["tr_dedupe1", "tr_dedupe2"]
