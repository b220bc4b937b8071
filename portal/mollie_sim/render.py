"""The JSON Mollie answers with: payment, refund and chargeback objects with their ``_links``, lists, errors."""

from http import HTTPStatus
from urllib.parse import urlencode

from portal.mollie_sim.payments import ApiError, charged_back, money, refunded, remaining

HAL = "application/hal+json"
DOCS = "https://docs.mollie.com/reference"


def link(href: str, media_type: str = HAL) -> dict:
    return {"href": href, "type": media_type}


def payment_json(record: dict, base: str) -> dict:
    payment = dict(record["payment"])
    pid, currency = payment["id"], payment["amount"]["currency"]
    api = f"{base}/v2/payments/{pid}"
    payment["isCancelable"] = payment["status"] == "open"
    if payment["status"] == "paid":
        payment["amountRefunded"] = money(currency, refunded(record))
        payment["amountRemaining"] = money(currency, remaining(record))
    if record["chargebacks"]:
        payment["amountChargedBack"] = money(currency, charged_back(record))
    links = {
        "self": link(api),
        "checkout": link(f"{base}/checkout/{pid}", "text/html"),
        "dashboard": link(f"{base}/_sim/payments/{pid}", "text/html"),
    }
    if record["refunds"]:
        links["refunds"] = link(f"{api}/refunds")
    if record["chargebacks"]:
        links["chargebacks"] = link(f"{api}/chargebacks")
    links["documentation"] = link(f"{DOCS}/get-payment", "text/html")
    payment["_links"] = links
    return payment


def refund_json(refund: dict, base: str) -> dict:
    api = f"{base}/v2/payments/{refund['paymentId']}"
    return refund | {
        "_links": {
            "self": link(f"{api}/refunds/{refund['id']}"),
            "payment": link(api),
            "documentation": link(f"{DOCS}/get-refund", "text/html"),
        }
    }


def chargeback_json(chargeback: dict, base: str) -> dict:
    api = f"{base}/v2/payments/{chargeback['paymentId']}"
    return chargeback | {
        "_links": {
            "self": link(f"{api}/chargebacks/{chargeback['id']}"),
            "payment": link(api),
            "documentation": link(f"{DOCS}/get-chargeback", "text/html"),
        }
    }


def list_json(name: str, items: list[dict], *, url: str, start: str | None, limit: int, documentation: str) -> dict:
    """One page of ``items`` (newest first) from the item with id ``start``, with Mollie's cursor links."""
    ids = [item["id"] for item in items]
    if start is not None and start not in ids:
        raise ApiError(422, f"There is no item {start} to start the list from", "from")
    first = ids.index(start) if start else 0
    page = items[first : first + limit]

    def cursor(index: int) -> dict:
        return link(f"{url}?{urlencode({'from': ids[index], 'limit': limit})}")

    return {
        "count": len(page),
        "_embedded": {name: page},
        "_links": {
            "self": link(f"{url}?{urlencode({'from': start, 'limit': limit})}" if start else url),
            "previous": cursor(max(first - limit, 0)) if first else None,
            "next": cursor(first + limit) if first + limit < len(ids) else None,
            "documentation": link(f"{DOCS}/{documentation}", "text/html"),
        },
    }


def error_json(error: ApiError) -> dict:
    body: dict = {"status": error.status, "title": _title(error.status), "detail": error.detail}
    if error.field:
        body["field"] = error.field
    page = "authentication" if error.status == 401 else "handling-errors"
    body["_links"] = {"documentation": link(f"https://docs.mollie.com/overview/{page}", "text/html")}
    return body


def _title(status: int) -> str:
    if status == 401:
        return "Unauthorized Request"  # Mollie's wording, not the HTTP reason phrase
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
