"""Catalog: genres, movies, posters, theaters, showtimes."""

from aiohttp import web

from ..context import LISTINGS
from . import routes
from .listings import ListingCache


def setup(app: web.Application) -> None:
    app[LISTINGS] = ListingCache()  # kept right by the live listener (live/listener.py)
    routes.setup(app)
