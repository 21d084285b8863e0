"""`diamra lora` as a jeweler runs it at the console: a real process on a folder of photos."""

from __future__ import annotations

import io

from PIL import Image

from appliance.storage.store import Store
from appliance.studio import styles
from tests.unit.test_cli import run
from tests.unit.test_styles import photo


def folder_of_photos(root):
    folder = root / "photos"
    folder.mkdir()
    for i, name in enumerate(["yellow-gold-solitaire-ring.jpg", "rose_gold_band.jpg", "platinum-pendant-3.jpg",
                              "white gold halo ring.png", "IMG_0042.jpg"]):
        (folder / name).write_bytes(photo(200 + i, fmt="PNG" if name.endswith(".png") else "JPEG"))
    (folder / "IMG_0042.txt").write_text("14k yellow gold hoop earrings\n")
    small = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(small, format="JPEG")
    (folder / "thumb.jpg").write_bytes(small.getvalue())
    (folder / "ring.heic").write_bytes(b"\x00\x00\x00\x18ftypheic not really")
    (folder / "notes.md").write_text("not a photo; not even looked at")
    return folder


def test_lora_train_checks_captions_and_queues_a_folder(tmp_path):
    folder = folder_of_photos(tmp_path)
    result = run("lora", "train", "--photos", str(folder), "--name", "house-classic", "--steps", "200", "--yes",
                 data=tmp_path / "data")
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert "refused: thumb.jpg is 400 x 300 px; a training photo needs at least 512 px" in out
    assert "refused: ring.heic is a HEIC photo (an iPhone's own format); export it as JPEG" in out
    assert "notes.md" not in out
    assert "IMG_0042.jpg: \u201c14k yellow gold hoop earrings\u201d" in out
    assert "caption: dmrhouseclassic, a 14k rose gold" in out
    assert "Queued 'house-classic': 5 photos, 200 steps" in out
    store = Store(tmp_path / "data" / "diamra.db")
    style = styles.by_name(store, "house-classic")
    kept = styles.photos(store, style.id)
    assert style.status == "queued" and style.trigger == "dmrhouseclassic"
    assert len(kept) == 5 and all(p.confirmed for p in kept)
    assert {p.original_name: p.spec.piece_type for p in kept}["IMG_0042.jpg"] == "earrings"
    store.close()

    listed = run("lora", "list", data=tmp_path / "data")
    assert "house-classic\tWaiting to train\tstep 0 of 200" in listed.stdout
    stopped = run("lora", "stop", "house-classic", data=tmp_path / "data")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout


def test_a_photo_without_a_readable_line_stops_the_queue(tmp_path):
    folder = folder_of_photos(tmp_path)
    (folder / "IMG_0042.txt").unlink()
    result = run("lora", "train", "--photos", str(folder), "--name", "house", "--yes", data=tmp_path / "data")
    assert result.returncode == 2
    assert "needs a line: IMG_0042.jpg" in result.stdout and "IMG_0042.txt" in result.stdout
    store = Store(tmp_path / "data" / "diamra.db")
    style = styles.by_name(store, "house")
    assert style.status == "collecting" and len(styles.photos(store, style.id)) == 5
    store.close()
    # Written in, the same command carries on with the photos it kept.
    (folder / "IMG_0042.txt").write_text("rose gold hoop earrings")
    again = run("lora", "train", "--photos", str(folder), "--name", "house", "--yes", data=tmp_path / "data")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "IMG_0042.jpg: \u201crose gold hoop earrings\u201d" in again.stdout
    store = Store(tmp_path / "data" / "diamra.db")
    assert styles.by_name(store, "house").status == "queued"
    store.close()
