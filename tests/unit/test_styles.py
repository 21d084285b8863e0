"""The store's own styles: photos checked by name, lines read into confirmed specs and
captions, the job's life (queue, claim, yield, stop, recover), training hours."""

from __future__ import annotations

import io
import random
from datetime import datetime

import pytest
from PIL import Image, ImageDraw

from appliance.config import parse_hours
from appliance.errors import Conflict, Invalid
from appliance.storage.migrations import migrate
from appliance.storage.store import Store
from appliance.studio import jobs, styles, training_queue
from appliance.studio.designs import create_design
from pipelines.prompts import caption


def photo(seed: int, size=(768, 640), fmt="JPEG") -> bytes:
    """A photo-like picture of a 'piece': a seeded arrangement of shapes on a backdrop."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(120, 250) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randrange(30, 200)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(0, 255) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def store(tmp_path):
    migrate(tmp_path / "d.db", tmp_path / "backups")
    s = Store(tmp_path / "d.db")
    yield s
    s.close()


@pytest.fixture
def style(store):
    return styles.create(store, "house-classic", "dmrclassic", 40, actor="anna")


def add(store, tmp_path, style, name, data, line=None):
    return styles.add_photo(store, tmp_path / "training", style.id, name, data, caption, line=line)


def test_a_photo_is_kept_with_a_reading_from_its_file_name(store, style, tmp_path):
    kept = add(store, tmp_path, style, "white-gold_oval-halo-ring (2).jpg", photo(1))
    assert kept.line == "white gold oval halo ring"
    assert kept.spec.metal == "14k_white" and kept.spec.piece_type == "ring"
    assert kept.caption.startswith("dmrclassic, a 14k white gold")
    assert not kept.confirmed
    assert (tmp_path / "training" / kept.path).read_bytes() == photo(1)
    assert (kept.width, kept.height) == (768, 640)


def test_bad_photos_are_refused_by_name(store, style, tmp_path):
    with pytest.raises(Invalid, match=r"tiny\.jpg is 600 x 400 px; a training photo needs at least 512 px"):
        add(store, tmp_path, style, "tiny.jpg", photo(2, size=(600, 400)))
    with pytest.raises(Invalid, match=r"notes\.jpg is not a photo this appliance can read"):
        add(store, tmp_path, style, "notes.jpg", b"just some text, not a picture")
    with pytest.raises(Invalid, match=r"ring\.gif is a GIF file; send JPEG, PNG or WebP"):
        add(store, tmp_path, style, "ring.gif", photo(3, fmt="GIF"))
    with pytest.raises(Invalid, match=r"empty\.png is empty"):
        add(store, tmp_path, style, "empty.png", b"")
    assert styles.photos(store, style.id) == []
    assert not any((tmp_path / "training").rglob("*.*"))


def test_duplicates_are_refused_even_resized_and_saved_again(store, style, tmp_path):
    add(store, tmp_path, style, "yellow gold ring.jpg", photo(4))
    with pytest.raises(Invalid, match=r"copy\.jpg is the same file as yellow gold ring\.jpg"):
        add(store, tmp_path, style, "copy.jpg", photo(4))
    smaller = io.BytesIO()
    Image.open(io.BytesIO(photo(4))).resize((640, 533)).save(smaller, format="PNG")
    with pytest.raises(Invalid, match=r"again\.png looks like a copy of yellow gold ring\.jpg"):
        add(store, tmp_path, style, "again.png", smaller.getvalue())
    # A different photo of another piece is welcome.
    add(store, tmp_path, style, "rose gold ring.jpg", photo(5))
    assert len(styles.photos(store, style.id)) == 2


def test_a_line_must_say_the_piece_and_the_metal(store, style, tmp_path):
    kept = add(store, tmp_path, style, "IMG_2041.jpg", photo(6))
    assert kept.line == ""
    with pytest.raises(Invalid, match="does not say the piece or the metal"):
        styles.confirm_photo(store, style.id, kept.id, "something lovely", caption, actor="anna")
    with pytest.raises(Invalid, match="does not say the metal"):
        styles.confirm_photo(store, style.id, kept.id, "solitaire ring", caption, actor="anna")
    confirmed = styles.confirm_photo(store, style.id, kept.id, "platinum solitaire ring with a round diamond",
                                     caption, actor="anna")
    assert confirmed.confirmed and confirmed.spec.metal == "platinum"
    assert confirmed.caption == caption(confirmed.spec, "dmrclassic")
    assert "a platinum 950 solitaire" in confirmed.caption


def test_a_style_trains_only_on_enough_confirmed_photos(store, style, tmp_path):
    kept = [add(store, tmp_path, style, f"yellow gold ring {i}.jpg", photo(10 + i)) for i in range(5)]
    with pytest.raises(Invalid, match=r"Confirm what 5 photo\(s\) show first"):
        styles.queue(store, style.id)
    for p in kept[:4]:
        styles.confirm_photo(store, style.id, p.id, p.line, caption, actor="anna")
    styles.remove_photo(store, tmp_path / "training", style.id, kept[4].id)
    assert not (tmp_path / "training" / kept[4].path).exists()
    with pytest.raises(Invalid, match="at least 5 photos"):
        styles.queue(store, style.id)
    extra = add(store, tmp_path, style, "rose gold band.jpg", photo(30))
    styles.confirm_photo(store, style.id, extra.id, extra.line, caption, actor="anna")
    queued = styles.queue(store, style.id)
    assert queued.status == "queued"
    # Nothing changes under a queued style.
    with pytest.raises(Conflict):
        add(store, tmp_path, style, "white gold ring.jpg", photo(31))
    with pytest.raises(Conflict):
        styles.remove_photo(store, tmp_path / "training", style.id, extra.id)


def _queued(store, tmp_path, name="ours"):
    style = styles.create(store, name, "dmrours", 8, actor="anna")
    for i in range(5):
        p = add(store, tmp_path, style, f"white gold ring {name} {i}.jpg", photo(hash((name, i)) % 10_000))
        styles.confirm_photo(store, style.id, p.id, p.line, caption, actor="anna")
    return styles.queue(store, style.id)


def test_claim_pause_recover_and_finish(store, tmp_path):
    style = _queued(store, tmp_path)
    job = training_queue.claim_next(store, "w1", tmp_path / "training")
    assert job.style.status == "training" and len(job.photos) == 5
    assert all(path.exists() and text.startswith("dmrours, ") for path, text, _ in job.photos)
    assert [s.summary() for s in job.validation] == [s.summary() for s in training_queue.validation_specs()]
    assert training_queue.claim_next(store, "w2", tmp_path / "training") is None
    training_queue.report(store, style.id, [(1, 0.5), (2, 0.25)])
    assert styles.get(store, style.id).step == 2 and styles.losses(store, style.id) == [(1, 0.5), (2, 0.25)]
    training_queue.pause(store, style.id)
    assert styles.get(store, style.id).status == "queued"
    training_queue.claim_next(store, "w1", tmp_path / "training")
    assert training_queue.recover(store) == 1            # the worker died mid-shift
    again = training_queue.claim_next(store, "w1", tmp_path / "training")
    assert again.style.step == 2                 # its place is kept
    training_queue.finish(store, style.id, "trained", lora_sha256="ab" * 32)
    done = styles.get(store, style.id)
    assert done.status == "trained" and done.lora_sha256 == "ab" * 32


def test_stopping_a_waiting_style_and_a_training_one(store, tmp_path):
    waiting = _queued(store, tmp_path, "one")
    assert styles.cancel(store, waiting.id).status == "cancelled"
    training = _queued(store, tmp_path, "two")
    training_queue.claim_next(store, "w1", tmp_path / "training")
    stopping = styles.cancel(store, training.id)
    assert stopping.status == "training" and training_queue.cancel_requested(store, training.id)
    training_queue.finish(store, training.id, "cancelled")
    assert styles.queue(store, training.id).status == "queued"     # training again resumes
    assert not training_queue.cancel_requested(store, training.id)


def test_a_queued_customer_round_is_seen(store, tmp_path):
    assert not training_queue.customer_waiting(store)
    design = create_design(store, "yellow gold ring")
    jobs.enqueue(store, design.id)
    assert training_queue.customer_waiting(store)


def test_names_triggers_and_steps_are_checked(store):
    with pytest.raises(Invalid) as bad_name:
        styles.create(store, "House Classic!", "dmrclassic", 10, actor="anna")
    assert bad_name.value.field == "name"
    with pytest.raises(Invalid) as bad_trigger:
        styles.create(store, "house", "x", 10, actor="anna")
    assert bad_trigger.value.field == "trigger"
    with pytest.raises(Invalid, match="speed LoRA's name"):
        styles.create(store, "speed", "dmrspeed", 10, actor="anna")
    with pytest.raises(Invalid) as bad_steps:
        styles.create(store, "house", "dmrhouse", 0, actor="anna")
    assert bad_steps.value.field == "steps"
    with pytest.raises(Invalid, match="already a style called 'imported'"):
        styles.create(store, "imported", "dmrimported", 10, actor="anna", taken={"imported"})


def test_training_hours_run_past_midnight():
    windows = parse_hours("20:00-08:00, 12:30-13:30")
    at = lambda h, m: datetime(2026, 11, 27, h, m)  # noqa: E731
    assert training_queue.within_hours(windows, at(23, 0)) and training_queue.within_hours(windows, at(7, 59))
    assert training_queue.within_hours(windows, at(12, 45))
    assert not training_queue.within_hours(windows, at(8, 0)) and not training_queue.within_hours(windows, at(15, 0))
    assert training_queue.within_hours([], at(15, 0))
    for bad in ("8pm-8am", "25:00-08:00", "10:00-10:00"):
        with pytest.raises(ValueError):
            parse_hours(bad)


def test_a_phones_jpeg_with_extra_pictures_is_a_jpeg(store, style, tmp_path):
    """Phones write JPEGs that carry a second picture (MPO to Pillow)."""
    first, second = Image.open(io.BytesIO(photo(60))), Image.new("RGB", (640, 600), "grey")
    out = io.BytesIO()
    first.save(out, format="MPO", save_all=True, append_images=[second])
    kept = add(store, tmp_path, style, "IMG_0001.jpg", out.getvalue(), line="rose gold band")
    assert kept.path.endswith(".jpg")


def test_two_pieces_shot_the_same_way_are_not_taken_for_copies(store, style, tmp_path):
    def shot(metal, stone):
        image = Image.new("RGB", (800, 800), (236, 236, 236))
        draw = ImageDraw.Draw(image)
        draw.ellipse((250, 250, 550, 550), outline=metal, width=40)
        if stone:
            draw.ellipse((360, 190, 440, 270), fill=(250, 250, 255), outline=(180, 180, 190), width=4)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=92)
        return out.getvalue()
    add(store, tmp_path, style, "yellow gold band.jpg", shot((212, 175, 55), False))
    add(store, tmp_path, style, "white gold solitaire ring.jpg", shot((200, 200, 205), True))
    assert len(styles.photos(store, style.id)) == 2


def test_photos_change_only_while_the_style_is_not_training_and_a_change_starts_it_over(store, tmp_path):
    style = _queued(store, tmp_path, "racing")
    training_queue.claim_next(store, "w1", tmp_path / "training")
    training_queue.report(store, style.id, [(1, 0.5), (2, 0.4)])
    styles.cancel(store, style.id)
    training_queue.finish(store, style.id, "cancelled")
    assert styles.get(store, style.id).step == 2
    first = styles.photos(store, style.id)[0]
    # The same line again changes nothing learned: the progress stays.
    styles.confirm_photo(store, style.id, first.id, first.line, caption, actor="anna")
    assert styles.get(store, style.id).step == 2
    styles.remove_photo(store, tmp_path / "training", style.id, first.id)
    assert styles.get(store, style.id).step == 0 and styles.losses(store, style.id) == []
