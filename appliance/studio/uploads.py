"""Pictures a customer sends: a reference photo to start from, or a mask painted over a
concept (white = redraw this region). Size-capped, decoded only from an allow-list of
formats, refused when they would decompress into a bomb, and stored as a normalised PNG.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from appliance.errors import Invalid, NotFound
from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio.designs import get_design, new_id

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000            # a 40-megapixel photo; more is a bomb, not a picture
LONGEST_SIDE = 1024
FORMATS = {"PNG", "JPEG", "WEBP"}


@dataclass(frozen=True)
class Upload:
    id: str
    design_id: str
    kind: str
    path: str
    width: int
    height: int


def decode_picture(data: bytes, field: str) -> Image.Image:
    if not data:
        raise Invalid(field, "The file is empty.")
    if len(data) > MAX_BYTES:
        raise Invalid(field, f"Please send a picture under {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        with Image.open(io.BytesIO(data), formats=sorted(FORMATS)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise Invalid(field, "That picture is too large to process; please send a smaller one.")
            probe.verify()
        image = Image.open(io.BytesIO(data), formats=sorted(FORMATS))
        image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        # Pillow refuses a text or colour-profile chunk that inflates past its limit with a
        # ValueError ('Decompressed Data Too Large'): a bomb like the others.
        if isinstance(exc, Image.DecompressionBombError) or "too large" in str(exc).lower():
            raise Invalid(field, "That picture is too large to process; please send a smaller one.") from None
        raise Invalid(field, "Please send a PNG, JPEG or WebP picture.") from None
    return ImageOps.exif_transpose(image)


def accept(store: Store, uploads_dir: Path, design_id: str, kind: str, data: bytes) -> Upload:
    """Validate, normalise and store a reference photo or a mask for a design."""
    get_design(store, design_id)
    field = "file"
    image = decode_picture(data, field)
    if kind == "mask":
        image = image.convert("L").point(lambda v: 255 if v >= 128 else 0)
        if image.getbbox() is None:
            raise Invalid(field, "The mask is empty: paint over the part you would like changed.")
    else:
        image = image.convert("RGB")
    image.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.LANCZOS)
    upload_id = new_id()
    relative = f"{design_id}/{upload_id}.png"
    target = Path(uploads_dir) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    image.save(partial, format="PNG")
    os.replace(partial, target)
    with store.write() as db:
        db.execute(q.INSERT_UPLOAD, {"id": upload_id, "design_id": design_id, "kind": kind, "path": relative,
                                     "width": image.width, "height": image.height, "now": now()})
    return get_upload(store, upload_id)


def get_upload(store: Store, upload_id: str) -> Upload:
    """The upload with this id, or NotFound."""
    row = store.query_one(q.GET_UPLOAD, {"id": upload_id})
    if row is None:
        raise NotFound("No upload with that id.")
    return Upload(row["id"], row["design_id"], row["kind"], row["path"], row["width"], row["height"])
