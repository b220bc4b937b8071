"""Bounded pagination: a list pages by offset up to a limit, past which the user narrows it with a search."""

from dataclasses import dataclass

from flask import request
from sqlalchemy import Select
from sqlalchemy.orm import Session

PER_PAGE = 50
MAX_PAGES = 200  # 10,000 rows: an offset this deep is still an index scan of a few milliseconds


@dataclass
class Page:
    items: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def at_limit(self) -> bool:
        return self.number >= MAX_PAGES


def current_page_number() -> int:
    try:
        number = int(request.args.get("page", "1"))
    except ValueError:
        number = 1
    return min(max(number, 1), MAX_PAGES)


def paginate(session: Session, stmt: Select, number: int, per_page: int = PER_PAGE) -> Page:
    """One page of ``stmt``; fetching one row more than shown tells whether a next page exists, without a COUNT."""
    rows = session.execute(stmt.limit(per_page + 1).offset((number - 1) * per_page)).all()
    return Page(items=rows[:per_page], number=number, has_next=len(rows) > per_page and number < MAX_PAGES)
