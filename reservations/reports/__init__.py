"""Admin reports: capacity, revenue and popular movies, as JSON or CSV."""

from aiohttp import web


def setup(app: web.Application) -> None:
    from . import routes

    routes.setup(app)
