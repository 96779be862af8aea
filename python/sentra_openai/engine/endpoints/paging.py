"""Cursor pages of the list endpoints (input items, conversation items, stored chat completions): the `limit`,
`order` and `after` query parameters with OpenAI's 400s, and the `{"object": "list", ...}` page they return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import errors
from ..core import Call

ORDERS = ["asc", "desc"]


@dataclass(frozen=True)
class PageQuery:
    limit: int
    order: str
    after: str | None
    include: tuple[str, ...]


def page_query(call: Call, *, default_order: str = "desc", default_limit: int = 20, max_limit: int = 100,
               includable: list[str] | None = None) -> PageQuery:
    """limit 1..max_limit (default 20), order asc|desc, after an id, include[] (spec: ListInputItems and the
    conversation item list share these)."""
    request = call.request
    limit = default_limit
    raw_limit = _last(request.query_values("limit"))
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise errors.invalid_type("limit", "an integer", raw_limit) from None
        if limit < 1:
            raise errors.below_minimum("limit", 1, limit)
        if limit > max_limit:
            raise errors.above_maximum("limit", max_limit, limit)
    order = _last(request.query_values("order")) or default_order
    if order not in ORDERS:
        raise errors.invalid_value("order", order, ORDERS)
    after = _last(request.query_values("after")) or None
    include = tuple(request.query_values("include[]") + request.query_values("include"))
    if includable is not None:
        for value in include:
            if value not in includable:
                raise errors.invalid_value("include", value, includable)
    return PageQuery(limit, order, after, include)


def _last(values: list[str]) -> str | None:
    return values[-1] if values else None


def list_page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """The spec's list shape (ResponseItemList, ConversationItemList): first_id/last_id are null when empty."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
