"""The `reservations` command: serve, migrate, seed, create-admin."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

from .db import EmbeddedDatabase, migrate, resolve_dsn
from .logs import configure_logging
from .settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"reservations: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _with_database(settings: Settings) -> tuple[str, EmbeddedDatabase | None]:
    dsn, embedded = resolve_dsn(settings)
    return dsn, embedded


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    dsn, embedded = _with_database(settings)
    try:
        applied = migrate(dsn, rollback=args.rollback, rollback_all=args.rollback_all)
    finally:
        if embedded:
            embedded.stop()
    verb = "rolled back" if (args.rollback or args.rollback_all) else "applied"
    print(f"{verb} {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from .seed import seed

    settings = settings.with_jwt_secret()
    dsn, embedded = _with_database(settings)
    try:
        migrate(dsn)
        summary = asyncio.run(seed(dsn, settings))
    finally:
        if embedded:
            embedded.stop()
    print(summary)
    return 0


def cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    from .accounts.passwords import MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES, PasswordHasher
    from .accounts.service import create_admin
    from .db import create_pool

    password = args.password
    if args.password_stdin:
        # One line; the newline that ends it is not part of the password.
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    size = len(password.encode())
    if not MIN_PASSWORD_BYTES <= size <= MAX_PASSWORD_BYTES:
        print(
            f"reservations: the password must be {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes",
            file=sys.stderr,
        )
        return 2
    dsn, embedded = _with_database(settings)

    async def run() -> dict[str, Any]:
        pool = await create_pool(dsn, settings)
        try:
            return await create_admin(
                pool, PasswordHasher(settings.bcrypt_rounds), args.email, password
            )
        finally:
            await pool.close()

    try:
        migrate(dsn)
        user = asyncio.run(run())
    finally:
        if embedded:
            embedded.stop()
    if user["existed"] and user["previous_role"] != "admin":
        print(
            f"WARNING: {user['email']} was an existing account with role "
            f"{user['previous_role']}, registered at {user['created_at']:%Y-%m-%d %H:%M:%S %Z}; "
            "it is now an ADMIN with the new password. Every token issued to it before now is "
            "revoked. If you did not register this account yourself, someone else did: check "
            "its reservations and activity.",
            file=sys.stderr,
        )
        print(f"existing account {user['email']} ({user['id']}) promoted to admin")
    elif user["existed"]:
        print(
            f"admin {user['email']} ({user['id']}) already existed: its password is reset and "
            "every token issued to it before now is revoked"
        )
    else:
        print(f"admin {user['email']} ({user['id']}) is ready")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .server import serve

    return serve(settings, host=args.host, port=args.port, workers=args.workers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reservations",
        description="Movie seat reservations. Configuration comes from the environment (see docs/configuration.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API, the pages and the live seat map")
    serve.add_argument("--host", help="address to bind (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PORT or 8080)")
    serve.add_argument(
        "--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)"
    )
    serve.set_defaults(run=cmd_serve)

    migrate_cmd = commands.add_parser("migrate", help="apply pending migrations")
    group = migrate_cmd.add_mutually_exclusive_group()
    group.add_argument("--rollback", action="store_true", help="undo the last applied migration")
    group.add_argument("--rollback-all", action="store_true", help="undo every migration")
    migrate_cmd.set_defaults(run=cmd_migrate)

    seed = commands.add_parser("seed", help="add demo data (idempotent)")
    seed.set_defaults(run=cmd_seed)

    admin = commands.add_parser("create-admin", help="create an admin, or reset one's password")
    admin.add_argument("--email", required=True)
    source = admin.add_mutually_exclusive_group(required=True)
    source.add_argument("--password", help="the password (visible to other local users in ps)")
    source.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    admin.set_defaults(run=cmd_create_admin)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = _settings()
    configure_logging(settings)
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    try:
        code = run(args, settings)
    except SettingsError as exc:
        print(f"reservations: configuration error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    logging.shutdown()
    raise SystemExit(code)
