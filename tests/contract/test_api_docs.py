"""The API docs tell the truth: every route of the application is in /api/docs/swagger.json, with
a summary, tags, its request schemas, a success answer, each error it can give in the one error
shape, its path parameters and, when it needs a token, the Bearer scheme. A route added without
docs fails here; tests/contract/test_schemathesis.py then checks the answers against these docs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web

from reservations.accounts.access import ADMIN, USER, USHER, access_of
from reservations.app import create_app

# HTML pages (reservations/web): they answer pages, not API, and are not in the API docs.
PAGES = {
    ("GET", "/"),
    ("GET", "/showtimes/{id}"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/register"),
    ("POST", "/register"),
    ("GET", "/my/reservations"),
    ("GET", "/my/reservations/{id}/ticket"),
    ("GET", "/scan"),
    ("GET", "/scan-sw.js"),  # the page's service worker
    ("GET", "/forgot-password"),
    ("POST", "/forgot-password"),
    ("GET", "/reset-password"),
    ("POST", "/reset-password"),
    ("GET", "/verify-email"),
    ("POST", "/verify-email"),
}
# The admin console (reservations/web/admin.py): pages and their HTML panels, not API.
CONSOLE_PREFIX = "/admin"
# aiohttp-apispec's own routes: the spec itself and the Swagger UI page.
DOCS_ROUTES = {"swagger.spec", "swagger.docs"}
# Routes that never touch the database, so never answer 503.
NO_DATABASE = {"/healthz", "/metrics"}
ERROR_REF = {"$ref": "#/definitions/Error"}


def documented_routes(app: web.Application) -> list[tuple[str, str, Any]]:
    """(method, path, handler) of every route that must be in the API docs."""
    found = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or isinstance(resource, web.StaticResource):
            continue
        if route.name in DOCS_ROUTES:
            continue
        path = resource.canonical
        implied_head = route.method == "HEAD" and any(
            other.method == "GET" and other.handler is route.handler for other in resource
        )
        if implied_head or (route.method, path) in PAGES or path.startswith(CONSOLE_PREFIX):
            continue
        found.append((route.method, path, route.handler))
    return found


async def spec_of(client: Any) -> dict[str, Any]:
    response = await client.get("/api/docs/swagger.json")
    assert response.status == 200
    spec: dict[str, Any] = await response.json()
    return spec


def operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] | None = spec["paths"].get(path, {}).get(method.lower())
    assert found is not None, f"{method} {path} is not in the API docs"
    return found


async def test_every_route_is_documented_with_a_summary_tags_and_a_success_answer(app, client):
    spec = await spec_of(client)
    routes = documented_routes(app)
    paths = {path for _, path, _ in routes}
    assert {"/healthz", "/readyz", "/metrics", "/ws/showtimes/{id}"} <= paths
    assert len(routes) >= 35
    for method, path, _ in routes:
        docs = operation(spec, method, path)
        assert docs.get("summary"), f"{method} {path} has no summary"
        assert docs.get("tags"), f"{method} {path} has no tags"
        successes = {code: answer for code, answer in docs["responses"].items() if int(code) < 300}
        assert successes, f"{method} {path} documents no success"
        if docs["produces"][0] == "application/json":
            for code, answer in successes.items():
                if code not in ("101", "204"):
                    assert "schema" in answer, f"{method} {path} {code} has no schema"
    # And nothing is documented that the application does not serve.
    served = {(method.lower(), path) for method, path, _ in routes}
    for path, operations in spec["paths"].items():
        for method in operations:
            assert (method, path) in served, f"{method.upper()} {path} is documented only"


async def test_routes_that_need_a_token_declare_the_bearer_scheme(app, client):
    spec = await spec_of(client)
    assert spec["securityDefinitions"]["bearerAuth"]["in"] == "header"
    marked = 0
    for method, path, handler in documented_routes(app):
        docs = operation(spec, method, path)
        level = access_of(handler)
        if level in (USER, USHER, ADMIN):
            marked += 1
            assert docs.get("security") == [{"bearerAuth": []}], f"{method} {path}"
            assert "401" in docs["responses"], f"{method} {path}"
            if level in (USHER, ADMIN):
                assert "403" in docs["responses"], f"{method} {path}"
        else:  # public, or a token only adds to the answer (an invalid one counts as none)
            assert "security" not in docs, f"{method} {path}"
    assert marked >= 15


async def test_every_documented_error_has_the_error_shape(client):
    spec = await spec_of(client)
    error = spec["definitions"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"] == {"$ref": "#/definitions/ErrorBody"}
    assert set(spec["definitions"]["ErrorBody"]["required"]) == {"code", "message", "details"}
    errors = 0
    for path, operations in spec["paths"].items():
        for method, docs in operations.items():
            for code, answer in docs["responses"].items():
                if int(code) >= 400:
                    errors += 1
                    assert answer.get("schema") == ERROR_REF, f"{method} {path} {code}"
                    assert answer.get("description"), f"{method} {path} {code}"
                if code in ("429", "503"):
                    assert "Retry-After" in answer.get("headers", {}), f"{method} {path} {code}"
    assert errors > 100


async def test_the_errors_a_route_can_give_are_documented(app, client):
    """The errors every route of a kind can give: a JSON body can be malformed (400), too large
    (413), of another media type (415) or invalid (422); a query can be invalid (422); a token
    can be missing (401) or not an admin's (403); an id can name nothing (404); the database
    can be unavailable (503)."""
    spec = await spec_of(client)
    for method, path, handler in documented_routes(app):
        docs = operation(spec, method, path)
        locations = {entry["location"] for entry in getattr(handler, "__schemas__", [])}
        expected = set()
        if "json" in locations:
            expected |= {"400", "413", "415", "422"}
        if "querystring" in locations:
            expected.add("422")
        if access_of(handler) in (USER, USHER, ADMIN):
            expected.add("401")
        if access_of(handler) in (USHER, ADMIN):
            expected.add("403")
        if any(p.get("format") == "uuid" for p in docs["parameters"] if p["in"] == "path"):
            expected.add("404")
        if path not in NO_DATABASE:
            expected.add("503")
        assert expected <= set(docs["responses"]), f"{method} {path} lacks {expected}"


async def test_request_schemas_are_the_documented_ones(app, client):
    """Bodies and queries are validated by the schemas the docs are made from."""
    spec = await spec_of(client)
    bodies = queries = 0
    for method, path, handler in documented_routes(app):
        docs = operation(spec, method, path)
        for entry in getattr(handler, "__schemas__", []):
            schema = entry["schema"]
            fields = {field.data_key or name for name, field in schema.load_fields.items()}
            if entry["location"] == "json":
                bodies += 1
                (body,) = [p for p in docs["parameters"] if p["in"] == "body"]
                name = type(schema).__name__
                assert body["schema"] == {"$ref": f"#/definitions/{name}"}, f"{method} {path}"
                assert set(spec["definitions"][name]["properties"]) == fields
                required = any(field.required for field in schema.load_fields.values())
                assert body["required"] is required, f"{method} {path}: body required"
            else:
                assert entry["location"] == "querystring", f"{method} {path}"
                queries += 1
                documented = {p["name"] for p in docs["parameters"] if p["in"] == "query"}
                assert documented == fields, f"{method} {path}"
    assert bodies >= 10 and queries >= 8


async def test_every_path_parameter_is_documented(app, client):
    spec = await spec_of(client)
    for method, path, _ in documented_routes(app):
        docs = operation(spec, method, path)
        names = re.findall(r"{(\w+)}", path)
        parameters = {p["name"]: p for p in docs["parameters"] if p["in"] == "path"}
        assert set(parameters) == set(names), f"{method} {path}"
        for name, parameter in parameters.items():
            assert parameter["required"] is True and parameter["type"] == "string"
            assert parameter.get("description"), f"{method} {path} {name}"
            if path.startswith("/api/") and name == "id":  # read with path_uuid
                assert parameter.get("format") == "uuid", f"{method} {path}"


async def test_media_types_and_the_live_seat_map_are_documented(client):
    spec = await spec_of(client)
    paths = spec["paths"]
    assert spec["consumes"] == ["application/json"]
    poster = paths["/api/v1/movies/{id}/poster"]["post"]
    assert poster["consumes"] == ["multipart/form-data"]
    assert any(p["in"] == "formData" and p["type"] == "file" for p in poster["parameters"])
    for report in ("capacity", "revenue", "popular-movies"):
        produces = paths[f"/api/v1/admin/reports/{report}"]["get"]["produces"]
        assert produces == ["application/json", "text/csv"]
    ticket = paths["/api/v1/reservations/{id}/ticket.svg"]["get"]
    assert ticket["produces"] == ["image/svg+xml", "application/json"]
    assert paths["/metrics"]["get"]["produces"] == ["text/plain"]
    live = paths["/ws/showtimes/{id}"]["get"]
    assert "101" in live["responses"] and "4404" in live["description"]
    headers = {p["name"]: p for p in live["parameters"] if p["in"] == "header"}
    assert headers["Upgrade"]["enum"] == ["websocket"] and headers["Upgrade"]["required"]
    assert "Sec-WebSocket-Key" in headers
    # HEAD is implied by every GET and left out.
    assert not any("head" in operations for operations in paths.values())


async def test_an_undocumented_route_is_caught(aiohttp_client, settings, database):
    """The walk above sees a route added without docs, and the first test would fail on it."""
    app = create_app(settings, database)

    async def undocumented(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/api/v1/undocumented", undocumented)
    spec = await spec_of(await aiohttp_client(app))
    assert ("GET", "/api/v1/undocumented") in {(m, p) for m, p, _ in documented_routes(app)}
    with pytest.raises(AssertionError, match="not in the API docs"):
        operation(spec, "GET", "/api/v1/undocumented")


async def test_each_error_answer_shows_an_example_of_its_own_codes(app, client):
    from reservations.api_examples import OPERATION_CODES, known_codes

    spec = await spec_of(client)
    known = known_codes()
    seat_unavailable = set()
    for path, operations in spec["paths"].items():
        for method, docs in operations.items():
            own = OPERATION_CODES.get((method.upper(), path), {})
            for status, answer in docs["responses"].items():
                if int(status) < 400:
                    continue
                example = answer["examples"]["application/json"]["error"]
                assert set(example) == {"code", "message", "details"}, f"{method} {path} {status}"
                assert example["message"], f"{method} {path} {status}"
                assert f"`{example['code']}`" in answer["description"]
                if int(status) in own:
                    assert example["code"] == own[int(status)][0]
                if example["code"] in known and example["code"] not in ("not_found", "conflict"):
                    assert known[example["code"]][0] == int(status), f"{method} {path} {status}"
                if example["code"] == "seat_unavailable":
                    seat_unavailable.add((method, path))
    # Only the operations that can answer it show seat_unavailable.
    assert seat_unavailable == {("post", "/api/v1/showtimes/{id}/lock-seats")}
    assert (
        spec["paths"]["/api/v1/auth/register"]["post"]["responses"]["409"]["examples"][
            "application/json"
        ]["error"]["code"]
        == "email_taken"
    )


async def test_every_code_the_examples_name_is_a_real_one(app):
    from reservations.api_examples import COMMON_CODES, MESSAGES, OPERATION_CODES, known_codes

    known = known_codes()
    named = {code for codes in COMMON_CODES.values() for code in codes}
    named |= {
        code
        for statuses in OPERATION_CODES.values()
        for codes in statuses.values()
        for code in codes
    }
    # Codes without a class of their own are made from ApiError(code=...) with a message here.
    made_in_place = {"invalid_json", "bad_request", "forbidden", "rate_limited"}
    assert named - set(known) <= made_in_place | set(MESSAGES)
    for code in named & set(known):
        assert known[code][1], code
    routes = {(method, path) for method, path, _ in documented_routes(app)}
    assert set(OPERATION_CODES) <= routes


async def test_the_docs_page_says_how_to_get_a_token_and_authorize(client):
    spec = await spec_of(client)
    description = spec["info"]["description"]
    assert "POST /api/v1/auth/login" in description
    assert "Authorize" in description and "Bearer " in description
    assert "access_token" in description
    assert "Bearer" in spec["securityDefinitions"]["bearerAuth"]["description"]
    money = spec["definitions"]["Reservation"]["properties"]["total_price"]
    assert "EUR" in money["description"] and "CURRENCY" in money["description"]


async def test_the_docs_publish_no_password(client):
    """The docs are public on every deployment: naming the demo admin's password there told
    everyone how to try it on a real one."""
    assert "admin123" not in await (await client.get("/api/docs/swagger.json")).text()
    assert "admin123" not in await (await client.get("/api/docs")).text()


async def test_the_docs_page_serves_a_current_swagger_ui_of_its_own(client):
    """Swagger UI 5 (npm's swagger-ui-dist, vendored with its licence), not aiohttp-apispec's
    3.16.0 of 2018; the page has no inline script."""
    from reservations.app import SWAGGER_UI_DIR, SWAGGER_UI_VERSION

    page = await (await client.get("/api/docs")).text()
    assert "/api/docs/swagger.json" in page
    assert "<script>" not in page
    bundle = await client.get("/api/docs/static/swagger-ui-bundle.js")
    assert bundle.status == 200
    assert int(SWAGGER_UI_VERSION.split(".")[0]) >= 5
    assert "Apache License" in (SWAGGER_UI_DIR / "LICENSE").read_text()
    body = await bundle.text()
    assert "3.16.0" not in body[:2000]
    assert (await client.get("/api/docs/static/initializer.js")).status == 200
