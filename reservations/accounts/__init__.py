"""Accounts: register, login, tokens, passwords, roles."""

from aiohttp import web


def setup(app: web.Application) -> None:
    from . import routes

    routes.setup(app)
