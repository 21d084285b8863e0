"""The store's price book versions: every save makes a new version and every quote says
which version priced it. The book's model and rules live in `appliance.jewelry.price_book`."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from types import MappingProxyType

from appliance.errors import Invalid
from appliance.jewelry import budget, catalog
from appliance.jewelry.price_book import DEFAULT_PRICE_BOOK, PriceBookError, upgrade, validate_price_book
from appliance.jewelry.pricing import Quote, quote
from appliance.jewelry.specs import Spec
from appliance.storage import store as q
from appliance.storage.store import Store, now


@dataclass(frozen=True)
class PriceBook:
    version: int
    book: dict
    created_at: str
    created_by: str | None


def current(store: Store) -> PriceBook:
    """The newest price book; the built-in defaults are saved as version 1 on first use."""
    row = store.query_one(q.LATEST_PRICE_BOOK)
    if row is None:
        save(store, DEFAULT_PRICE_BOOK, created_by="defaults")
        row = store.query_one(q.LATEST_PRICE_BOOK)
    return PriceBook(row["version"], upgrade(json.loads(row["book_json"])), row["created_at"], row["created_by"])


def _frozen(value):
    """A read-only copy: mappings behind MappingProxyType, lists as tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


_PARSED: dict[str, MappingProxyType] = {}
_PARSED_LOCK = threading.Lock()


def _for_pricing(store: Store) -> tuple[int, MappingProxyType]:
    """The newest book, read-only, for the quotes that every live-price update makes.
    Parsing the book cost a third as much as pricing with it, so each distinct saved text
    is parsed once; keyed by the text itself (not the version number), a restored or
    edited database can never be priced from a stale book."""
    row = store.query_one(q.LATEST_PRICE_BOOK)
    if row is None:
        book = current(store)
        return book.version, _frozen(book.book)
    text = row["book_json"]
    parsed = _PARSED.get(text)
    if parsed is None:
        parsed = _frozen(upgrade(json.loads(text)))
        with _PARSED_LOCK:
            if len(_PARSED) >= 8:
                _PARSED.clear()
            _PARSED[text] = parsed
    return row["version"], parsed


def versions(store: Store) -> list[dict]:
    """Every saved version, newest first (without the books themselves)."""
    return store.query(q.PRICE_BOOK_VERSIONS)


def save(store: Store, book: dict, created_by: str | None) -> PriceBook:
    """Validate and store a new version; Invalid names the offending entry."""
    if not isinstance(book, dict):
        raise Invalid("book", "The price book is an object of sections (metals, stone_per_carat, ...).")
    try:
        clean = validate_price_book(book)
    except PriceBookError as exc:
        raise Invalid(exc.field, exc.message) from None
    with store.write() as db:
        db.execute(q.INSERT_PRICE_BOOK, {"book_json": json.dumps(clean), "created_by": created_by, "now": now()})
    return current(store)


def quote_spec(store: Store, spec: Spec) -> Quote:
    """Price a spec with the store's current price book, recording the version used."""
    version, book = _for_pricing(store)
    return quote(spec, book, version=version)


def budget_view(store: Store, spec: Spec) -> dict | None:
    """The customer's budget beside the price: whether the piece is over it and the
    changes that would bring it under (each with its new total and spec). None without a
    budget."""
    if spec.budget is None:
        return None
    version, book = _for_pricing(store)
    total = quote(spec, book, version=version).total
    return {"amount": str(spec.budget), "over": total > spec.budget, "over_by": str(max(total - spec.budget, 0)),
            "options": [{"label": o.label, "total": str(o.total), "spec": o.spec.model_dump()}
                        for o in budget.options(spec, book)]}


def standard_grades(store: Store) -> dict[str, str]:
    """The grade each stone type is priced at when the customer chose none."""
    defaults = _for_pricing(store)[1]["default_quality"]
    return {key: defaults[family] for key in catalog.STONE_TYPES
            if (family := catalog.quality_family(key)) is not None}
