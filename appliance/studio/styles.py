"""The store's own styles: a style LoRA trained on photos of the store's pieces.

A jeweler starts a style (a name and its trigger words), adds photos, and confirms for
each photo what it shows: the reader proposes a spec from the file name or a typed line
("white gold oval halo ring"), the jeweler corrects the line until the reading is right,
and the caption the LoRA learns from is built from that confirmed spec by the studio's
own prompt builder (the caller passes it in as `caption_of`). Photos are checked on the
way in: a format the trainer reads, at least 512 px on the short side, not a copy of a
photo already in the style.

Training is a job of the generation worker at the lowest priority: it runs only when no
customer round is waiting (and only within `training_hours`, when the store set them),
checkpoints and gives the GPU back the moment a round is queued, and resumes after. Its
steps, losses and sample images (the same validation prompts drawn without the LoRA and
at each checkpoint with it) are recorded here for the dashboard. The finished LoRA is
installed through the model manager, switched off until the jeweler turns it on.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image, ImageOps, UnidentifiedImageError

from appliance.errors import Conflict, Invalid, NotFound
from appliance.jewelry.specs import Spec
from appliance.reader.descriptions import parse_description
from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio.designs import new_id

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
RESERVED_NAMES = ("speed",)           # the model manager's speed LoRA
TRIGGER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]{1,59}$")
MIN_SHORT_SIDE = 512
SHARP_SHORT_SIDE = 1024
MAX_PHOTO_BYTES = 40 * 1024 * 1024
MAX_PIXELS = 80_000_000
# MPO is how Pillow names a JPEG carrying extra pictures (a phone's depth or gain map).
FORMATS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp"}
MIN_PHOTOS = 5
MAX_PHOTOS = 300
MIN_STEPS, MAX_STEPS = 1, 20_000
# Two photos whose 256-bit difference hashes differ in this many bits or fewer are one
# photo saved twice (resized, recompressed), not two pieces shot the same way.
DUPLICATE_BITS = 6
_HASH_SIDE = 16
STATUS_WORDS = {"collecting": "Collecting photos", "queued": "Waiting to train", "training": "Training",
                "trained": "Trained", "failed": "Failed", "cancelled": "Stopped"}

CaptionOf = Callable[[Spec, str], str]


@dataclass(frozen=True)
class Style:
    id: str
    name: str
    trigger: str
    status: str
    steps: int
    step: int
    loss: float | None
    error: str | None
    cancel_requested: bool
    lora_sha256: str | None
    created_by: str
    created_at: str
    updated_at: str
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None = None
    worker_id: str | None = None

    @property
    def status_words(self) -> str:
        return STATUS_WORDS[self.status]

    @property
    def editable(self) -> bool:
        """Photos may be added, removed and confirmed only while it is not training."""
        return self.status in ("collecting", "failed", "cancelled")


@dataclass(frozen=True)
class Photo:
    id: str
    style_id: str
    path: str                  # relative to the training folder
    original_name: str
    width: int
    height: int
    line: str
    spec: Spec
    caption: str
    confirmed: bool
    sha256: str = ""

    @property
    def soft(self) -> bool:
        """Under the training size on its short side: it trains, upscaled and a little soft."""
        return min(self.width, self.height) < SHARP_SHORT_SIDE


# ---------------------------------------------------------------------------- reading


def _style(row: dict) -> Style:
    fields = {k: row[k] for k in Style.__dataclass_fields__}
    fields["cancel_requested"] = bool(fields["cancel_requested"])
    return Style(**fields)


def _photo(row: dict) -> Photo:
    return Photo(row["id"], row["style_id"], row["path"], row["original_name"], row["width"], row["height"],
                 row["line"], Spec.model_validate_json(row["spec_json"]), row["caption"],
                 row["confirmed_at"] is not None, row["sha256"])


def get(store: Store, style_id: str) -> Style:
    row = store.query_one(q.GET_STYLE, {"id": style_id})
    if row is None:
        raise NotFound(f"No style {style_id!r}.")
    return _style(row)


def by_name(store: Store, name: str) -> Style | None:
    row = store.query_one(q.GET_STYLE_BY_NAME, {"name": name})
    return _style(row) if row else None


def listing(store: Store) -> list[Style]:
    return [_style(row) for row in store.query(q.LIST_STYLES)]


def photos(store: Store, style_id: str) -> list[Photo]:
    return [_photo(row) for row in store.query(q.PHOTOS_OF_STYLE, {"style_id": style_id})]


def get_photo(store: Store, style_id: str, photo_id: str) -> Photo:
    row = store.query_one(q.GET_STYLE_PHOTO, {"id": photo_id, "style_id": style_id})
    if row is None:
        raise NotFound(f"No photo {photo_id!r} in this style.")
    return _photo(row)


def losses(store: Store, style_id: str) -> list[tuple[int, float]]:
    return [(row["step"], row["loss"]) for row in store.query(q.LOSSES_OF_STYLE, {"style_id": style_id})]


def samples(store: Store, style_id: str) -> dict[int, list[str]]:
    """Sample image paths (relative to the training folder) by step; step 0 is without the LoRA."""
    found: dict[int, list[str]] = {}
    for row in store.query(q.SAMPLES_OF_STYLE, {"style_id": style_id}):
        found.setdefault(row["step"], []).append(row["path"])
    return found


# ---------------------------------------------------------------------------- a style


def create(store: Store, name: str, trigger: str, steps: int, *, actor: str, taken: set[str] = frozenset()) -> Style:
    """A new style collecting photos. `taken` holds style names the model manager already
    has installed (a name is the LoRA's name there too)."""
    name = (name or "").strip().lower()
    trigger = " ".join((trigger or "").split())
    if not NAME.match(name):
        raise Invalid("name", "A style name is 1-40 lower-case letters, digits, - or _ (for example house-classic).")
    if name in RESERVED_NAMES:
        raise Invalid("name", f"{name!r} is the speed LoRA's name; choose another name for the style.")
    if name in taken or by_name(store, name) is not None:
        raise Invalid("name", f"There is already a style called {name!r}; choose another name.")
    if not TRIGGER.match(trigger):
        raise Invalid("trigger", "Trigger words are 2-60 letters, digits, spaces, - or _, a word no prompt uses "
                                 "otherwise (for example dmrclassic).")
    _check_steps(steps)
    style_id = new_id()
    with store.write() as db:
        db.execute(q.INSERT_STYLE, {"id": style_id, "name": name, "trigger": trigger, "steps": steps,
                                    "actor": actor, "now": now()})
    return get(store, style_id)


def _check_steps(steps: int) -> None:
    if not isinstance(steps, int) or not MIN_STEPS <= steps <= MAX_STEPS:
        raise Invalid("steps", f"Training steps are between {MIN_STEPS} and {MAX_STEPS:,} (1,000 suits most styles).")


def set_steps(store: Store, style_id: str, steps: int) -> Style:
    _check_steps(steps)
    style = get(store, style_id)
    if not style.editable:
        raise Conflict(f"{style.name} is {style.status_words.lower()}; stop it before changing its steps.")
    with store.write() as db:
        db.execute(q.SET_STYLE_STEPS, {"id": style_id, "steps": steps, "now": now()})
    return get(store, style_id)


# ---------------------------------------------------------------------------- photos


def line_from_filename(filename: str) -> str:
    """What a photo's file name says: 'rose-gold_oval-halo-ring (2).jpg' -> 'rose gold oval halo ring'."""
    stem = Path(filename).stem
    words = re.sub(r"[_\-.()\[\]]+", " ", stem)
    words = re.sub(r"\b(?:img|dsc|dscn|photo|pic|image)\s*\d*\b", " ", words, flags=re.I)
    words = re.sub(r"(?<![\d.])\d+(?![\d.]*\s*(?:ct|carat|mm|k)\b)", " ", words)
    return " ".join(words.split())


def read_line(line: str) -> tuple[Spec, list[str]]:
    """The spec a photo's line gives and what of it the reader only assumed. The piece and
    its metal lead the caption, so a line that states neither is refused."""
    line = " ".join((line or "").split())
    if not line:
        raise Invalid("line", "Say what the photo shows, for example \u201cwhite gold oval halo ring\u201d.")
    if len(line) > 300:
        raise Invalid("line", "Please keep the line under 300 characters.")
    parsed = parse_description(line)
    facts = {fact.field: fact for fact in parsed.facts}
    missing = []
    if "piece_type" not in facts or facts["piece_type"].source == "default":
        missing.append("the piece")
    # "rose gold" leaves only the karat to the standard; a line naming no metal at all is refused.
    if "metal" not in facts or (facts["metal"].source == "default" and "no metal" in facts["metal"].why):
        missing.append("the metal")
    if missing:
        raise Invalid("line", f"The line does not say {' or '.join(missing)}; write it in, for example "
                              "\u201cwhite gold oval halo ring\u201d, so the caption teaches nothing false.")
    notes = [f"{fact.label}: {fact.value} (assumed)" for fact in parsed.facts if fact.source == "default"]
    return parsed.spec, notes


def check_photo(data: bytes, filename: str) -> tuple[Image.Image, str]:
    """The decoded photo (EXIF-rotated) and its file suffix, or Invalid naming the file."""
    label = filename or "the photo"
    if not data:
        raise Invalid("photos", f"{label} is empty.")
    if Path(label).suffix.lower() in (".heic", ".heif"):
        raise Invalid("photos", f"{label} is a HEIC photo (an iPhone's own format); export it as JPEG and add that.")
    if len(data) > MAX_PHOTO_BYTES:
        raise Invalid("photos", f"{label} is over {MAX_PHOTO_BYTES // 2**20} MB; export it smaller.")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format
            if kind not in FORMATS:
                raise Invalid("photos", f"{label} is a {kind or 'unknown'} file; send JPEG, PNG or WebP photos.")
            if probe.width * probe.height > MAX_PIXELS:
                raise Invalid("photos", f"{label} is over {MAX_PIXELS // 1_000_000} megapixels; export it smaller.")
            probe.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
    except Invalid:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise Invalid("photos", f"{label} is not a photo this appliance can read; send JPEG, PNG or WebP photos.") \
            from None
    image = ImageOps.exif_transpose(image)
    short = min(image.width, image.height)
    if short < MIN_SHORT_SIDE:
        raise Invalid("photos", f"{label} is {image.width} x {image.height} px; a training photo needs at least "
                                f"{MIN_SHORT_SIDE} px on its short side.")
    return image, FORMATS[kind]


def fingerprint(image: Image.Image) -> str:
    """A 256-bit difference hash: the same photo resized or recompressed keeps it."""
    side = _HASH_SIDE
    small = image.convert("L").resize((side + 1, side), Image.BILINEAR)
    pixels = small.tobytes()
    bits = 0
    for row in range(side):
        for col in range(side):
            bits = bits << 1 | (pixels[row * (side + 1) + col] > pixels[row * (side + 1) + col + 1])
    return f"{bits:0{side * side // 4}x}"


def _same_photo(a: str, b: str) -> bool:
    return len(a) == len(b) and bin(int(a, 16) ^ int(b, 16)).count("1") <= DUPLICATE_BITS


def add_photo(store: Store, training_dir: Path, style_id: str, filename: str, data: bytes, caption_of: CaptionOf,
              line: str | None = None) -> Photo:
    """Check and keep one photo; the reader proposes its spec from `line` or its file name.
    Nothing is confirmed yet. Invalid names the file and the reason."""
    style = get(store, style_id)
    if not style.editable:
        raise Conflict(f"{style.name} is {style.status_words.lower()}; stop it before adding photos.")
    filename = Path(filename or "photo").name[:120]
    image, suffix = check_photo(data, filename)
    digest = hashlib.sha256(data).hexdigest()
    mark = fingerprint(image)
    existing = store.query(q.PHOTOS_OF_STYLE, {"style_id": style_id})
    if len(existing) >= MAX_PHOTOS:
        raise Invalid("photos", f"{style.name} has {MAX_PHOTOS} photos, the most one style trains on.")
    for other in existing:
        if other["sha256"] == digest:
            raise Invalid("photos", f"{filename} is the same file as {other['original_name']}, already in this style.")
        if _same_photo(other["fingerprint"], mark):
            raise Invalid("photos", f"{filename} looks like a copy of {other['original_name']} (the same picture "
                                    "resized or saved again); a duplicate teaches that picture twice.")
    proposed = " ".join((line or "").split()) or line_from_filename(filename)
    try:
        spec, _ = read_line(proposed)
    except Invalid:
        # Nothing readable in the name: keep the photo and ask the jeweler for the line.
        spec = parse_description(proposed or "ring").spec
    photo_id = new_id()
    relative = f"{style_id}/photos/{photo_id}{suffix}"
    target = Path(training_dir) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    partial.write_bytes(data)
    partial.replace(target)
    try:
        with store.write() as db:
            added = db.execute(q.INSERT_STYLE_PHOTO, {
                "id": photo_id, "style_id": style_id, "path": relative, "original_name": filename,
                "sha256": digest, "fingerprint": mark, "width": image.width, "height": image.height,
                "line": proposed, "spec_json": spec.model_dump_json(), "caption": caption_of(spec, style.trigger),
                "now": now()}).rowcount
            if not added:       # queued meanwhile (another tab): nothing changes under it
                raise Conflict(f"{style.name} is waiting to train or training; stop it before adding photos.")
            _photos_changed(db, style_id)
    except sqlite3.IntegrityError:
        target.unlink(missing_ok=True)
        raise Invalid("photos", f"{filename} is the same file as a photo already in this style.") from None
    except Exception:
        target.unlink(missing_ok=True)
        raise
    return get_photo(store, style_id, photo_id)


def _photos_changed(db, style_id: str) -> None:
    """The photo set or a caption changed: a style part-trained on the old set starts over
    (its losses and samples were learned from photos it no longer has; the trainer sees
    the same from its checkpoint, which names the photos and captions it was made from)."""
    db.execute(q.TOUCH_STYLE, {"id": style_id, "now": now()})
    start_over(db, style_id)


def start_over(db, style_id: str) -> None:
    """Step 0 again, without the losses and samples recorded so far (inside a write)."""
    if db.execute(q.RESET_STYLE_PROGRESS, {"id": style_id, "now": now()}).rowcount:
        db.execute(q.DELETE_STYLE_LOSSES, {"style_id": style_id})
        db.execute(q.DELETE_STYLE_SAMPLES, {"style_id": style_id})


def confirm_photo(store: Store, style_id: str, photo_id: str, line: str, caption_of: CaptionOf, *,
                  actor: str) -> Photo:
    """The jeweler's line for a photo, read again; its spec and caption become the ones it trains with."""
    style = get(store, style_id)
    if not style.editable:
        raise Conflict(f"{style.name} is {style.status_words.lower()}; stop it before changing its photos.")
    before = get_photo(store, style_id, photo_id)
    spec, _ = read_line(line)
    line = " ".join(line.split())
    text = caption_of(spec, style.trigger)
    with store.write() as db:
        changed = db.execute(q.CONFIRM_STYLE_PHOTO, {"id": photo_id, "style_id": style_id, "line": line,
                                                     "spec_json": spec.model_dump_json(), "caption": text,
                                                     "actor": actor, "now": now()}).rowcount
        if not changed:
            raise Conflict(f"{style.name} is waiting to train or training; stop it before changing its photos.")
        if text != before.caption or not before.confirmed:
            _photos_changed(db, style_id)
        else:
            db.execute(q.TOUCH_STYLE, {"id": style_id, "now": now()})
    return get_photo(store, style_id, photo_id)


def remove_photo(store: Store, training_dir: Path, style_id: str, photo_id: str) -> None:
    style = get(store, style_id)
    if not style.editable:
        raise Conflict(f"{style.name} is {style.status_words.lower()}; stop it before removing photos.")
    photo = get_photo(store, style_id, photo_id)
    with store.write() as db:
        if not db.execute(q.DELETE_STYLE_PHOTO, {"id": photo_id, "style_id": style_id}).rowcount:
            raise Conflict(f"{style.name} is waiting to train or training; stop it before removing photos.")
        _photos_changed(db, style_id)
    (Path(training_dir) / photo.path).unlink(missing_ok=True)


# ---------------------------------------------------------------------------- the job


def queue(store: Store, style_id: str) -> Style:
    """Ask the worker to train the style (it starts when the GPU is free of customers)."""
    style = get(store, style_id)
    if not style.editable:
        raise Conflict(f"{style.name} is {style.status_words.lower()} already.")
    found = photos(store, style_id)
    unconfirmed = [p.original_name for p in found if not p.confirmed]
    if unconfirmed:
        raise Invalid("photos", f"Confirm what {len(unconfirmed)} photo(s) show first: "
                                f"{', '.join(unconfirmed[:5])}{' …' if len(unconfirmed) > 5 else ''}.")
    if len(found) < MIN_PHOTOS:
        raise Invalid("photos", f"A style needs at least {MIN_PHOTOS} photos of the store's pieces; "
                                f"{style.name} has {len(found)}.")
    with store.write() as db:
        if not db.execute(q.QUEUE_STYLE, {"id": style_id, "now": now()}).rowcount:
            raise Conflict(f"{style.name} changed meanwhile (a photo added, or training started); look again.")
    return get(store, style_id)


def cancel(store: Store, style_id: str) -> Style:
    """Stop a style waiting or training (its checkpoints are kept: training it again resumes)."""
    style = get(store, style_id)
    if style.status not in ("queued", "training"):
        raise Conflict(f"{style.name} is not training.")
    with store.write() as db:
        db.execute(q.CANCEL_STYLE, {"id": style_id, "now": now()})
    return get(store, style_id)


def delete(store: Store, training_dir: Path, style_id: str) -> None:
    """Remove a style that is not training, with its photos, samples and checkpoints."""
    style = get(store, style_id)
    if style.status in ("queued", "training"):
        raise Conflict(f"{style.name} is {style.status_words.lower()}; stop it first.")
    with store.write() as db:
        db.execute(q.DELETE_STYLE, {"id": style_id})
    shutil.rmtree(Path(training_dir) / style_id, ignore_errors=True)
    shutil.rmtree(work_dir(training_dir, style_id), ignore_errors=True)


def work_dir(training_dir: Path, style_id: str) -> Path:
    """Checkpoints and cached latents: big, rebuilt from the photos, never backed up."""
    return Path(training_dir) / "work" / style_id
