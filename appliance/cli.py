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

from appliance import auth, price_books
from appliance.config import Settings, SettingsError, load_settings
from appliance.errors import Conflict, Invalid
from appliance.migrations import migrate
from appliance.store import Store

log = logging.getLogger("diamra")


def open_appliance(settings: Settings) -> Store:
    """Make the data folder ready: folders, schema (backed up before migrating), price book."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.images_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.database_path, settings.backups_dir)
    store = Store(settings.database_path)
    price_books.current(store)
    return store


def build_worker(settings: Settings, store: Store):
    """The generation worker with the generator the settings choose (`auto` explains itself)."""
    from appliance.worker import Worker
    from pipelines.base import GenerationRequest, create
    generator, reason = create(settings.generator)
    return Worker(store, generator, settings.images_dir, new_request=GenerationRequest, generator_reason=reason,
                  max_attempts=settings.max_job_attempts, image_size=settings.image_size)


def build_apps(settings: Settings, store: Store):
    """(customer app, staff app) sharing one store."""
    from web.app import create_customer_app, create_staff_app
    return create_customer_app(settings, store), create_staff_app(settings, store)


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
    worker = None
    if settings.worker == "embedded":
        worker = build_worker(settings, store)
        worker.start_thread()
    customer, staff = build_apps(settings, store)
    servers = [
        uvicorn.Server(uvicorn.Config(customer, host=settings.host, port=settings.customer_port, log_level="info",
                                      proxy_headers=False, server_header=False)),
        uvicorn.Server(uvicorn.Config(staff, host=settings.host, port=settings.staff_port, log_level="info",
                                      proxy_headers=False, server_header=False)),
    ]
    shown = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host
    print(f"Diamra is running ({'embedded worker' if worker else 'external worker'}).", flush=True)
    print(f"  Customer studio: http://{shown}:{settings.customer_port}/", flush=True)
    print(f"  Staff dashboard: http://{shown}:{settings.staff_port}/", flush=True)

    async def run_both():
        await asyncio.gather(*(server.serve() for server in servers))

    try:
        asyncio.run(run_both())
    finally:
        if worker:
            worker.stop()
        store.close()
    return 0


def cmd_worker(args) -> int:
    settings = _settings(args)
    store = open_appliance(settings)
    worker = build_worker(settings, store)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop(timeout=0))
    worker.start_up()
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
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


def cmd_generate(args) -> int:
    import secrets
    from appliance.descriptions import parse_description
    from pipelines.base import GenerationRequest, create
    settings = _settings(args)
    generator, reason = create(settings.generator)
    parsed = parse_description(args.prompt)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    generator.load()
    result = generator.generate(
        GenerationRequest(spec=parsed.spec, description=args.prompt, count=1, seeds=[seed],
                          width=settings.image_size, height=settings.image_size),
        on_progress=lambda fraction: None, is_cancelled=lambda: False)
    out = Path(args.out)
    result.images[0].save(out)
    print(f"{out} — {generator.name} ({reason}), seed {seed}, spec: {parsed.spec.summary()}")
    return 0


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

    worker = sub.add_parser("worker", help="run the generation worker as its own process")
    worker.add_argument("--generator", choices=["auto", "sketch", "sdxl"], default=None)
    worker.set_defaults(func=cmd_worker)

    user = sub.add_parser("user", help="staff accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="add a staff account (password from stdin or a prompt)")
    add.add_argument("name")
    add.add_argument("--role", choices=list(auth.ROLES), default="admin")
    add.set_defaults(func=cmd_user_add)

    generate = sub.add_parser("generate", help="render one image through the configured generator")
    generate.add_argument("--prompt", required=True)
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
