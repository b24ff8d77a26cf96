"""Web pages: the programme, the live seat map, login, registration, my reservations and the
admin console.

Pages are rendered on the server from the catalog's and booking's service functions; what needs
the signed-in person (holding seats, the reservations list) is done by the scripts under
templates/static/ through the REST API with the token they keep in localStorage.
"""

from aiohttp import web

from . import account_pages, admin, admin_emails, admin_showtimes, routes


def setup(app: web.Application) -> None:
    routes.setup(app)
    admin.setup(app)
    admin_showtimes.setup(app)
    admin_emails.setup(app)
    account_pages.setup(app)
