"""Catalog: genres, movies, posters, theaters, showtimes."""

from aiohttp import web

from ..context import LISTINGS, SETTINGS
from . import posters, routes
from .listings import ListingCache


def setup(app: web.Application) -> None:
    app[LISTINGS] = ListingCache()  # kept right by the live listener (live/listener.py)
    routes.setup(app)
    posters.limit_decoder(app[SETTINGS].max_poster_pixels)
