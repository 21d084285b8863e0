"""`diamra`: the one entry point, and the composition root.

This is the only module of `appliance` that reaches into `pipelines` and `web`, and it
does so lazily, inside the commands that need them. Startup is a straight list of steps:
settings, data folder, migrate (backing up first), then serve; the worker reaps what a
crash left behind before it takes a job.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys
from pathlib import Path

from appliance import cli_lora
from appliance.config import Settings, SettingsError, load_settings
from appliance.errors import Conflict, Invalid
from appliance.ops import auth
from appliance.storage.migrations import migrate
from appliance.storage.store import Store
from appliance.studio import price_books, retention

log = logging.getLogger("diamra")


def open_appliance(settings: Settings) -> Store:
    """Make the data folder ready: folders, schema (backed up before migrating), price book."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.images_dir.mkdir(parents=True, exist_ok=True)
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.database_path, settings.backups_dir)
    store = Store(settings.database_path)
    price_books.current(store)
    return store


def build_worker(settings: Settings, store: Store):
    """The generation worker with the generator the settings choose (`auto` explains itself)."""
    from appliance.studio.worker import Worker
    from pipelines.base import GenerationRequest
    from pipelines.registry import create
    generator, reason = create(settings.generator, settings)
    return Worker(store, generator, settings.images_dir, new_request=GenerationRequest, generator_reason=reason,
                  max_attempts=settings.max_job_attempts, image_size=settings.image_size,
                  uploads_dir=settings.uploads_dir, retention=retention.Policy.from_settings(settings),
                  trainer=build_trainer(settings, generator), training_dir=settings.training_dir,
                  training_hours=settings.training_windows)


def build_trainer(settings: Settings, generator):
    """The style trainer when the worker draws with SDXL (styles train on its base model);
    None otherwise: the Our style page says why nothing trains."""
    if not hasattr(generator, "render_samples"):
        return None
    from pipelines.style_training import StyleTrainer
    return StyleTrainer(generator, _model_store(settings), resolution=settings.training_resolution,
                        sample_size=settings.image_size or generator.default_size, device=settings.device or None)


def build_apps(settings: Settings, store: Store, mail_sender=None):
    """(customer app, staff app) sharing one store (and the mail sender, when mail is on)."""
    from appliance.studio.production import enabled_stages
    from web.app import create_customer_app, create_staff_app
    try:
        enabled_stages(settings.production_stages)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    apps = create_customer_app(settings, store), create_staff_app(settings, store)
    for app in apps:
        app.state.mail_sender = mail_sender
    return apps


def build_mail_sender(settings: Settings, store: Store):
    """The outbox's sender, or None when the store has no SMTP server."""
    from appliance.ops.mail import MailSender, SmtpSettings
    smtp = SmtpSettings.from_settings(settings)
    return MailSender(store, smtp) if smtp else None


def server_config(app, host: str, port: int, log_level: str = "info"):
    """How each app is served: uvicorn's own forwarded-header handling off (web.clients
    decides whom to believe), no server banner, our own access log line."""
    import uvicorn
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, proxy_headers=False, server_header=False,
                          access_log=False)


def _settings(args) -> Settings:
    overrides = {k: getattr(args, k, None) for k in ("customer_port", "staff_port", "host", "generator", "worker")}
    return load_settings(args.data, **overrides)


def cmd_init(args) -> int:
    settings = _settings(args)
    open_appliance(settings).close()
    print(f"Data folder ready: {settings.data_dir.resolve()}")
    return 0


def cmd_serve(args) -> int:
    import uvicorn
    settings = _settings(args)
    store = open_appliance(settings)
    store.checkpoint_in_background()
    worker = dispatcher = None
    if settings.dispatcher == "celery":
        # GPU workers on this and other boxes draw; this process sends them the queue.
        from appliance.studio.dispatch import Dispatch
        policy = retention.Policy.from_settings(settings)
        dispatcher = Dispatch(store, settings.broker_url, silent_seconds=settings.worker_silent_seconds,
                              max_attempts=settings.max_job_attempts,
                              housekeeping=lambda: retention.prune(store, settings.images_dir, settings.uploads_dir,
                                                                   policy))
        dispatcher.start_thread()
    elif settings.worker == "embedded":
        # The worker draws in a thread of this process: hand the interpreter back to the
        # web requests every 2 ms rather than Python's default 5, so a live price never
        # waits long behind a drawing step (issue 11's p99 while rounds are drawing).
        sys.setswitchinterval(0.002)
        worker = build_worker(settings, store)
        worker.start_thread()
    mail_sender = build_mail_sender(settings, store)
    if mail_sender:
        mail_sender.start()
    customer, staff = build_apps(settings, store, mail_sender)
    servers = [uvicorn.Server(server_config(customer, settings.host, settings.customer_port)),
               uvicorn.Server(server_config(staff, settings.host, settings.staff_port))]
    shown = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host
    how = "jobs sent to GPU workers through Celery" if dispatcher else "embedded worker" if worker else "external worker"
    print(f"Diamra is running ({how}).", flush=True)
    print(f"  Customer studio: http://{shown}:{settings.customer_port}/", flush=True)
    print(f"  Staff dashboard: http://{shown}:{settings.staff_port}/", flush=True)

    async def run_both():
        await asyncio.gather(*(server.serve() for server in servers))

    try:
        asyncio.run(run_both())
    finally:
        if worker:
            worker.stop()
        if dispatcher:
            dispatcher.stop()
        if mail_sender:
            mail_sender.stop()
        store.close()
    return 0


def cmd_worker(args) -> int:
    from appliance import cli_fleet
    settings = _settings(args)
    if args.action == "run" and args.name:
        print(f"diamra worker takes add, list or remove before a name, not {args.name!r}.", file=sys.stderr)
        return 2
    if args.action in ("add", "remove") and not args.name:
        print(f"diamra worker {args.action} needs the worker's NAME.", file=sys.stderr)
        return 2
    dispatcher = args.dispatcher or settings.dispatcher
    if args.action == "run" and args.dispatcher == "celery":
        return cli_fleet.run_celery_worker(settings, args.shop or settings.shop_url,
                                           args.token_file or settings.worker_token_file)
    store = open_appliance(settings)
    if args.action != "run":
        try:
            if args.action == "add":
                return cli_fleet.cmd_worker_add(settings, store, args.name, args.token_file)
            if args.action == "list":
                return cli_fleet.cmd_worker_list(store)
            return cli_fleet.cmd_worker_remove(store, args.name)
        finally:
            store.close()
    if dispatcher == "celery":
        store.close()
        print("This shop sends its jobs through Celery (dispatcher = \"celery\"): its GPUs draw with "
              "`diamra worker --dispatcher celery` (the diamra-gpu-worker unit), not this worker.", file=sys.stderr)
        return 0
    worker = build_worker(settings, store)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop(timeout=0))
    worker.start_up()
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    if worker.fatal is not None:
        print(f"The generation worker stopped: {worker.fatal}", file=sys.stderr)
        return 3          # systemd restarts it; the job it was on is requeued or failed
    return 0


def cmd_user_add(args) -> int:
    settings = _settings(args)
    store = open_appliance(settings)
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            print("The passwords differ; nothing was changed.", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        auth.create_user(store, args.name, password, args.role)
    except (Invalid, Conflict) as exc:
        print(f"Could not add {args.name!r}: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"Staff account {args.name!r} ({args.role}) created.")
    return 0


def cmd_user_list(args) -> int:
    settings = _settings(args)
    store = open_appliance(settings)
    try:
        for user in auth.list_users(store):
            state = " (disabled)" if user["disabled"] else ""
            print(f"{user['username']}\t{user['role']}{state}")
    finally:
        store.close()
    return 0


def _kiosk_base_url(settings: Settings) -> str:
    """Where a kiosk reaches the customer site: public_url, else this box's customer port."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "localhost" if settings.host in ("", "0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.customer_port}"


def cmd_kiosk(args) -> int:
    """`diamra kiosk add NAME | list | revoke NAME`: the store's in-store kiosks."""
    from appliance.errors import NotFound
    from appliance.studio import kiosks
    settings = _settings(args)
    store = open_appliance(settings)
    try:
        if args.kiosk_command == "add":
            added = kiosks.add(store, args.name, actor="console")
            print(f"Kiosk {added.name!r} added. Open this pairing link once on its screen "
                  f"(it expires {added.expires_at[:16].replace('T', ' ')} UTC):")
            print(kiosks.pairing_url(_kiosk_base_url(settings), added.pairing_token))
            if not settings.public_url:
                print("Warning: public_url is not set. Phones need it: a kiosk on this machine (the kiosk unit "
                      "opens 127.0.0.1) shows no QR code for a customer's phone until public_url names the "
                      "customer studio's address as phones reach it.", file=sys.stderr)
        elif args.kiosk_command == "revoke":
            kiosks.revoke(store, args.name, actor="console")
            print(f"Kiosk {args.name!r} revoked: its screen is unpaired.")
        else:
            for kiosk in kiosks.listing(store):
                print(f"{kiosk['name']}\t{kiosk['state']}\tadded {kiosk['created_at'][:10]} by {kiosk['created_by']}")
    except (Invalid, Conflict, NotFound) as exc:
        print(f"Could not {args.kiosk_command} kiosk {getattr(args, 'name', '')!r}: {getattr(exc, 'message', exc)}",
              file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


def cmd_lora(args) -> int:
    """`diamra lora ...`: the store's own styles (appliance/cli_lora.py)."""
    settings = _settings(args)
    store = open_appliance(settings)
    try:
        return cli_lora.cmd_lora(args, settings, store, _model_store(settings))
    finally:
        store.close()


def cmd_generate(args) -> int:
    import json
    import secrets

    from appliance.jewelry.specs import Spec
    from appliance.reader.descriptions import parse_description
    from pipelines.base import GenerationRequest
    from pipelines.registry import GeneratorUnavailable, create
    settings = _settings(args)
    try:
        generator, reason = create(settings.generator, settings)
    except GeneratorUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.spec:
        try:
            spec = Spec.model_validate(json.loads(Path(args.spec).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"Could not read the spec in {args.spec}: {exc}", file=sys.stderr)
            return 2
    else:
        spec = parse_description(args.prompt).spec
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    size = settings.image_size or generator.default_size
    generator.load()
    result = generator.generate(
        GenerationRequest(spec=spec, description=args.prompt, count=1, seeds=[seed], width=size, height=size),
        on_progress=lambda fraction, preview=None: None, is_cancelled=lambda: False)
    out = Path(args.out)
    result.images[0].save(out)
    print(f"{out} — {generator.name} ({reason}), seed {seed}, spec: {spec.summary()}")
    return 0


def cmd_backup(args) -> int:
    from appliance.ops.backups import BackupError, create_backup
    settings = _settings(args)
    try:
        result = create_backup(settings, Path(args.file) if args.file else None, keep=args.keep)
    except BackupError as exc:
        print(f"Backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"Backup written: {result.path} ({result.size_bytes / 2**20:.1f} MB, {result.files} files, "
          f"{result.seconds:.1f} s, integrity ok)")
    for old in result.removed:
        print(f"  removed old backup {old.name}")
    return 0


def cmd_prune(args) -> int:
    settings = _settings(args)
    store = open_appliance(settings)
    policy = retention.Policy.from_settings(settings)
    pruned = retention.prune(store, settings.images_dir, settings.uploads_dir, policy)
    kept = (f"unordered designs are kept {policy.keep_unordered_days} days after their last change"
            if policy.keep_unordered_days else "unordered designs are kept forever (keep_unordered_days = 0)")
    print(f"{pruned.summary()[0].upper()}{pruned.summary()[1:]}.")
    print(f"  {kept}; ordered designs are never removed.")
    store.close()
    return 0


def cmd_restore(args) -> int:
    from appliance.ops.backups import BackupError, restore_backup
    settings = _settings(args)
    try:
        summary = restore_backup(settings, Path(args.file))
    except BackupError as exc:
        print(f"Restore refused: {exc} The current data was not changed.", file=sys.stderr)
        return 1
    print(f"Restored {summary['files']} files from a backup made {summary['created_at']} into {settings.data_dir}.")
    open_appliance(settings).close()       # bring an older backup's schema up to date
    return 0


def cmd_status(args) -> int:
    from appliance.ops import fleet_status, health
    settings = _settings(args)
    store = open_appliance(settings)
    try:
        result = health.check(settings, store)
        fleet_now = fleet_status.snapshot(settings, store)
    finally:
        store.close()
    facts = result.facts
    print(f"Diamra at {settings.data_dir.resolve()}: {'healthy' if result.ok else 'NOT HEALTHY'}")
    print(f"  database: {facts['database']}")
    worker = facts["worker"]
    print("  worker: none has started" if worker is None else
          f"  worker: {worker['generator']} generator ({worker['reason']}), last heard {worker['heartbeat_age_s']} s ago")
    print(f"  queue: {facts['queue']} round(s) waiting or drawing")
    if fleet_now.dispatcher == "celery" or fleet_now.has_remote:
        for line in fleet_status.status_lines(fleet_now):
            print(line)
    for style in facts["training"]:
        print(f"  style {style['name']}: {'training' if style['status'] == 'training' else 'waiting to train'}, "
              f"step {style['step']} of {style['steps']}")
    print(f"  disk free: {facts['disk_free_bytes'] / 2**30:.1f} GB")
    last = facts["last_backup"]
    print(f"  last good backup: {last['at']} ({last['path']})" if last else "  last good backup: none yet")
    mail_facts = facts["mail"]
    print("  e-mail: off (no smtp_host)" if not mail_facts["on"] else
          f"  e-mail: on, {mail_facts['retrying']} being retried, {mail_facts['failed']} given up")
    for line in result.problems:
        print(f"PROBLEM: {line}")
    for line in result.warnings:
        print(f"warning: {line}")
    return 0 if result.ok else 1


def _model_store(settings: Settings):
    from appliance.ops.models import ModelStore
    return ModelStore(settings.models_dir, settings.manifest_path)


def cmd_models(args) -> int:
    from appliance.ops.models import ModelError
    settings = _settings(args)
    models = _model_store(settings)
    try:
        if args.models_command == "list":
            lock = models.lock()
            for spec in models.manifest().values():
                installed = lock.get("models", {}).get(spec.name)
                state = f"installed ({installed['source']}, {installed['installed_at']})" if installed else (
                    "optional, not installed" if spec.optional else "not installed")
                print(f"{spec.name:8} {spec.kind:11} {spec.repo} @ {spec.revision} — {spec.licence} — {state}")
            for style in models.styles():
                print(f"{style.name:8} style_lora  {_style_state(style)}, weight {style.weight:g}, trigger "
                      f"{style.trigger!r}, from {style.source} — {style.file}")
            return 0
        if args.models_command == "style":
            return cmd_models_style(models, args)
        if args.models_command == "pull":
            from appliance.ops.models import readable_size
            manifest = models.manifest()
            for name in args.names or [n for n, spec in manifest.items() if not spec.optional]:
                shown = {}                # file -> the last tenth of it reported

                def planned(left, name=name):
                    spec = manifest[name]
                    print(f"{name}: licence {spec.licence} — " + (
                        f"downloading {readable_size(left)} into {models.folder(spec)}" if left else
                        f"already downloaded in {models.folder(spec)}, checking it"), flush=True)

                def progress(file, done, total, shown=shown):
                    tenth = 10 * done // total if total else 0
                    if file not in shown or tenth > shown[file]:
                        shown[file] = tenth
                        of = f" of {readable_size(total)}" if total else ""
                        print(f"  {file}: {readable_size(done)}{of}" + (" done" if total and done >= total else ""),
                              flush=True)

                if models.pull(name, progress=progress, planned=planned).kind == "style_lora":
                    print(f"style LoRA {name} installed (a newly pulled style is off: "
                          f"`diamra models style on {name}`, then `default {name}`, to draw with it)")
            return cmd_models_verify(models)
        if args.models_command == "import":
            if args.style:
                style = models.import_style(args.style, Path(args.path), args.trigger or "", args.weight)
                print(f"style LoRA {style.name} installed ({_style_state(style)}, weight {style.weight:g}, "
                      f"trigger {style.trigger!r})")
            else:
                config = Path(args.config) if args.config else None
                spec = models.import_model(args.model, Path(args.path), config=config)
                print(f"{spec.name} installed from {args.path}")
            return cmd_models_verify(models)
        return cmd_models_verify(models)
    except ModelError as exc:
        print(f"Models: {exc}", file=sys.stderr)
        return 2


def _style_state(style) -> str:
    return ("on" if style.enabled else "off") + (", default" if style.default else "")


def cmd_models_style(models, args) -> int:
    """`diamra models style list | on | off | default | weight | remove`: which of the store's
    style LoRAs are on, and which one customer rounds are drawn with."""
    command = args.style_command
    if command == "on":
        style = models.set_style(args.name, enabled=True)
        print(f"style {style.name} is on" + ("" if style.default else
                                              f"; `diamra models style default {style.name}` to draw rounds with it"))
    elif command == "off":
        models.set_style(args.name, enabled=False)
        print(f"style {args.name} is off")
    elif command == "default":
        models.set_default_style(args.name)
        print(f"customer rounds are drawn with style {args.name}")
    elif command == "weight":
        style = models.set_style(args.name, weight=args.weight)
        print(f"style {style.name} weight {style.weight:g}")
    elif command == "remove":
        models.remove_style(args.name)
        print(f"style {args.name} removed")
    else:
        for style in models.styles():
            print(f"{style.name:12} {_style_state(style):12} weight {style.weight:g}  trigger {style.trigger!r}  "
                  f"from {style.source}")
    active = models.active_style()
    print(f"Customer rounds are drawn with style {active.name}." if active else
          "Customer rounds are drawn with the base model alone (no default style).")
    return 0


def cmd_models_verify(models) -> int:
    checks = models.verify()
    bad = [c for c in checks if c.status != "ok"]
    for check in bad:
        print(f"{check.status.upper():9} {check.model}/{check.path}: {check.detail}")
    print(f"{len(checks) - len(bad)} of {len(checks)} model files verified." if checks else "No model files listed.")
    return 1 if bad else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="diamra", description="Diamra custom-jewelry design appliance.")
    top.add_argument("--data", type=Path, default=None, help="data folder (default: ./data in a checkout, "
                     "/var/lib/diamra when installed, or $DIAMRA_DATA)")
    sub = top.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create or migrate the data folder").set_defaults(func=cmd_init)

    serve = sub.add_parser("serve", help="run the customer and staff apps (and the embedded worker)")
    serve.add_argument("--customer-port", type=int, default=None)
    serve.add_argument("--staff-port", type=int, default=None)
    serve.add_argument("--host", default=None)
    serve.add_argument("--generator", choices=["auto", "sketch", "sdxl"], default=None)
    serve.add_argument("--worker", choices=["embedded", "external"], default=None)
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run the generation worker as its own process; add, list or remove "
                                           "the GPU workers of other boxes")
    worker.add_argument("action", nargs="?", choices=["run", "add", "list", "remove"], default="run")
    worker.add_argument("name", nargs="?", help="a GPU worker's name (add, remove)")
    worker.add_argument("--generator", choices=["auto", "sketch", "sdxl"], default=None)
    worker.add_argument("--dispatcher", choices=["sqlite", "celery"], default=None,
                        help="celery: take jobs from the shop's Celery queue (a GPU worker box)")
    worker.add_argument("--shop", default=None, help="the shop's staff address, http://HOST:8081 (celery)")
    worker.add_argument("--token-file", default=None,
                        help="the worker's token: written by add, read by a celery worker")
    worker.set_defaults(func=cmd_worker)

    user = sub.add_parser("user", help="staff accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="add a staff account (password from stdin or a prompt)")
    add.add_argument("name")
    add.add_argument("--role", choices=list(auth.ROLES), default="admin")
    add.set_defaults(func=cmd_user_add)
    user_sub.add_parser("list", help="the staff accounts").set_defaults(func=cmd_user_list)

    kiosk = sub.add_parser("kiosk", help="in-store kiosks: add (prints a one-time pairing link), list, revoke")
    kiosk_sub = kiosk.add_subparsers(dest="kiosk_command", required=True)
    kiosk_sub.add_parser("add", help="add a kiosk and print its one-time pairing link").add_argument("name")
    kiosk_sub.add_parser("list", help="the kiosks and their state")
    kiosk_sub.add_parser("revoke", help="unpair a kiosk's screen at once").add_argument("name")
    kiosk.set_defaults(func=cmd_kiosk)

    backup = sub.add_parser("backup", help="write a verified backup archive of the data folder")
    backup.add_argument("file", nargs="?", help="archive path (default: <data>/backups/diamra-backup-<time>.tar.gz)")
    backup.add_argument("--keep", type=int, default=7, help="how many archives to keep in <data>/backups")
    backup.set_defaults(func=cmd_backup)
    sub.add_parser("prune", help="remove unordered designs, ended rounds' previews and stray files past the "
                                 "retention settings (the worker does this hourly)").set_defaults(func=cmd_prune)
    restore = sub.add_parser("restore", help="restore an archive into a stopped or new data folder")
    restore.add_argument("file")
    restore.set_defaults(func=cmd_restore)
    sub.add_parser("status", help="the appliance's health in words").set_defaults(func=cmd_status)
    cli_lora.add_parser(sub, cmd_lora)

    models = sub.add_parser("models", help="install and check the SDXL model files")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    models_sub.add_parser("list", help="what the manifest asks for and what is installed").set_defaults(func=cmd_models)
    models_sub.add_parser("verify", help="check every installed file's sha256").set_defaults(func=cmd_models)
    pull = models_sub.add_parser("pull", help="download the manifest's models (needs internet)")
    pull.add_argument("names", nargs="*", help="models to pull (default: all but the optional ones, such as "
                                               "public style LoRAs, which are pulled by name)")
    pull.set_defaults(func=cmd_models)
    style = models_sub.add_parser("style", help="the store's style LoRAs: which are on, which one rounds use")
    style_sub = style.add_subparsers(dest="style_command", required=True)
    style_sub.add_parser("list", help="each style, on or off, the default, its weight and source")
    style_sub.add_parser("on", help="switch a style on (loaded, ready to be the default)").add_argument("name")
    style_sub.add_parser("off", help="switch a style off (the default style too: rounds then use no style)"
                         ).add_argument("name")
    style_sub.add_parser("default", help="draw customer rounds with this style (it must be on)").add_argument("name")
    weight = style_sub.add_parser("weight", help="a style's weight, above 0 and at most 2 (1 = as trained)")
    weight.add_argument("name")
    weight.add_argument("weight", type=float)
    style_sub.add_parser("remove", help="uninstall a style and delete its file").add_argument("name")
    style.set_defaults(func=cmd_models)
    imp = models_sub.add_parser("import", help="install a model or a style LoRA from a local folder or file")
    imp.add_argument("path")
    imp.add_argument("--model", default="base", help="manifest model to install (base, vae, speed)")
    imp.add_argument("--style", help="install PATH (a .safetensors LoRA) as the store's style LoRA of this name")
    imp.add_argument("--trigger", help="the style LoRA's trigger words")
    imp.add_argument("--weight", type=float, default=1.0, help="the style LoRA's weight (default 1)")
    imp.add_argument("--config", help="for a single-file checkpoint of the base model: the diffusers config folder "
                     "of its architecture (default: SDXL base's, shipped in models/)")
    imp.set_defaults(func=cmd_models)

    generate = sub.add_parser("generate", help="render one image through the configured generator")
    generate.add_argument("--prompt", required=True)
    generate.add_argument("--spec", help="a JSON spec file (default: read the spec from the prompt)")
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument("--out", default="diamra-render.png")
    generate.add_argument("--generator", choices=["auto", "sketch", "sdxl"], default=None)
    generate.set_defaults(func=cmd_generate)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run a `diamra` command; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"Settings problem: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
