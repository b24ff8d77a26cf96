"""Check-in at the door: signed ticket codes, admissions exactly once, offline batches."""

from aiohttp import web

from . import routes


def setup(app: web.Application) -> None:
    routes.setup(app)
