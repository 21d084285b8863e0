import copy
import re

import pytest

from appliance.errors import Invalid
from appliance.jewelry import price_book as rules
from appliance.jewelry.price_book import DEFAULT_PRICE_BOOK, PriceBookError, upgrade, validate_price_book
from appliance.studio import price_books


def changed(path: str, value) -> dict:
    book = copy.deepcopy(DEFAULT_PRICE_BOOK)
    *parents, last = path.split(".")
    node = book
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return book


@pytest.mark.parametrize("path,value,field", [
    ("currency", "dollars", "currency"),
    ("metals.platinum.price_per_gram", "-3", "metals.platinum.price_per_gram"),
    ("metals.14k_rose.density", "abc", "metals.14k_rose.density"),
    ("metals.sterling.casting_loss", "8", "metals.sterling.casting_loss"),
    ("stone_per_carat.ruby", [["0", "900"], ["1", "450"]], "stone_per_carat.ruby.1"),
    ("stone_per_carat.ruby", [["0", "100"], ["0", "200"]], "stone_per_carat.ruby.1"),
    ("stone_per_carat.ruby", [["0.5", "100"]], "stone_per_carat.ruby.0"),
    ("markup.stone", [["0", "0.5"]], "markup.stone.0"),
    ("labor.ring", {"plain": "10"}, "labor.ring.solitaire"),
    ("rounding", "to the nearest", "rounding"),
    ("deposit_pct", "150", "deposit_pct"),
    ("validity_days", 0, "validity_days"),
    ("metal_pricing", "barter", "metal_pricing"),
])
def test_a_bad_entry_is_named(path, value, field):
    with pytest.raises(PriceBookError) as info:
        validate_price_book(changed(path, value))
    assert info.value.field == field


def test_the_defaults_are_valid_and_normalised():
    assert validate_price_book(DEFAULT_PRICE_BOOK) == validate_price_book(validate_price_book(DEFAULT_PRICE_BOOK))


def test_a_first_version_book_is_upgraded_keeping_the_store_s_figures():
    old = {"currency": "EUR", "markup": "3", "round_to": "1", "validity_days": 30,
           "metal_per_gram": {"platinum": "61"}, "labor": {"ring": "333"}}
    book = validate_price_book(upgrade(old))
    assert book["currency"] == "EUR" and book["validity_days"] == 30
    assert book["metals"]["platinum"]["price_per_gram"] == "61"
    assert book["labor"]["ring"]["halo"] == "333" and book["markup"]["stone"] == [["0", "3"]]


def test_every_save_is_a_new_version(store):
    first = price_books.current(store)
    book = copy.deepcopy(first.book)
    book["markup"]["labor"] = [["0", "2.5"]]
    second = price_books.save(store, book, created_by="maria")
    assert (first.version, second.version) == (1, 2) and second.created_by == "maria"
    assert [v["version"] for v in price_books.versions(store)] == [2, 1]
    with pytest.raises(Invalid) as info:
        price_books.save(store, changed("tax_rate", "-1"), created_by="maria")
    assert info.value.field == "tax_rate" and price_books.current(store).version == 2


def test_preview_shows_what_a_change_does_to_sample_designs():
    book = validate_price_book(DEFAULT_PRICE_BOOK)
    dearer = copy.deepcopy(book)
    dearer["labor"]["ring"] = {k: str(int(v) * 2) for k, v in book["labor"]["ring"].items()}
    rows = rules.preview(book, dearer)
    assert len(rows) == len(rules.SAMPLE_DESIGNS)
    rings = [r for r in rows if re.search(r"\b(ring|band)\b", r["description"])]
    assert all(float(r["change_pct"]) > 0 for r in rings)
    assert [r for r in rows if "pendant" in r["description"]][0]["change_pct"] == "0.0"


def test_a_schema_2_book_gains_9k_gold_and_the_new_gems_and_keeps_every_figure(store):
    import json

    from appliance.jewelry.specs import Spec, StoneGroup
    from appliance.storage import store as q
    from appliance.storage.store import now

    old = copy.deepcopy(DEFAULT_PRICE_BOOK)
    old["schema"] = 2
    old["setting_fee"] = {"prong": "45", "bezel": "85", "pave": "14", "channel": "22", "halo": "16", "bar": "30",
                          "tension": "150"}
    for key in ("labor_metal_factor", "labor_minimum", "quality", "default_quality"):
        del old[key]
    for key in ("9k_yellow", "9k_white", "9k_rose"):
        del old["metals"][key]
    for key in ("peridot", "opal", "tourmaline", "citrine"):
        del old["stone_per_carat"][key]
    old["metals"]["14k_yellow"]["price_per_gram"] = "91.5"
    with store.write() as db:
        db.execute(q.INSERT_PRICE_BOOK, {"book_json": json.dumps(old), "created_by": "2025", "now": now()})
    book = price_books.current(store).book
    assert book["schema"] == 4 and book["metals"]["14k_yellow"]["price_per_gram"] == "91.5"
    assert book["setting_fee"]["prong"] == {"melee": "45", "small": "45", "centre": "45"}   # its flat fee kept
    assert book["metals"]["9k_rose"] == DEFAULT_PRICE_BOOK["metals"]["9k_rose"]
    spec = Spec(metal="9k_rose", stones=[StoneGroup(type="peridot", length_mm=7, width_mm=7)])
    quote = price_books.quote_spec(store, spec)
    assert quote.total > 0 and any("peridot" in line.label for line in quote.lines)
    assert validate_price_book(book) == book


def test_quotes_use_the_newest_saved_book_at_once_and_cannot_change_it(store):
    import json

    from appliance.jewelry.specs import Spec

    spec = Spec(metal="platinum")
    before = price_books.quote_spec(store, spec)
    book = copy.deepcopy(price_books.current(store).book)
    book["metals"]["platinum"]["price_per_gram"] = str(int(float(book["metals"]["platinum"]["price_per_gram"]) * 3))
    price_books.save(store, book, created_by="maria")
    after = price_books.quote_spec(store, spec)
    assert after.total > before.total and after.price_book_version == 2
    # The same version number with other figures (a restored backup): priced from what is stored now.
    book["metals"]["platinum"]["price_per_gram"] = "1"
    with store.write() as db:
        db.execute("UPDATE price_books SET book_json = :text WHERE version = 2", {"text": json.dumps(book)})
    assert price_books.quote_spec(store, spec).total < before.total
    # What the quotes read is shared between requests, so nothing may write into it.
    version, shared = price_books._for_pricing(store)
    with pytest.raises(TypeError):
        shared["metals"]["platinum"]["price_per_gram"] = "0"
    with pytest.raises((TypeError, AttributeError)):
        shared["markup"]["metal"].append(["0", "9"])
    assert price_books.current(store).book["metals"]["platinum"]["price_per_gram"] == "1"
