"""The price-book editor on the staff dashboard, and the studio's live price."""

import re

import pytest

from appliance.ops import auth
from tests.conftest import STAFF_PASSWORD

HX = {"HX-Request": "true"}


def editor_form(client) -> dict:
    """Every field of the editor as the page renders it."""
    page = client.get("/price-book").text
    form = dict(re.findall(r'<input id="[^"]+" name="([^"]+)" value="([^"]*)"', page))
    form.update({name: text for name, text in re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', page)})
    for name, block in re.findall(r'<select id="[^"]+" name="([^"]+)">(.*?)</select>', page, re.S):
        form[name] = re.search(r'<option value="([^"]+)" selected', block).group(1)
    form["csrf_token"] = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return form


@pytest.fixture
def admin(staff_session):
    client, headers = staff_session
    return client


def test_the_editor_needs_a_login(staff):
    assert staff.get("/price-book", follow_redirects=False).headers["location"] == "/staff/login"
    refused = staff.post("/price-book", data={"currency": "EUR"}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/staff/login"


def test_the_editor_shows_every_figure_of_the_book(admin):
    form = editor_form(admin)
    assert form["metals.14k_rose.price_per_gram"] == "80" and form["metals.palladium.density"] == "11.0"
    assert form["stone_per_carat.diamond"].splitlines()[0] == "0: 700"
    assert form["labor.ring.eternity"] == "420" and form["rounding"] == "unit" and form["metal_pricing"] == "per_gram"


def test_saving_needs_the_csrf_token(admin):
    form = editor_form(admin)
    form["csrf_token"] = "forged"
    assert admin.post("/price-book", data=form).status_code == 403


def test_preview_prices_sample_designs_before_and_after(admin):
    form = editor_form(admin)
    form["labor.ring.solitaire"] = "560"
    fragment = admin.post("/price-book/preview", data=form, headers=HX)
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<section id="preview"')
    solitaire = re.search(r"solitaire ring.*?</tr>", fragment.text, re.S).group(0)
    assert re.search(r'class="amount up">\d+\.\d%', solitaire)
    assert admin.get("/api/v1/price-book").json()["version"] == 1          # a preview saves nothing


@pytest.mark.parametrize("name,value,message", [
    ("metals.platinum.price_per_gram", "-5", "must be 0 or more"),
    ("stone_per_carat.ruby", "0: 900\n1: 400", "may not cost less"),
    ("stone_per_carat.ruby", "0 900", "each line is"),
    ("markup.stone", "0: 0.8", "must be 1 or more"),
    ("currency", "dollars", "three-letter"),
])
def test_a_bad_figure_is_named_beside_its_field_and_nothing_is_lost(admin, name, value, message):
    form = editor_form(admin)
    form[name] = value
    form["labor.ring.halo"] = "999"                                          # another edit, kept
    response = admin.post("/price-book", data=form)
    assert response.status_code == 422 and message in response.text
    assert re.search(rf'id="{re.escape(name)}"[^>]*class="[^"]*has-error', response.text)
    assert 'value="999"' in response.text and admin.get("/api/v1/price-book").json()["version"] == 1


def test_saving_makes_a_new_version_that_new_quotes_use(admin, customer):
    design = customer.post("/api/v1/designs", json={"description": "plain 4mm 14k rose gold band, size 9"}).json()
    form = editor_form(admin)
    form["labor.ring.plain"] = "360"
    form["rounding"] = "ninety_nine"
    saved = admin.post("/price-book", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/staff/price-book?saved=2"
    assert "Saved as version 2" in admin.get("http://testserver" + saved.headers["location"]).text
    after = customer.get(f"/api/v1/designs/{design['id']}").json()["quote"]
    assert after["price_book_version"] == 2 and after["total"].endswith(".99")
    assert float(after["total"]) > float(design["quote"]["total"])


def test_a_jeweler_may_look_but_only_an_admin_may_save(staff, store):
    auth.create_user(store, "sam", STAFF_PASSWORD, "jeweler")
    staff.post("/api/v1/session", json={"username": "sam", "password": STAFF_PASSWORD})
    form = editor_form(staff)
    response = staff.post("/price-book", data=form)
    assert response.status_code == 403 and "Only an admin" in response.text


def test_the_studio_price_follows_every_edit(customer):
    design = customer.post("/api/v1/designs", json={"description": "14k rose gold ring with a 1 carat oval sapphire, size 6"}).json()
    base = {"piece_type": "ring", "metal": "14k_rose", "size_system": "us", "ring_size": "6",
            "stones-0-role": "center", "stones-0-type": "sapphire", "stones-0-shape": "oval",
            "stones-0-length_mm": "7.7", "stones-0-width_mm": "5.5", "stones-0-count": "1", "stones-0-setting": "prong"}

    def total(**change):
        fragment = customer.post(f"/d/{design['id']}/spec", data={**base, **change}, headers=HX)
        assert fragment.status_code == 200, fragment.text
        return float(re.search(r'id="quote-total">\$([\d,.]+)<', fragment.text).group(1).replace(",", ""))

    start = total()
    assert total(metal="platinum") != start
    assert total(**{"stones-0-length_mm": "9.1", "stones-0-width_mm": "6.5"}) > start
    assert total(ring_size="10") > start
    assert total(style="halo") > start


def test_a_ring_size_in_the_customer_s_own_system(customer):
    design = customer.post("/api/v1/designs", json={"description": "platinum band, UK M"}).json()
    assert (design["spec"]["size_system"], round(design["spec"]["ring_size"], 2)) == ("uk", 6.37)
    page = customer.get(f"/d/{design['id']}").text
    assert re.search(r'id="ring_size" name="ring_size" value="M"', page)
    fragment = customer.post(f"/d/{design['id']}/spec", data={"piece_type": "ring", "metal": "platinum",
                                                              "size_system": "uk", "ring_size": "7"}, headers=HX)
    assert fragment.status_code == 422 and "UK sizes are letters" in fragment.text and 'value="7"' in fragment.text
    switched = customer.post(f"/d/{design['id']}/spec", data={"piece_type": "ring", "metal": "platinum",
                                                              "size_system": "eu", "ring_size": "M"}, headers=HX)
    assert switched.status_code == 200 and 'name="ring_size" value="53"' in switched.text
