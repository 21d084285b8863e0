"""The store's price book versions: every save makes a new version and every quote says
which version priced it. The book's model and rules live in `appliance.jewelry.price_book`."""

from __future__ import annotations

import json
from dataclasses import dataclass

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
    book = current(store)
    return quote(spec, book.book, version=book.version)


def budget_view(store: Store, spec: Spec) -> dict | None:
    """The customer's budget beside the price: whether the piece is over it and the
    changes that would bring it under (each with its new total and spec). None without a
    budget."""
    if spec.budget is None:
        return None
    book = current(store)
    total = quote(spec, book.book, version=book.version).total
    return {"amount": str(spec.budget), "over": total > spec.budget, "over_by": str(max(total - spec.budget, 0)),
            "options": [{"label": o.label, "total": str(o.total), "spec": o.spec.model_dump()}
                        for o in budget.options(spec, book.book)]}


def standard_grades(store: Store) -> dict[str, str]:
    """The grade each stone type is priced at when the customer chose none."""
    defaults = current(store).book["default_quality"]
    return {key: defaults[family] for key in catalog.STONE_TYPES
            if (family := catalog.quality_family(key)) is not None}
