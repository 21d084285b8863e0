"""`diamra lora`: the store's own styles from the console (the dashboard's Our style page
does the same on the LAN).

    diamra lora train --photos DIR --name house-classic [--trigger dmrclassic] [--steps 1000] [--yes]
    diamra lora list
    diamra lora stop NAME

`train` checks every photo in DIR, reads what each shows from a line in NAME.txt beside
it or else from its file name, prints the reading and the caption it will train with,
and after the jeweler confirms (or --yes), queues the style for the worker.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from appliance.errors import Conflict, Invalid, NotFound

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".gif", ".bmp")


def add_parser(sub, run) -> None:
    """The `lora` commands; `run(args)` is cli's cmd_lora, which opens the appliance."""
    lora = sub.add_parser("lora", help="the store's own style LoRAs: train one from photos, list, stop")
    lora_sub = lora.add_subparsers(dest="lora_command", required=True)
    train = lora_sub.add_parser("train", help="check a folder of the store's photos and queue a style for training")
    train.add_argument("--photos", required=True, help="a folder of JPEG, PNG or WebP photos of the store's pieces "
                                                       "(a NAME.txt beside a photo says what it shows)")
    train.add_argument("--name", required=True, help="the style's name (lower-case letters, digits, - or _)")
    train.add_argument("--trigger", help="the style's trigger words (default: dmr plus the name)")
    train.add_argument("--steps", type=int, default=None, help="training steps (default: the training_steps setting)")
    train.add_argument("--yes", action="store_true", help="confirm every reading without asking")
    lora_sub.add_parser("list", help="the styles and how their training stands")
    lora_sub.add_parser("stop", help="stop a style waiting or training (training it again resumes)").add_argument("name")
    lora.set_defaults(func=run)


def cmd_lora(args, settings, store, models) -> int:
    """Run a `lora` command on an open appliance (cli.py opens it and closes the store)."""
    try:
        if args.lora_command == "list":
            return _list(store)
        if args.lora_command == "stop":
            from appliance.studio import styles
            style = styles.by_name(store, args.name)
            if style is None:
                print(f"No style called {args.name!r}.", file=sys.stderr)
                return 2
            style = styles.cancel(store, style.id)
            print(f"Style {style.name!r}: {style.status_words.lower()} (training it again resumes at its last "
                  "checkpoint).")
            return 0
        return _train(args, settings, store, models)
    except (Invalid, Conflict, NotFound) as exc:
        print(f"Could not {args.lora_command}: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2


def _list(store) -> int:
    from appliance.studio import styles
    found = styles.listing(store)
    if not found:
        print("No styles yet: diamra lora train --photos DIR --name NAME")
    for style in found:
        count = len(styles.photos(store, style.id))
        loss = f", loss {style.loss:.4f}" if style.loss is not None else ""
        print(f"{style.name}\t{style.status_words}\tstep {style.step} of {style.steps}{loss}\t{count} photos\t"
              f"trigger {style.trigger!r}" + (f"\t{style.error}" if style.error else ""))
    return 0


def _train(args, settings, store, models) -> int:
    from appliance.studio import styles
    from pipelines.prompts import caption

    folder = Path(args.photos)
    if not folder.is_dir():
        print(f"{folder} is not a folder of photos.", file=sys.stderr)
        return 2
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    if not files:
        print(f"{folder} holds no photos (JPEG, PNG or WebP).", file=sys.stderr)
        return 2
    steps = args.steps if args.steps is not None else settings.training_steps
    style = styles.by_name(store, args.name.strip().lower())
    if style is None:
        taken = {s.name for s in models.styles()}
        style = styles.create(store, args.name, args.trigger or f"dmr{args.name.replace('-', '').replace('_', '')}",
                              steps, actor="console", taken=taken)
        print(f"Style {style.name!r} created (trigger words {style.trigger!r}, {steps} steps).")
    elif args.steps is not None:
        style = styles.set_steps(store, style.id, steps)

    already = {p.original_name for p in styles.photos(store, style.id)}
    refused, unread = 0, []
    for path in files:
        if path.name in already:
            continue
        sidecar = path.with_suffix(".txt")
        line = sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else None
        try:
            styles.add_photo(store, settings.training_dir, style.id, path.name, path.read_bytes(), caption, line=line)
        except Invalid as exc:
            refused += 1
            print(f"refused: {exc.message}")
    pending = [p for p in styles.photos(store, style.id) if not p.confirmed]
    readings = []
    for photo in pending:
        sidecar = (folder / photo.original_name).with_suffix(".txt")
        if sidecar.is_file():     # written in since the photo was added: it says what the photo shows
            photo = replace(photo, line=" ".join(sidecar.read_text(encoding="utf-8").split()))
        try:
            spec, assumed = styles.read_line(photo.line)
        except Invalid as exc:
            unread.append(photo)
            print(f"needs a line: {photo.original_name}: {exc.message} Write it in "
                  f"{Path(photo.original_name).with_suffix('.txt').name} beside the photo.")
            continue
        readings.append(photo)
        extra = f" [{'; '.join(assumed)}]" if assumed else ""
        print(f"{photo.original_name}: \u201c{photo.line}\u201d -> {spec.summary()}{extra}\n    caption: "
              f"{caption(spec, style.trigger)}")
    if unread:
        print(f"{len(unread)} photo(s) need a line before {style.name!r} can train; run this again after writing them.",
              file=sys.stderr)
        return 2
    if readings:
        if not args.yes and not _ask(f"Train {style.name!r} on these {len(readings)} new photo(s) with these "
                                     "captions? [y/N] "):
            print("Nothing confirmed; the photos are kept, unconfirmed.")
            return 1
        for photo in readings:
            styles.confirm_photo(store, style.id, photo.id, photo.line, caption, actor="console")
    style = styles.queue(store, style.id)
    total = len(styles.photos(store, style.id))
    print(f"Queued {style.name!r}: {total} photos, {style.steps} steps. The worker trains it when no customer is "
          "waiting" + (f", within training_hours {settings.training_hours}" if settings.training_hours else "")
          + "; follow it on the dashboard's Our style page or with `diamra lora list`.")
    if refused:
        print(f"({refused} photo(s) were refused; see above.)")
    return 0


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        print(question + "(no terminal: run with --yes to confirm)", file=sys.stderr)
        return False
    return input(question).strip().lower() in ("y", "yes")
