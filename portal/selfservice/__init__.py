"""The debtor's self-service pages. No account: the link in a reminder is the key (portal.selfservice.visit).

One blueprint; its routes live in a module per part of the page, each adding to ``bp``, imported below (the
microblog's pattern): the page itself, the actions (promise, already paid, dispute, write), payment plans, paying,
documents, the organisation's colours and asking for a new link.
"""

from flask import Blueprint

bp = Blueprint("selfservice", __name__, url_prefix="/s")

from portal.selfservice import actions_views, arrangements, brand, documents, links, payments, views  # noqa: E402, F401 - the routes, once bp exists
