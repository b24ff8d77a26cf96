"""Check-in at the door: signed ticket codes, admissions exactly once, offline batches, and
the usher's page /scan."""

from aiohttp import web

from . import page, routes


def setup(app: web.Application) -> None:
    routes.setup(app)
    app.router.add_routes(page.routes)
