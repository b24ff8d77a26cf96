"""Catalog: genres, movies, posters, theaters, showtimes."""

from aiohttp import web

from ..context import SETTINGS


def setup(app: web.Application) -> None:
    from . import posters, routes

    routes.setup(app)
    posters.limit_decoder(app[SETTINGS].max_poster_pixels)
