"""The price-book editor on the staff dashboard: the whole book as one form, a live
preview of what a change does to sample designs, and save-as-new-version (admins only).

Form fields are named by the book's dotted paths ("metals.14k_rose.price_per_gram");
tiered prices are one textarea each, a "from: price" pair per line.
"""

from __future__ import annotations

import copy
import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from appliance.errors import Invalid
from appliance.jewelry import catalog
from appliance.jewelry import price_book as rules
from appliance.jewelry.price_book import PriceBookError, validate_price_book
from appliance.studio import price_books
from web.responses import is_htmx, render, store_of
from appliance.ops import people
from web.staff import PREFIX, staff_user, staff_writer

pages = APIRouter(prefix=PREFIX, include_in_schema=False)

TIER_FIELDS = ("stone_per_carat.", "pearl_per_piece", "markup.")


def tiers_text(tiers) -> str:
    """[[from, price], ...] as the textarea shows it: one 'from: price' per line (text the
    jeweler typed that could not be read is shown as typed)."""
    if isinstance(tiers, str):
        return tiers
    return "\n".join(f"{start}: {value}" for start, value in tiers)


def _parse_tiers(path: str, text: str) -> list:
    tiers = []
    for line in str(text or "").splitlines():
        if not line.strip():
            continue
        parts = re.split(r"\s*[:=]\s*", line.strip())
        if len(parts) != 2:
            raise PriceBookError(path, f"each line is 'from: price' (not {line.strip()!r})")
        tiers.append(parts)
    return tiers


def book_from_form(form, base: dict) -> tuple[dict, PriceBookError | None]:
    """The submitted form as a price book (not yet validated), and the first tier list
    that could not be read (kept as typed). Fields the form does not carry keep the base
    book's values."""
    book = copy.deepcopy(base)
    problem = None
    for name, value in form.items():
        if name in ("csrf_token",):
            continue
        if name.startswith(TIER_FIELDS):
            try:
                value = _parse_tiers(name, value)
            except PriceBookError as exc:
                problem = problem or exc
        node, *path = name.split(".")
        if not path:
            book[node] = value
            continue
        target = book.setdefault(node, {})
        for key in path[:-1]:
            target = target.setdefault(key, {}) if isinstance(target, dict) else None
            if target is None:
                break
        if not isinstance(target, dict):
            # 'currency.x': a field inside a figure that has none.
            problem = problem or PriceBookError(name, "is not a field of the price book")
            continue
        target[path[-1]] = value
    return book, problem


def _form_field(field: str) -> str:
    """The form field an error belongs to ('stone_per_carat.ruby.1' -> 'stone_per_carat.ruby')."""
    return re.sub(r"\.\d+$", "", field) if field.startswith(TIER_FIELDS) else field


def _context(request: Request, user: dict, book: dict, **extra) -> dict:
    current = price_books.current(store_of(request))
    return {"user": user, "book": book, "current": current, "versions": price_books.versions(store_of(request)),
            "metals": catalog.METALS, "stone_types": catalog.STONE_TYPES, "settings_": catalog.SETTINGS,
            "styles": catalog.STYLES, "finishes": catalog.FINISHES, "rounding": rules.ROUNDING,
            "categories": rules.MARKUP_CATEGORIES, "spot_bases": rules.SPOT_BASES,
            "size_classes": catalog.SIZE_CLASSES, "metal_classes": catalog.METAL_CLASSES,
            "diamond_colours": catalog.DIAMOND_COLOURS, "diamond_clarities": catalog.DIAMOND_CLARITIES,
            "gem_grades": catalog.GEM_GRADES, "quality_choices": catalog.quality_choices,
            "tiers_text": tiers_text, "error": None, "error_field": None, "saved": None, "preview": None, **extra}


@pages.get("/price-book")
def editor(request: Request, user: dict = Depends(staff_user)):
    book = price_books.current(store_of(request)).book
    saved = request.query_params.get("saved")
    return render(request, "staff/price_book.html", _context(request, user, book, saved=saved))


@pages.post("/price-book/preview")
async def preview(request: Request, user: dict = Depends(staff_writer)):
    """The sample designs priced now and with the form's book (HTMX fragment)."""
    form = await request.form()
    current = price_books.current(store_of(request)).book
    try:
        book, problem = book_from_form(form, current)
        if problem:
            raise problem
        proposed = validate_price_book(book)
    except PriceBookError as exc:
        return render(request, "staff/_price_book_preview.html",
                      {"preview": None, "error": exc.message, "error_field": _form_field(exc.field)}, status_code=422)
    return render(request, "staff/_price_book_preview.html",
                  {"preview": rules.preview(current, proposed), "error": None, "error_field": None})


@pages.post("/price-book")
async def save(request: Request, user: dict = Depends(staff_writer)):
    form = await request.form()
    store = store_of(request)
    book, problem = book_from_form(form, price_books.current(store).book)
    if user["role"] != "admin":
        context = _context(request, user, book, error="Only an admin can change the price book.")
        return render(request, "staff/price_book.html", context, status_code=403)
    try:
        if problem:
            raise problem
        saved = price_books.save(store, book, created_by=user["username"])
        people.record(store, user["username"], "price book saved", f"version {saved.version}")
    except (Invalid, PriceBookError) as exc:
        context = _context(request, user, book, error=exc.message, error_field=_form_field(exc.field))
        return render(request, "staff/price_book.html", context, status_code=422)
    url = f"{PREFIX}/price-book?saved={saved.version}"
    if is_htmx(request):
        return render(request, "staff/_price_book_preview.html", {"preview": None, "error": None},
                      headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)
