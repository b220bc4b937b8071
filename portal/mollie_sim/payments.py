"""Payments, refunds and chargebacks as Mollie keeps them, checked the way Mollie's v2 API checks them.

Functions here take the state's plain dicts and values and raise ``ApiError``; the views turn that into Mollie's
error object. Amounts are ``Decimal`` and leave as strings with two decimals, never as floats.
"""

import json
import re
import secrets
import string
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

STATUSES = ("open", "pending", "authorized", "paid", "failed", "canceled", "expired")
CHECKOUT_OUTCOMES = ("paid", "failed", "canceled", "expired")
STATUS_TIMESTAMPS = {
    "authorized": "authorizedAt",
    "paid": "paidAt",
    "failed": "failedAt",
    "canceled": "canceledAt",
    "expired": "expiredAt",
}
# The payment methods and locales Mollie documents for the Payments API (as words: easier to read than a list literal).
METHODS = frozenset(
    "alma applepay bacs bancomatpay bancontact banktransfer belfius billie blik creditcard directdebit eps giftcard "  # noqa: SIM905
    "ideal in3 kbc klarna klarnapaylater klarnapaynow klarnasliceit mbway multibanco mybank paybybank payconiq paypal "
    "paysafecard pointofsale przelewy24 riverty satispay swish trustly twint voucher".split()
)
LOCALES = frozenset(
    "en_US en_GB nl_NL nl_BE de_DE de_AT de_CH fr_FR fr_BE es_ES ca_ES pt_PT it_IT nb_NO sv_SE fi_FI da_DK is_IS "  # noqa: SIM905
    "hu_HU pl_PL lv_LV lt_LT".split()
)
CHECKOUT_LIFETIME = timedelta(minutes=15)
METADATA_LIMIT = 1024  # "up to approximately 1kB" of JSON
_ID_ALPHABET = string.ascii_letters + string.digits
_VALUE = re.compile(r"\d{1,10}\.\d{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")


class ApiError(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


def now() -> str:
    return _iso(datetime.now(UTC))


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat()  # 2026-11-23T10:00:00+00:00, as Mollie writes it


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def money(currency: str, value: Decimal) -> dict:
    return {"currency": currency, "value": f"{value:.2f}"}


def parse_amount(amount: object, field: str = "amount") -> tuple[str, Decimal]:
    if not isinstance(amount, dict):
        raise ApiError(422, "The amount is required and must be an object with a currency and a value", field)
    currency, value = amount.get("currency"), amount.get("value")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ApiError(422, "The currency is invalid", f"{field}.currency")
    if not isinstance(value, str) or not _VALUE.fullmatch(value):
        raise ApiError(422, "The amount contains an invalid value; use a string with two decimals", f"{field}.value")
    number = Decimal(value)
    if number <= 0:
        raise ApiError(422, "The amount is lower than the minimum", f"{field}.value")
    return currency, number


def _amount_of(payment: dict) -> tuple[str, Decimal]:
    return payment["amount"]["currency"], Decimal(payment["amount"]["value"])


def refunded(record: dict) -> Decimal:
    return sum((Decimal(r["amount"]["value"]) for r in record["refunds"]), Decimal("0.00"))


def charged_back(record: dict) -> Decimal:
    return sum((Decimal(c["amount"]["value"]) for c in record["chargebacks"]), Decimal("0.00"))


def remaining(record: dict) -> Decimal:
    return max(_amount_of(record["payment"])[1] - refunded(record) - charged_back(record), Decimal("0.00"))


def _text(body: dict, field: str, *, required: bool) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, f"The {field} is required", field)
    if len(value) > 255:
        raise ApiError(422, f"The {field} is longer than 255 characters", field)
    return value


def _url(body: dict, field: str, *, required: bool) -> str | None:
    value = body.get(field)
    if value in (None, "") and not required:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(422, f"The {field} is not a valid http(s) URL", field)
    return value


def _metadata(body: dict) -> object:
    metadata = body.get("metadata")
    if len(json.dumps(metadata)) > METADATA_LIMIT:
        raise ApiError(422, f"The metadata is larger than {METADATA_LIMIT} bytes", "metadata")
    return metadata


def _methods(body: dict) -> list[str]:
    method = body.get("method")
    if method is None:
        return []
    methods = [method] if isinstance(method, str) else method
    if not isinstance(methods, list) or not methods or not all(m in METHODS for m in methods):
        raise ApiError(422, "The payment method is invalid", "method")
    return methods


def _klarna(body: dict, currency: str, value: Decimal) -> None:
    """Klarna through the Payments API needs the order lines, adding up to the amount, and a billing address with a
    name, as Mollie refuses a payment without them."""
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines:
        raise ApiError(422, "The lines are required for Klarna", "lines")
    if sum((_line_total(n, line, currency) for n, line in enumerate(lines)), Decimal("0")) != value:
        raise ApiError(422, "The lines must add up to the amount", "lines")
    address = body.get("billingAddress")
    if not isinstance(address, dict):
        raise ApiError(422, "The billing address is required for Klarna", "billingAddress")
    for field in ("streetAndNumber", "postalCode", "city", "country", "email"):
        if not isinstance(address.get(field), str) or not address[field]:
            raise ApiError(422, f"The billing address needs {field}", f"billingAddress.{field}")
    if not address.get("organizationName") and not (address.get("givenName") and address.get("familyName")):
        raise ApiError(422, "The billing address needs a name", "billingAddress.givenName")


def _line_total(n: int, line, currency: str) -> Decimal:
    """One order line checked as Mollie does; its total."""
    where = f"lines.{n}"
    if not isinstance(line, dict) or not isinstance(line.get("description"), str) or not line["description"]:
        raise ApiError(422, "A line needs a description", f"{where}.description")
    quantity = line.get("quantity")
    if not isinstance(quantity, int) or quantity < 1:
        raise ApiError(422, "A line's quantity is a whole number of at least 1", f"{where}.quantity")
    unit = parse_amount(line.get("unitPrice"), f"{where}.unitPrice")
    line_total = parse_amount(line.get("totalAmount"), f"{where}.totalAmount")
    if unit[0] != currency or line_total[0] != currency or line_total[1] != unit[1] * quantity:
        raise ApiError(422, "A line's total is its quantity times its unit price", f"{where}.totalAmount")
    return line_total[1]


def create_payment(body: object, *, owner: str, mode: str, profile_id: str) -> dict:
    """A new open payment record: the public ``payment`` object plus what the simulator keeps beside it."""
    if not isinstance(body, dict):
        raise ApiError(422, "The request body must be a JSON object")
    currency, value = parse_amount(body.get("amount"))
    description = _text(body, "description", required=True)
    redirect_url = _url(body, "redirectUrl", required=True)
    webhook_url = _url(body, "webhookUrl", required=False)
    metadata = _metadata(body)
    methods = _methods(body)
    if "klarna" in methods:
        _klarna(body, currency, value)
    locale = body.get("locale")
    if locale is not None and locale not in LOCALES:
        raise ApiError(422, "The locale is invalid", "locale")
    if body.get("sequenceType", "oneoff") != "oneoff":
        raise ApiError(422, "The simulator knows only oneoff payments", "sequenceType")
    created = datetime.now(UTC)
    payment = {
        "resource": "payment",
        "id": new_id("tr_"),
        "mode": mode,
        "createdAt": _iso(created),
        "amount": money(currency, value),
        "description": description,
        # One method is the payment's method at once; a list only narrows the checkout's choice.
        "method": methods[0] if len(methods) == 1 else None,
        "metadata": metadata,
        "status": "open",
        "expiresAt": _iso(created + CHECKOUT_LIFETIME),
        "details": None,
        "profileId": profile_id,
        "sequenceType": "oneoff",
        "redirectUrl": redirect_url,
        "webhookUrl": webhook_url,
    }
    if locale:
        payment["locale"] = locale
    for field in ("lines", "billingAddress"):  # echoed as given, as Mollie does
        if body.get(field) is not None:
            payment[field] = body[field]
    return {"owner": owner, "methods": methods, "payment": payment, "refunds": [], "chargebacks": []}


def set_status(record: dict, status: str, method: str | None = None) -> None:
    if status not in STATUSES:
        raise ApiError(422, f"The status must be one of {', '.join(STATUSES)}", "status")
    if method is not None and method not in METHODS:
        raise ApiError(422, "The payment method is invalid", "method")
    payment = record["payment"]
    # One status, one timestamp: a payment moved back to open must not still look paid (the client reads paidAt).
    for stamp in STATUS_TIMESTAMPS.values():
        payment.pop(stamp, None)
    payment["status"] = status
    if status in STATUS_TIMESTAMPS:
        payment[STATUS_TIMESTAMPS[status]] = now()
    if method:
        payment["method"] = method
    if status == "paid":
        payment["method"] = payment["method"] or next(iter(record["methods"]), "ideal")
        if payment["method"] == "ideal":
            payment["details"] = {"consumerName": "T. TEST", "consumerAccount": "NL91ABNA0417164300"}


def add_refund(record: dict, body: object) -> dict:
    payment = record["payment"]
    if not isinstance(body, dict):
        raise ApiError(422, "The request body must be a JSON object")
    if payment["status"] != "paid":
        raise ApiError(422, f"The payment is {payment['status']}; only paid payments can be refunded")
    currency, value = parse_amount(body.get("amount"))
    if currency != payment["amount"]["currency"]:
        raise ApiError(422, "The refund's currency differs from the payment's", "amount.currency")
    if value > remaining(record):
        raise ApiError(422, f"The amount is higher than the {remaining(record):.2f} that can be refunded", "amount")
    refund = {
        "resource": "refund",
        "id": new_id("re_"),
        "mode": payment["mode"],
        "description": _text(body, "description", required=False) or "",
        "amount": money(currency, value),
        "settlementAmount": money(currency, -value),
        "metadata": _metadata(body),
        "status": "pending",
        "paymentId": payment["id"],
        "createdAt": now(),
    }
    record["refunds"].append(refund)
    return refund


def add_chargeback(record: dict, amount: object = None) -> dict:
    payment = record["payment"]
    if payment["status"] != "paid":
        raise ApiError(422, f"The payment is {payment['status']}; only paid payments can be charged back")
    currency, total = _amount_of(payment)
    left = total - charged_back(record)
    if amount is None:
        value = left
    else:
        given_currency, value = parse_amount(amount)
        if given_currency != currency:
            raise ApiError(422, "The chargeback's currency differs from the payment's", "amount.currency")
    if value <= 0 or value > left:
        raise ApiError(422, f"The amount is higher than the {left:.2f} that can be charged back", "amount")
    chargeback = {
        "resource": "chargeback",
        "id": new_id("chb_"),
        "amount": money(currency, value),
        "settlementAmount": money(currency, -value),
        "reason": None,
        "createdAt": now(),
        "reversedAt": None,
        "paymentId": payment["id"],
    }
    record["chargebacks"].append(chargeback)
    return chargeback
