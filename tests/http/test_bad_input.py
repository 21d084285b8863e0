"""Input an outside probe sent that used to end in a 500: each now gets a 4xx naming the
field (or a 404 for an id that cannot exist), and the appliance keeps serving."""

import struct
import zlib

import pytest

from tests.http.test_price_book_editor import editor_form

HX = {"HX-Request": "true"}


def png_with_chunk(kind: bytes, payload: bytes) -> bytes:
    """A valid 8 x 8 PNG carrying one extra chunk (a zTXt text or an iCCP colour profile)."""
    def chunk(name: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + name + data + struct.pack(">I", zlib.crc32(name + data) & 0xFFFFFFFF)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * 24 for _ in range(8)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(kind, payload) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


@pytest.fixture
def design(customer):
    return customer.post("/api/v1/designs", json={"description": "14k rose gold ring with a ruby, size 6"}).json()


@pytest.mark.parametrize("kind,payload", [(b"zTXt", b"k\x00\x00"), (b"iCCP", b"p\x00\x00")])
def test_a_png_whose_chunk_inflates_to_50_mb_is_refused(customer, design, kind, payload):
    bomb = png_with_chunk(kind, payload + zlib.compress(b"a" * 50_000_000))
    assert len(bomb) < 100_000
    response = customer.post(f"/api/v1/designs/{design['id']}/references", files={"file": ("x.png", bomb, "image/png")})
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "file"


def test_an_unknown_piece_type_in_the_panel_names_the_field(customer, design):
    response = customer.post(f"/d/{design['id']}/spec", data={"piece_type": "spaceship"}, headers=HX)
    assert response.status_code == 422 and 'id="err-piece_type"' in response.text


@pytest.mark.parametrize("words", ["ring with a 3/0 ct ruby", "9 1/0 carat diamond ring", "pendant 2/0"])
def test_a_digit_over_zero_in_words_reads_without_error(customer, words):
    assert customer.post("/api/v1/designs", json={"description": words}).status_code == 201


def test_words_with_no_piece_in_them_get_a_sentence_not_an_error(customer):
    response = customer.post("/api/v1/designs", json={"description": "1/0"})
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "description"


def test_order_numbers_beyond_sqlite_integers_are_not_found(staff_session):
    client, _ = staff_session
    for number in ("9223372036854775808", "99999999999999999999999"):
        assert client.get(f"/api/v1/orders/{number}").status_code == 404
        assert client.get(f"/orders/{number}").status_code == 404


def test_price_book_saves_of_a_wrong_shape_name_the_field(staff_session):
    client, headers = staff_session
    for body in ({"book": [1, 2]}, [1], {"book": {"metals": "x"}}, {"book": "text"}):
        response = client.put("/api/v1/price-book", json=body, headers=headers)
        assert response.status_code == 422, body
    form = editor_form(client)
    for name in ("currency.x", "metals.14k_yellow.price_per_gram.x", "rounding.a.b"):
        response = client.post("/price-book", data={**form, name: "1"})
        assert response.status_code == 422 and name in response.text, name


def test_empty_ids_in_a_render_request_mean_none(customer, design):
    """Found by the fuzz: "" for parent_image_id or reference_id reached the database as
    an id and failed its foreign key (500)."""
    for body in ({"parent_image_id": ""}, {"reference_id": ""}, {"mask_id": "", "parent_image_id": ""}):
        response = customer.post(f"/api/v1/designs/{design['id']}/renders", json={"count": 1, **body})
        assert response.status_code in (202, 409), response.text
