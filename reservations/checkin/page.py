"""The usher's page /scan: a shell that its script (templates/static/scan.js) fills with the
camera, the answers and the queue of offline scans, through the check-in API and the token it
keeps in localStorage. The page itself holds no data, so it is public like the other shells.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from ..context import SETTINGS
from ..paths import STATIC_DIR
from ..security import PAGE_POLICY

routes = web.RouteTableDef()

# The vendored QR decoder is WebAssembly (templates/static/vendor/zxing-wasm): compiling it
# needs 'wasm-unsafe-eval', which allows WebAssembly and nothing else (no eval of script text).
SCAN_POLICY = PAGE_POLICY.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'")


@routes.get("/scan", name="scan")
async def scan_page(request: web.Request) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "scan.html",
        request,
        {"nav": "scan", "opens_minutes": request.app[SETTINGS].checkin_opens_minutes},
    )
    response.headers["Content-Security-Policy"] = SCAN_POLICY
    # The page must come back from the network after a new deploy, but it works offline once
    # loaded: the script keeps what it needs in localStorage.
    response.headers["Cache-Control"] = "no-cache"
    return response


@routes.get("/scan-sw.js", name="scan_service_worker")
async def scan_service_worker(request: web.Request) -> web.Response:
    """The page's service worker (templates/static/scan-sw.js). Served from the root, not
    /static/, because a worker controls only pages under its own address: this one /scan."""
    return web.Response(
        body=(STATIC_DIR / "scan-sw.js").read_bytes(),
        content_type="text/javascript",
        headers={
            "Cache-Control": "no-cache",
            # A worker runs under its own script's policy: it fetches from this origin only.
            "Content-Security-Policy": "default-src 'none'; connect-src 'self'",
        },
    )
