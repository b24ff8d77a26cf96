"""Accounts: register, login, tokens, passwords, roles."""

from aiohttp import web

from . import routes


def setup(app: web.Application) -> None:
    routes.setup(app)
