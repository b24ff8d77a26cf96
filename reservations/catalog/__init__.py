"""Catalog: genres, movies, posters, theaters, showtimes."""

from aiohttp import web

from ..context import SETTINGS
from . import posters, routes


def setup(app: web.Application) -> None:
    routes.setup(app)
    posters.limit_decoder(app[SETTINGS].max_poster_pixels)
