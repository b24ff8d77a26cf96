"""The booking routes in the API docs."""

from __future__ import annotations

# --- docs -----------------------------------------------------------------------------------


async def test_booking_routes_are_documented(client):
    spec = await (await client.get("/api/docs/swagger.json")).json()
    paths = spec["paths"]
    assert "get" in paths["/api/v1/showtimes/{id}/seats"]
    lock_seats = paths["/api/v1/showtimes/{id}/lock-seats"]
    assert lock_seats["post"]["security"] == [{"bearerAuth": []}]
    assert {"201", "409", "422"} <= set(lock_seats["post"]["responses"])
    assert "204" in lock_seats["delete"]["responses"]
    create = paths["/api/v1/reservations"]["post"]
    assert {"200", "201", "409", "422"} <= set(create["responses"])
    assert any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in create["parameters"])
    listing = paths["/api/v1/reservations"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"page", "page_size", "include_past"}
    one = paths["/api/v1/reservations/{id}"]
    assert {"get", "delete"} <= set(one)
    assert {"Reservation", "SeatMap", "Hold", "LockSeatsRequest"} <= set(spec["definitions"])
