"""The staff Our style pages over HTTP: photos added many at a time with each refusal
named, lines confirmed or refused naming `line`, training queued only on enough
confirmed photos and stopped, files served only under their own style, admins only, the
installed styles' switches going through the model manager, the loss chart, and bodies
over the photo route's raised limit refused with 413."""

from __future__ import annotations

import io
import json
import random
import re
import struct

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from appliance import cli
from appliance.ops import auth
from appliance.ops.models import ModelStore
from appliance.studio import styles, training_queue
from tests.conftest import STAFF_PASSWORD
from tests.unit.test_styles import photo
from web import styles_staff


def start(client, headers, name="house-classic", steps=40) -> str:
    answer = client.post("/api/v1/styles", json={"name": name, "trigger": f"dmr{name.replace('-', '')}",
                                                 "steps": steps}, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def upload(client, headers, style_id, files: list[tuple[str, bytes]]):
    """One multipart request with every file, the CSRF token as the page's form sends it."""
    return client.post(f"/styles/{style_id}/photos", data={"csrf_token": headers["X-CSRF-Token"]},
                       files=[("photos", (name, data, "application/octet-stream")) for name, data in files])


def form(client, headers, path, **fields):
    return client.post(path, data={"csrf_token": headers["X-CSRF-Token"], **fields}, follow_redirects=False)


def noisy_png(seed: int, size=(800, 800)) -> bytes:
    """A photo too big for the app's usual body limit (noise does not compress)."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def training(client, headers, store, settings, steps=40) -> str:
    """A style with five confirmed photos, queued and claimed by a worker."""
    style_id = start(client, headers, steps=steps)
    upload(client, headers, style_id, [(f"rose gold ring {i}.jpg", photo(60 + i)) for i in range(5)])
    form(client, headers, f"/styles/{style_id}/confirm-all")
    assert form(client, headers, f"/styles/{style_id}/train").status_code == 303
    assert training_queue.claim_next(store, "w1", settings.training_dir).style.id == style_id
    return style_id


def safetensors_bytes() -> bytes:
    """The smallest valid safetensors file, written by hand (no torch in the web tests)."""
    header = json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0\0\0\0"


def installed(settings, tmp_path, name, *, enabled=False, source="imported") -> ModelStore:
    models = ModelStore(settings.models_dir, settings.manifest_path)
    file = tmp_path / f"{name}.safetensors"
    file.write_bytes(safetensors_bytes())
    models.import_style(name, file, f"dmr{name}", 1.0, enabled=enabled, source=source)
    return models


def test_many_photos_in_one_request_keep_the_good_ones_and_name_each_refused_one(staff_session, store, settings):
    client, headers = staff_session
    style_id = start(client, headers)
    big = noisy_png(7)
    assert len(big) > settings.max_body_bytes                  # the route takes more than a form's limit
    answer = upload(client, headers, style_id, [
        ("white gold oval halo ring.jpg", photo(1)), ("rose gold band.png", big),
        ("tiny.jpg", photo(2, size=(600, 400))), ("copy.jpg", photo(1)), ("notes.jpg", b"just some text")])
    assert answer.status_code == 422, answer.text
    page = answer.text
    assert "Added 2 photos" in page and "white gold oval halo ring.jpg" in page and "rose gold band.png" in page
    refused = re.search(r'<ul class="refused" id="photos-refused">(.*?)</ul>', page, re.DOTALL).group(1)
    assert "tiny.jpg is 600 x 400 px; a training photo needs at least 512 px" in refused
    assert "copy.jpg is the same file as white gold oval halo ring.jpg" in refused
    assert "notes.jpg is not a photo this appliance can read" in refused
    assert 'id="photo-files"' in page and 'aria-invalid="true" aria-describedby="upload-result"' in page
    kept = styles.photos(store, style_id)
    assert sorted(p.original_name for p in kept) == ["rose gold band.png", "white gold oval halo ring.jpg"]
    assert all((settings.training_dir / p.path).is_file() for p in kept)
    # Each photo is listed with its size, what the reader read and the caption it would train with.
    listed = client.get(f"/styles/{style_id}").text
    assert "768 × 640 px" in listed and "under 1024 px: trains a little soft" in listed
    assert "Reads as: 14k white gold, ring" in listed and "Metal: 14k white gold (assumed)" in listed
    assert "Will train with, once confirmed: <q" in listed
    audit = [(e["action"], e["target"], e["detail"]) for e in client.get("/api/v1/audit").json()["entries"]]
    assert ("style photos added", "house-classic", "2 added, 3 refused") in audit

    nothing = client.post(f"/styles/{style_id}/photos", data={"csrf_token": headers["X-CSRF-Token"]},
                          files=[("photos", ("", b"", "application/octet-stream"))])
    assert nothing.status_code == 422 and "Choose one or more photos" in nothing.text
    unauthorised = client.post(f"/styles/{style_id}/photos", files=[("photos", ("a.jpg", photo(3), "image/jpeg"))])
    assert unauthorised.status_code == 403                    # no CSRF token, nothing kept
    assert len(styles.photos(store, style_id)) == 2


def test_a_line_is_confirmed_and_one_without_its_metal_is_refused_naming_line(staff_session, store):
    client, headers = staff_session
    style_id = start(client, headers)
    assert upload(client, headers, style_id, [("IMG_2041.jpg", photo(6))]).status_code == 200
    (kept,) = styles.photos(store, style_id)
    page = client.get(f"/styles/{style_id}").text
    assert "Say what the photo shows" in page and "Not confirmed yet" in page

    refused = form(client, headers, f"/styles/{style_id}/photos/{kept.id}/confirm", line="solitaire ring")
    assert refused.status_code == 422
    assert f'aria-invalid="true" aria-describedby="line-error-{kept.id}"' in refused.text
    assert re.search(rf'id="line-error-{kept.id}">The line does not say the metal', refused.text)
    assert 'value="solitaire ring"' in refused.text           # what was typed stays in the box
    assert not styles.get_photo(store, style_id, kept.id).confirmed

    done = form(client, headers, f"/styles/{style_id}/photos/{kept.id}/confirm",
                line="platinum solitaire ring with a round diamond")
    assert done.status_code == 303 and done.headers["location"] == f"/staff/styles/{style_id}"
    confirmed = styles.get_photo(store, style_id, kept.id)
    assert confirmed.confirmed and confirmed.spec.metal == "platinum"
    audit = [(e["action"], e["detail"]) for e in client.get("/api/v1/audit").json()["entries"]]
    assert ("style photo confirmed", "IMG_2041.jpg: platinum solitaire ring with a round diamond") in audit
    page = client.get(f"/styles/{style_id}").text
    assert "Confirmed</span>" in page and f"Trains with: <q class=\"caption\">{confirmed.caption}</q>" in page
    other = start(client, headers, "other")
    assert form(client, headers, f"/styles/{other}/photos/{kept.id}/confirm", line="platinum ring").status_code == 404


def test_training_needs_five_confirmed_photos_then_waits_polls_and_stops(staff_session, store):
    client, headers = staff_session
    style_id = start(client, headers)
    upload(client, headers, style_id, [(f"yellow gold ring {i}.jpg", photo(10 + i)) for i in range(4)])
    assert form(client, headers, f"/styles/{style_id}/confirm-all").status_code == 303
    assert all(p.confirmed for p in styles.photos(store, style_id))
    too_few = form(client, headers, f"/styles/{style_id}/train")
    assert too_few.status_code == 422 and "needs at least 5 photos" in too_few.text
    assert 'id="style-error"' in too_few.text

    upload(client, headers, style_id, [("rose gold band.jpg", photo(30)), ("IMG_1.jpg", photo(31))])
    form(client, headers, f"/styles/{style_id}/confirm-all")     # the unreadable one waits for a line
    assert sum(p.confirmed for p in styles.photos(store, style_id)) == 5
    unread = next(p for p in styles.photos(store, style_id) if not p.confirmed)
    assert "Confirm what 1 photo(s) show first" in form(client, headers, f"/styles/{style_id}/train").text
    form(client, headers, f"/styles/{style_id}/photos/{unread.id}/remove")
    queued = form(client, headers, f"/styles/{style_id}/train")
    assert queued.status_code == 303 and styles.get(store, style_id).status == "queued"

    page = client.get(f"/styles/{style_id}").text
    assert "Waiting to train" in page and 'hx-trigger="every 3s"' in page and 'hx-swap="outerHTML"' in page
    assert 'id="do-stop"' in page and 'id="do-train"' not in page and 'id="do-delete"' not in page
    assert form(client, headers, f"/styles/{style_id}/train").status_code == 409
    assert form(client, headers, f"/styles/{style_id}/delete").status_code == 409
    assert upload(client, headers, style_id, [("white gold ring.jpg", photo(40))]).status_code == 409
    first = styles.photos(store, style_id)[0]
    frozen = form(client, headers, f"/styles/{style_id}/photos/{first.id}/confirm", line="platinum ring")
    assert frozen.status_code == 409
    assert re.search(r'id="style-error">house-classic is waiting to train; stop it', frozen.text)
    fragment = client.get(f"/styles/{style_id}/progress?seen=queued-0", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.text.startswith('<div id="style-progress"')
    assert "HX-Refresh" not in fragment.headers

    assert form(client, headers, f"/styles/{style_id}/stop").status_code == 303
    assert styles.get(store, style_id).status == "cancelled"
    moved_on = client.get(f"/styles/{style_id}/progress?seen=queued-0", headers={"HX-Request": "true"})
    assert moved_on.headers["HX-Refresh"] == "true" and "hx-trigger" not in moved_on.text   # polling ends
    assert form(client, headers, f"/styles/{style_id}/stop").status_code == 409
    assert form(client, headers, f"/styles/{style_id}/steps", steps="lots").status_code == 422
    assert form(client, headers, f"/styles/{style_id}/steps", steps="1500").status_code == 303
    assert styles.get(store, style_id).steps == 1500
    assert form(client, headers, f"/styles/{style_id}/delete").status_code == 303
    assert client.get(f"/styles/{style_id}").status_code == 404
    actions = [e["action"] for e in client.get("/api/v1/audit").json()["entries"]]
    assert {"style queued to train", "style stopped", "style steps changed", "style deleted"} <= set(actions)


def test_photos_and_samples_are_served_only_under_their_own_style(staff_session, store, settings):
    client, headers = staff_session
    mine, other = start(client, headers, "mine"), start(client, headers, "other")
    upload(client, headers, mine, [("white gold ring.webp", photo(50, fmt="WEBP"))])
    (kept,) = styles.photos(store, mine)
    served = client.get(f"/styles/{mine}/photos/{kept.id}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
    assert served.content == (settings.training_dir / kept.path).read_bytes()
    assert client.get(f"/styles/{other}/photos/{kept.id}").status_code == 404

    folder = settings.training_dir / mine / "samples"
    folder.mkdir(parents=True)
    for step in (0, 200):
        for index in range(3):
            Image.new("RGB", (64, 64), (step % 255, 80, 40 * index)).save(folder / f"step-{step:06d}-{index}.png")
        training_queue.record_samples(store, mine, step, [f"{mine}/samples/step-{step:06d}-{i}.png" for i in range(3)])
    sample = client.get(f"/styles/{mine}/samples/200/2")
    assert sample.status_code == 200 and sample.headers["content-type"] == "image/png"
    assert sample.content == (folder / "step-000200-2.png").read_bytes()
    assert client.get(f"/styles/{other}/samples/200/2").status_code == 404
    assert client.get(f"/styles/{mine}/samples/200/3").status_code == 404
    assert client.get(f"/styles/{mine}/samples/100/0").status_code == 404
    page = client.get(f"/styles/{mine}").text
    grid = re.search(r'<table class="samples" id="samples">(.*?)</table>', page, re.DOTALL).group(1)
    assert "Without the style</th>" in grid and "Step 200</th>" in grid
    assert grid.count("<tr>") == 1 + len(training_queue.VALIDATION_LINES)
    assert f'src="/staff/styles/{mine}/samples/0/1"' in grid and f'src="/staff/styles/{mine}/samples/200/1"' in grid
    one = client.get(f"/api/v1/styles/{mine}").json()
    assert [s["step"] for s in one["samples"]] == [0, 200] and one["photos"][0]["id"] == kept.id
    assert client.get("/api/v1/styles/no-such-style").status_code == 404


def test_only_an_admin_reaches_our_style(staff, store, staff_session):
    admin, _ = staff_session
    assert 'href="/staff/styles">Our style</a>' in admin.get("/styles").text
    auth.create_user(store, "bench", STAFF_PASSWORD, "jeweler")
    with TestClient(staff.app, base_url="http://testserver/staff") as jeweler:
        csrf = jeweler.post("/api/v1/session", json={"username": "bench", "password": STAFF_PASSWORD}).json()
        token = {"X-CSRF-Token": csrf["csrf_token"]}
        assert jeweler.get("/styles").status_code == 403
        assert jeweler.get("/api/v1/styles").status_code == 403
        refused = jeweler.post("/api/v1/styles", json={"name": "mine", "trigger": "dmrmine"}, headers=token)
        assert refused.status_code == 403
        assert jeweler.post("/styles/installed", data={"csrf_token": csrf["csrf_token"], "action": "off",
                                                       "name": "x"}).status_code == 403
        assert "/staff/styles" not in jeweler.get("/").text
    with TestClient(staff.app, base_url="http://testserver/staff") as nobody:
        assert nobody.get("/styles", follow_redirects=False).status_code == 303


def test_the_installed_styles_switches_go_through_the_model_manager(staff_session, settings, tmp_path):
    client, headers = staff_session
    models = installed(settings, tmp_path, "house", source="trained")
    page = client.get("/styles").text
    assert 'id="installed-house"' in page and "trained" in page and "dmrhouse" in page and ">Off</span>" in page

    def state():
        (lora,) = models.styles()
        return lora.enabled, lora.default, lora.weight

    assert form(client, headers, "/styles/installed", name="house", action="on").status_code == 303
    assert state() == (True, False, 1.0)
    assert form(client, headers, "/styles/installed", name="house", action="default").status_code == 303
    assert state() == (True, True, 1.0) and models.active_style().name == "house"
    assert form(client, headers, "/styles/installed", name="house", action="weight", weight="0.7").status_code == 303
    assert state() == (True, True, 0.7)
    too_heavy = form(client, headers, "/styles/installed", name="house", action="weight", weight="3")
    assert too_heavy.status_code == 422 and 'id="weight-house"' in too_heavy.text
    assert re.search(r'id="weight-house"[^>]*aria-invalid="true"', too_heavy.text)
    ghost = form(client, headers, "/styles/installed", name="ghost", action="default")
    assert ghost.status_code == 422 and "There is no style LoRA &#39;ghost&#39;" in ghost.text
    assert form(client, headers, "/styles/installed", name="house", action="off").status_code == 303
    assert state() == (False, False, 0.7)
    off_default = form(client, headers, "/styles/installed", name="house", action="default")
    assert off_default.status_code == 422 and "switch it on before making it the default" in off_default.text
    assert form(client, headers, "/styles/installed", name="house", action="dance").status_code == 422

    # A new style may not take an installed style's name; the API names the field.
    taken = client.post("/api/v1/styles", json={"name": "house", "trigger": "dmrhouse2"}, headers=headers)
    assert taken.status_code == 422 and taken.json()["detail"][0]["field"] == "name"
    extra = client.post("/api/v1/styles", json={"name": "new", "trigger": "dmrnew", "colour": "red"}, headers=headers)
    assert extra.status_code == 422 and extra.json()["detail"][0]["field"] == "colour"
    steps = client.post("/api/v1/styles", json={"name": "new", "trigger": "dmrnew", "steps": 0}, headers=headers)
    assert steps.status_code == 422 and steps.json()["detail"][0]["field"] == "steps"
    listed = client.get("/api/v1/styles").json()
    assert listed["installed"] == [{"name": "house", "source": "trained", "enabled": False, "default": False,
                                    "weight": 0.7, "trigger": "dmrhouse"}]

    assert form(client, headers, "/styles/installed", name="house", action="remove").status_code == 303
    assert models.styles() == [] and not (settings.models_dir / "styles" / "house.safetensors").exists()
    actions = [(e["action"], e["target"]) for e in client.get("/api/v1/audit").json()["entries"]]
    assert actions.count(("style LoRA changed", "house")) == 5


def test_the_start_form_names_the_bad_field(staff_session, settings):
    client, headers = staff_session
    page = client.get("/styles").text
    assert re.search(rf'id="style-steps"[^>]*value="{settings.training_steps}"', page)
    bad_name = form(client, headers, "/styles", name="House Classic!", trigger="dmrclassic", steps="40")
    assert bad_name.status_code == 422 and re.search(r'id="style-name"[^>]*aria-invalid="true"', bad_name.text)
    assert 'value="House Classic!"' in bad_name.text
    bad_steps = form(client, headers, "/styles", name="house", trigger="dmrclassic", steps="forty")
    assert bad_steps.status_code == 422 and re.search(r'id="style-steps"[^>]*aria-invalid="true"', bad_steps.text)
    made = form(client, headers, "/styles", name="house", trigger="dmrclassic", steps="40")
    assert made.status_code == 303 and made.headers["location"].startswith("/staff/styles/")
    listing = client.get("/styles").text
    assert "house</a>" in listing and "Collecting photos" in listing and "0 of 40" in listing


def test_a_trained_style_arrives_switched_off_and_is_switched_on_from_its_page(staff_session, store, settings,
                                                                              tmp_path):
    client, headers = staff_session
    style_id = start(client, headers, "house")
    training_queue.finish(store, style_id, "trained", lora_sha256="ab" * 32)
    models = installed(settings, tmp_path, "house", enabled=False, source="trained")
    page = client.get(f"/styles/{style_id}").text
    assert "Installed, switched off." in page and 'id="use-default"' in page and "hx-trigger" not in page
    assert form(client, headers, f"/styles/{style_id}/use", action="default").status_code == 303
    (lora,) = models.styles()
    assert lora.enabled and lora.default
    assert "Installed and switched on</strong>: every customer round is drawn with it" in \
        client.get(f"/styles/{style_id}").text
    assert form(client, headers, f"/styles/{style_id}/use", action="sideways").status_code == 422


def test_the_loss_chart_draws_the_recorded_losses_with_at_most_300_points(staff_session, store, settings):
    client, headers = staff_session
    style_id = training(client, headers, store, settings, steps=1000)
    training_queue.report(store, style_id, [(1, 0.25), (2, 0.2), (3, 0.125)])
    chart = client.get(f"/styles/{style_id}").text
    svg = re.search(r'<svg id="loss-chart" role="img" aria-label="([^"]*)"(.*?)</svg>', chart, re.DOTALL)
    assert "0.2500 at step 1" in svg.group(1) and "0.1250 at step 3" in svg.group(1)
    points = re.search(r'<polyline class="loss-line" points="([^"]*)"', svg.group(2)).group(1).split()
    assert len(points) == 3
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] < ys[1] < ys[2]                               # a falling loss goes down the chart
    assert ">step</text>" in svg.group(2) and ">loss</text>" in svg.group(2)

    training_queue.report(store, style_id, [(step, 1 / step) for step in range(4, 1001)])
    many = client.get(f"/styles/{style_id}/progress").text
    points = re.search(r'points="([^"]*)"', many).group(1).split()
    assert 100 < len(points) <= styles_staff.CHART_POINTS
    assert "0.0010 at step 1000" in many and "Step 1,000 of 1,000" in many
    assert client.get(f"/api/v1/styles/{style_id}").json()["losses"][-1] == [1000, 0.001]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_photo_routes_limit_is_refused_with_413_in_words(settings, store, jeweler, monkeypatch,
                                                                         chunked):
    monkeypatch.setattr(styles_staff, "PHOTOS_BODY_BYTES", 2 * 1024 * 1024)
    _, app = cli.build_apps(settings, store)
    with TestClient(app, base_url="http://testserver/staff") as client:
        csrf = client.post("/api/v1/session", json={"username": jeweler, "password": STAFF_PASSWORD}).json()
        headers = {"X-CSRF-Token": csrf["csrf_token"]}
        style_id = start(client, headers)
        body = (b"--b\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"huge.png\"\r\n\r\n"
                + b"x" * (3 * 1024 * 1024) + b"\r\n--b--\r\n")
        content = (body[i:i + 65536] for i in range(0, len(body), 65536)) if chunked else body
        answer = client.post(f"/styles/{style_id}/photos", content=content,
                             headers={**headers, "content-type": "multipart/form-data; boundary=b"})
        assert answer.status_code == 413
        assert answer.json()["detail"] == "Request too large (limit 2097152 bytes)."
        assert styles.photos(store, style_id) == []
        # Other staff forms keep the usual limit.
        assert client.post("/styles", content=b"name=" + b"x" * (settings.max_body_bytes + 1),
                           headers={**headers, "content-type": "application/x-www-form-urlencoded"}).status_code == 413
