"""Admin reports: capacity, revenue and popular movies, as JSON or CSV."""

from aiohttp import web

from . import routes


def setup(app: web.Application) -> None:
    routes.setup(app)
