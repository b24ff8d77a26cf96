"""Foundation: settings, migrations, the error shape, health and docs."""

from __future__ import annotations

import asyncpg
import pytest

from reservations.db import QUERIES, migrate
from reservations.settings import Settings, SettingsError


def test_settings_defaults():
    settings = Settings.from_env({})
    assert settings.port == 8080
    assert settings.hold_ttl_seconds == 600
    assert settings.sweep_interval_seconds == 5
    assert settings.max_seats_per_hold == 10
    assert settings.bcrypt_rounds == 12
    assert settings.max_poster_bytes == 5 * 1024 * 1024
    assert str(settings.cinema_tz) == "UTC"
    assert settings.embedded


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("HOLD_TTL_SECONDS", "0"),
        ("SWEEP_INTERVAL_SECONDS", "-1"),
        ("MAX_SEATS_PER_HOLD", "ten"),
        ("BCRYPT_ROUNDS", "40"),
        ("CINEMA_TZ", "Mars/Olympus"),
        ("LOG_LEVEL", "LOUD"),
        ("MAX_POSTER_BYTES", "1.5"),
        ("SINGLE_SEAT_GAP_RULE", "maybe"),
        ("JWT_SECRET", "short"),
        ("JWT_SECRET", "your-256-bit-secret"),
    ],
)
def test_bad_setting_names_the_variable(name, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert name in str(error.value)


def test_database_url_without_jwt_secret_refuses_to_start():
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        Settings.from_env({"DATABASE_URL": "postgresql://localhost/x"})


def test_embedded_demo_generates_and_keeps_a_secret(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    first = settings.with_jwt_secret().jwt_secret
    assert len(first) >= 32
    assert settings.with_jwt_secret().jwt_secret == first
    assert (tmp_path / "jwt_secret").read_text() == first


def test_every_named_query_is_unique_and_loaded():
    assert "find_user_by_email" in QUERIES.names()


async def test_migrations_apply_roll_back_and_apply_again(database):
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM seat_types") == 4
        rolled = migrate(database, rollback_all=True)
        assert rolled
        assert await conn.fetchval("SELECT to_regclass('public.seat_claims')") is None
        assert migrate(database) == list(reversed(rolled))
        assert await conn.fetchval("SELECT to_regclass('public.seat_claims')") is not None
        assert migrate(database, rollback=True) == rolled[:1]
        assert migrate(database) == rolled[:1]
    finally:
        await conn.close()


async def test_unknown_route_has_the_error_shape(client):
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404
    body = await response.json()
    assert body["error"]["code"] == "not_found"
    assert set(body["error"]) == {"code", "message", "details"}
    assert response.headers["X-Request-ID"]


async def test_wrong_method_is_405_in_the_error_shape(client):
    response = await client.delete("/api/v1/auth/login")
    assert response.status == 405
    body = await response.json()
    assert body["error"]["code"] == "method_not_allowed"
    assert "POST" in body["error"]["details"]["allowed_methods"]


async def test_unhandled_exception_is_a_500_without_internals(aiohttp_client, app, caplog):
    async def explode(request):
        raise RuntimeError("secret internals")

    app.router.add_get("/explode", explode)
    client = await aiohttp_client(app)
    response = await client.get("/explode", headers={"X-Request-ID": "req-12345678"})
    assert response.status == 500
    body = await response.json()
    assert body["error"]["code"] == "internal_error"
    assert "secret" not in str(body)
    assert response.headers["X-Request-ID"] == "req-12345678"
    assert any("req-12345678" in record.getMessage() for record in caplog.records)


async def test_body_too_large_is_413(client):
    response = await client.post(
        "/api/v1/auth/register",
        data=b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200


async def test_swagger_spec_documents_routes_with_security(client):
    response = await client.get("/api/docs/swagger.json")
    assert response.status == 200
    spec = await response.json()
    assert spec["swagger"] == "2.0"
    assert "bearerAuth" in spec["securityDefinitions"]
    me = spec["paths"]["/api/v1/auth/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    register = spec["paths"]["/api/v1/auth/register"]["post"]
    assert any(p["in"] == "body" for p in register["parameters"])
    assert "422" in register["responses"]
    docs = await client.get("/api/docs")
    assert docs.status == 200
    assert "swagger" in (await docs.text()).lower()
