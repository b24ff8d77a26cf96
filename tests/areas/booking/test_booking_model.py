"""A model-based test of booking: Hypothesis drives holds, releases, renewals, reservations,
cancellations and the clock for three users on one small hall, against the running service over
HTTP and a model of a few dictionaries. After every step the model, the API's seat map and the
database must agree, and every answer must be the one the model predicts.

The service runs on an event loop this test owns (Hypothesis state machines are synchronous):
each step runs its coroutine to completion on it. One app and one database serve every example;
the booking tables are emptied between examples. The clock moves by rewriting the holds'
created_at and expires_at in the database, never by sleeping; moves never leave a hold within
CLOCK_MARGIN of its expiry, so that the real time a run takes cannot change an outcome.

What a rule draws depends on the model alone, and the model on the choices drawn so far: Hypothesis
replays a prefix of choices expecting the same steps, and raises FlakyStrategyDefinition when they
differ. The one thing the service makes at random, a reservation's id, is therefore never used to
order anything a rule chooses from.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from reservations.app import create_app
from reservations.context import SEAT_MAPS, SWEEPER
from tests.factories import create_account, create_hall

pytestmark = pytest.mark.slow

USERS = 3
ROWS, SEATS_PER_ROW = 2, 3
SEATS = ROWS * SEATS_PER_ROW
FOREIGN = SEATS  # the index of a seat id that is in no theater
MAX_SEATS = 3
TTL = 600
LIFETIME = 900  # short enough that renewals reach the cap
CLOCK_MARGIN = 30  # seconds: no hold is left this close to its expiry by a clock move
TOLERANCE = 5  # seconds: model and database times agree within this
PRICE = Decimal("10.00")
KEYS = (None, None, "checkout-1", "checkout-2")

# 300 runs of 10 steps keep `make test` within its time; MODEL_EXAMPLES=2000 for a deeper run.
EXAMPLES = int(os.environ.get("MODEL_EXAMPLES", "300"))
STEPS = 10


# --- the running service --------------------------------------------------------------------


class Service:
    """The app behind a real HTTP server, a database connection, the hall and the accounts,
    all on one event loop that this class runs."""

    def __init__(self, database: str, app_settings: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.database = database
        self.app_settings = app_settings
        self.run(self._start())

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, timeout=30))

    async def _start(self) -> None:
        self.db = await asyncpg.connect(self.database)
        hall = await create_hall(self.db, rows=ROWS, seats_per_row=SEATS_PER_ROW)
        self.showtime_id = hall.showtime_id
        self.seat_ids = [str(seat) for seat in hall.seats.values()]  # A1, A2, ... front first
        self.seat_ids.append(str(uuid.uuid4()))  # FOREIGN
        self.index = {seat: number for number, seat in enumerate(self.seat_ids)}
        self.users = []
        for number in range(USERS):
            account = await create_account(self.db, email=f"model-{number}@example.com")
            self.users.append((account.id, account.headers))
        self.client = TestClient(TestServer(create_app(self.app_settings, self.database)))
        await self.client.start_server()
        await self.client.server.app[SWEEPER].stop()  # expiry is the requests' job here

    async def reset(self) -> None:
        await self.db.execute(
            """
            DELETE FROM seat_claims;
            DELETE FROM holds;
            DELETE FROM expired_holds;
            DELETE FROM idempotency_keys;
            DELETE FROM reservation_seats;
            DELETE FROM reservations;
            UPDATE showtimes SET version = 0;
            """
        )
        self.forget_cached_maps()

    def forget_cached_maps(self) -> None:
        """What the service hears of every real change: none of these rewrites is one (a
        version set back to 0, holds' expiries moved earlier), and a map cached before them
        would be taken for right."""
        self.client.server.app[SEAT_MAPS].showtime_changed(self.showtime_id)

    def close(self) -> None:
        async def stop() -> None:
            await self.client.close()
            await self.db.close()

        try:
            self.run(stop())
        finally:
            self.loop.close()

    async def call(self, method: str, path: str, user: int, **kwargs: Any) -> tuple[int, Any]:
        headers = dict(self.users[user][1])
        headers.update(kwargs.pop("headers", {}))
        async with self.client.request(method, path, headers=headers, **kwargs) as response:
            body = await response.json() if response.status != 204 else None
            return response.status, body


# --- the model ------------------------------------------------------------------------------


@dataclass
class Hold:
    seats: set[int]
    age: float = 0.0  # seconds since the hold was created
    remaining: float = TTL  # seconds until it expires; <= 0: expired, not yet freed

    @property
    def live(self) -> bool:
        return self.remaining > 0


@dataclass
class Reservation:
    owner: int
    seats: frozenset[int]
    status: str = "confirmed"


@dataclass
class Model:
    holds: dict[int, Hold] = field(default_factory=dict)
    notes: dict[int, frozenset[int]] = field(default_factory=dict)  # last expired hold's seats
    reservations: dict[str, Reservation] = field(default_factory=dict)  # in the order booked
    keys: dict[tuple[int, str], tuple[frozenset[int], str]] = field(default_factory=dict)
    version: int = 0

    def sold(self) -> set[int]:
        return {
            seat
            for reservation in self.reservations.values()
            if reservation.status == "confirmed"
            for seat in reservation.seats
        }

    def live_hold(self, user: int) -> Hold | None:
        hold = self.holds.get(user)
        return hold if hold is not None and hold.live else None

    def status_of(self, seat: int) -> tuple[str, int | None]:
        if seat in self.sold():
            return "sold", None
        for user, hold in self.holds.items():
            if hold.live and seat in hold.seats:
                return "held", user
        return "available", None

    def expired_note(self, user: int) -> frozenset[int]:
        """What the user's note of an expired hold says once expired holds are freed."""
        hold = self.holds.get(user)
        if hold is not None and not hold.live:
            return frozenset(hold.seats)
        return self.notes.get(user, frozenset())

    def free_expired(self) -> None:
        """A seat change committed: it freed every expired hold of the showtime first."""
        expired = [user for user, hold in self.holds.items() if not hold.live]
        freed = False
        for user in expired:
            seats = frozenset(self.holds.pop(user).seats)
            self.notes[user] = seats  # an emptied hold leaves an empty note
            freed = freed or bool(seats)
        if freed:
            self.version += 1


def ids(service: Service, seats: Any) -> list[str]:
    return [service.seat_ids[seat] for seat in seats]


def in_hall_order(seats: Any) -> list[int]:
    return sorted(seats)  # indexes follow row_index, column_index


# Seat indexes, now and then (1 in 19) the id of a seat in no theater.
seat_lists = st.lists(
    st.integers(0, 3 * SEATS).map(lambda n: FOREIGN if n == 3 * SEATS else n % SEATS),
    min_size=1,
    max_size=MAX_SEATS + 2,
)
users = st.integers(0, USERS - 1)


class BookingMachine(RuleBasedStateMachine):
    service: Service  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.checks = 0
        self.service.run(self.service.reset())

    def run(self, coroutine: Any) -> Any:
        return self.service.run(coroutine)

    def seats_path(self, suffix: str) -> str:
        return f"/api/v1/showtimes/{self.service.showtime_id}{suffix}"

    # --- what a person would pick ---------------------------------------------------------

    def own_seats(self, user: int) -> list[int]:
        """Seats the user holds, held until the clock moved past them, or had in a hold that
        expired: what a person at the seat page would send."""
        hold = self.model.holds.get(user)
        return sorted((hold.seats if hold else set()) | self.model.notes.get(user, frozenset()))

    def someone_has_seats(self) -> bool:
        return any(self.own_seats(user) for user in range(USERS))

    def choose_user(self, data: st.DataObject) -> int:
        """Mostly someone with seats of their own to act on, now and then anyone."""
        busy = [user for user in range(USERS) if self.own_seats(user)]
        if busy and data.draw(st.sampled_from(["busy", "busy", "busy", "anyone"])) == "busy":
            return data.draw(st.sampled_from(busy), label="user")
        return data.draw(users, label="user")

    def choose_seats(self, data: st.DataObject, user: int, extra: int) -> list[int]:
        """Mostly some of the user's own seats (with `extra` other seats at most), now and then
        any seats at all."""
        own = self.own_seats(user)
        if own and data.draw(st.sampled_from(["own", "own", "own", "any"])) == "own":
            seats = data.draw(st.lists(st.sampled_from(own), min_size=1, max_size=len(own)))
            return seats + data.draw(st.lists(st.integers(0, SEATS - 1), max_size=extra))
        return data.draw(seat_lists)

    # --- holds ----------------------------------------------------------------------------

    @rule(data=st.data())
    def lock(self, data: st.DataObject) -> None:
        """Hold seats; locking seats already held renews the hold's expiry."""
        user = self.choose_user(data)
        self._lock(user, self.choose_seats(data, user, extra=2))

    def _lock(self, user: int, seats: list[int]) -> None:
        model = self.model
        wanted = list(dict.fromkeys(seats))
        status, body = self.run(
            self.service.call(
                "POST",
                self.seats_path("/lock-seats"),
                user,
                json={"seat_ids": ids(self.service, seats)},
            )
        )
        mine = model.live_hold(user)
        held = mine.seats if mine else set()
        taken = [
            seat
            for seat in wanted
            if seat != FOREIGN and model.status_of(seat)[0] != "available" and seat not in held
        ]
        new = [seat for seat in wanted if seat not in held]
        if len(wanted) > MAX_SEATS:
            expect(status, body, 422, "too_many_seats")
        elif FOREIGN in wanted:
            expect(status, body, 422, "unknown_seats")
            assert body["error"]["details"]["seat_ids"] == ids(self.service, [FOREIGN])
        elif taken:
            expect(status, body, 409, "seat_unavailable")
            assert body["error"]["details"]["unavailable_seat_ids"] == ids(self.service, taken)
        elif len(held) + len(new) > MAX_SEATS:
            expect(status, body, 422, "too_many_seats")
            assert body["error"]["details"]["requested_total"] == len(held) + len(new)
        else:
            expect(status, body, 201)
            model.free_expired()
            if mine is None:
                mine = model.holds[user] = Hold(set())
            else:
                mine.remaining = min(TTL, LIFETIME - mine.age)
            mine.seats.update(new)
            if new:
                model.version += 1
            model.notes.pop(user, None)
            assert body["locked_seat_ids"] == ids(self.service, in_hall_order(mine.seats))
            assert abs(body["lock_duration_minutes"] * 60 - mine.remaining) < TOLERANCE

    @precondition(lambda self: self.someone_has_seats())
    @rule(data=st.data(), everything=st.booleans())
    def release(self, data: st.DataObject, everything: bool) -> None:
        user = self.choose_user(data)
        seats = None if everything else self.choose_seats(data, user, extra=1)
        body = None if seats is None else {"seat_ids": ids(self.service, seats)}
        status, answer = self.run(
            self.service.call("DELETE", self.seats_path("/lock-seats"), user, json=body)
        )
        expect(status, answer, 204)
        model = self.model
        model.free_expired()
        hold = model.live_hold(user)
        if hold is None:
            return
        freed = hold.seats if seats is None else hold.seats & set(seats)
        if freed:
            model.version += 1
        # An emptied hold stays until it expires: holding again continues it (same lifetime).
        hold.seats = hold.seats - freed

    # --- reservations ---------------------------------------------------------------------

    @precondition(lambda self: self.someone_has_seats())
    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def reserve(self, data: st.DataObject, key: str | None) -> None:
        user = self.choose_user(data)
        self._reserve(user, self.choose_seats(data, user, extra=0), key)

    @precondition(lambda self: any(key for _, key in self.model.keys))
    @rule(data=st.data())
    def retry_reservation(self, data: st.DataObject) -> None:
        """Send a booking again with its Idempotency-Key (the same body, or another)."""
        user, key = data.draw(st.sampled_from(sorted(self.model.keys)))
        seats, _ = self.model.keys[(user, key)]
        if data.draw(st.booleans()):
            seats = frozenset(data.draw(seat_lists))
        self._reserve(user, sorted(seats), key)

    def _reserve(self, user: int, seats: list[int], key: str | None) -> None:
        model = self.model
        wanted = list(dict.fromkeys(seats))
        headers = {"Idempotency-Key": key} if key else {}
        status, body = self.run(
            self.service.call(
                "POST",
                "/api/v1/reservations",
                user,
                headers=headers,
                json={
                    "showtime_id": str(self.service.showtime_id),
                    "seat_ids": ids(self.service, seats),
                },
            )
        )
        if key and (user, key) in model.keys:
            stored_seats, reservation_id = model.keys[(user, key)]
            if stored_seats != frozenset(wanted):
                expect(status, body, 422, "idempotency_key_reused")
            else:
                expect(status, body, 200)
                assert body["id"] == reservation_id
                assert body["status"] == model.reservations[reservation_id].status
            return
        hold = model.live_hold(user)
        held = hold.seats if hold else set()
        missing = [seat for seat in wanted if seat not in held]
        if missing:
            code = "hold_expired" if model.expired_note(user) & set(missing) else "seats_not_held"
            expect(status, body, 409, code)
            assert body["error"]["details"]["seat_ids"] == ids(self.service, missing)
            return
        expect(status, body, 201)
        assert hold is not None
        model.free_expired()
        reservation = Reservation(user, frozenset(wanted))
        model.reservations[body["id"]] = reservation
        if key:
            model.keys[(user, key)] = (frozenset(wanted), body["id"])
        hold.seats -= set(wanted)
        if not hold.seats:
            del model.holds[user]
        model.version += 1
        assert body["user_id"] == str(self.service.users[user][0])
        assert body["status"] == "confirmed"
        assert Decimal(body["total_price"]) == PRICE * len(wanted)
        assert [seat["id"] for seat in body["seats"]] == ids(self.service, in_hall_order(wanted))

    @precondition(lambda self: bool(self.model.reservations))
    @rule(data=st.data(), by_owner=st.sampled_from([True, True, True, False]))
    def cancel(self, data: st.DataObject, by_owner: bool) -> None:
        model = self.model
        # By its place in the order of booking, never in the order of the ids: the service makes
        # them at random, and Hypothesis replays the same choices expecting the same reservation.
        reservation_id = data.draw(st.sampled_from(list(model.reservations)))
        reservation = model.reservations[reservation_id]
        user = reservation.owner
        if not by_owner:
            user = data.draw(st.sampled_from([u for u in range(USERS) if u != user]))
        status, body = self.run(
            self.service.call("DELETE", f"/api/v1/reservations/{reservation_id}", user)
        )
        if user != reservation.owner:
            expect(status, body, 404, "reservation_not_found")  # another's does not exist
            return
        expect(status, body, 200)
        model.free_expired()
        if reservation.status == "confirmed":
            reservation.status = "cancelled"
            model.version += 1
        assert body["status"] == "cancelled" and body["cancel_reason"] == "cancelled_by_user"
        assert sorted(seat["id"] for seat in body["seats"]) == sorted(
            ids(self.service, reservation.seats)
        )

    # --- the clock ------------------------------------------------------------------------

    @precondition(lambda self: bool(self.model.holds))
    @rule(seconds=st.sampled_from([60, 240, 420, 570, 630, 900, 1300]))
    def advance_clock(self, seconds: int) -> None:
        """Move time on by rewriting the holds' timestamps, never close to an expiry."""
        live = [hold.remaining for hold in self.model.holds.values() if hold.live]
        while any(abs(remaining - seconds) < CLOCK_MARGIN for remaining in live):
            seconds += 45
        self.run(
            self.service.db.execute(
                "UPDATE holds SET created_at = created_at - make_interval(secs => $1),"
                " expires_at = expires_at - make_interval(secs => $1)",
                float(seconds),
            )
        )
        self.service.forget_cached_maps()  # as the real clock would have ended them
        for hold in self.model.holds.values():
            hold.age += seconds
            hold.remaining -= seconds

    # --- what must hold after every step --------------------------------------------------

    @invariant()
    def service_and_database_agree_with_the_model(self) -> None:
        self.checks += 1
        viewer = self.checks % USERS
        self.run(self._check(viewer))

    async def _check(self, viewer: int) -> None:
        service, model = self.service, self.model
        status, seat_map = await service.call("GET", self.seats_path("/seats"), viewer)
        assert status == 200
        assert seat_map["version"] == model.version
        expected = {}
        for seat in range(SEATS):
            state, holder = model.status_of(seat)
            expected[service.seat_ids[seat]] = (state, holder == viewer)
        assert {
            seat["id"]: (seat["status"], seat["held_by_me"]) for seat in seat_map["seats"]
        } == expected
        assert seat_map["available_seats"] == sum(
            1 for state, _ in expected.values() if state == "available"
        )

        claims = await service.db.fetch(
            """
            SELECT c.seat_id::text, c.reservation_id::text, h.user_id,
                   extract(epoch FROM h.expires_at - now())::float8 AS remaining,
                   extract(epoch FROM now() - h.created_at)::float8 AS age
            FROM seat_claims c LEFT JOIN holds h ON h.id = c.hold_id
            WHERE c.showtime_id = $1
            """,
            service.showtime_id,
        )
        users = {user_id: number for number, (user_id, _) in enumerate(service.users)}
        sold = {row["seat_id"]: row["reservation_id"] for row in claims if row["reservation_id"]}
        assert sold == {
            service.seat_ids[seat]: reservation_id
            for reservation_id, reservation in model.reservations.items()
            if reservation.status == "confirmed"
            for seat in reservation.seats
        }
        held: dict[int, set[str]] = {}
        for row in claims:
            if row["reservation_id"] is None:
                user = users[row["user_id"]]
                held.setdefault(user, set()).add(row["seat_id"])
                hold = model.holds[user]  # expired ones too, until a seat change frees them
                assert abs(row["remaining"] - hold.remaining) < TOLERANCE, (row, hold)
                assert abs(row["age"] - hold.age) < TOLERANCE, (row, hold)
        assert held == {
            user: set(ids(service, hold.seats)) for user, hold in model.holds.items() if hold.seats
        }
        notes = await service.db.fetch("SELECT user_id, seat_ids FROM expired_holds")
        assert {
            users[row["user_id"]]: {str(seat) for seat in row["seat_ids"]} for row in notes
        } == {user: set(ids(service, seats)) for user, seats in model.notes.items()}
        empty = await service.db.fetch(
            "SELECT user_id FROM holds h WHERE NOT EXISTS"
            " (SELECT 1 FROM seat_claims c WHERE c.hold_id = h.id)"
        )
        assert {users[row["user_id"]] for row in empty} == {
            user for user, hold in model.holds.items() if not hold.seats
        }, "emptied holds are kept until they expire, and only those"

        stored = await service.db.fetch(
            """
            SELECT r.id::text, r.user_id, r.status, r.total_price,
                   array_agg(rs.seat_id::text) AS seats
            FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id
            GROUP BY r.id
            """
        )
        assert {
            row["id"]: (
                users[row["user_id"]],
                row["status"],
                row["total_price"],
                frozenset(row["seats"]),
            )
            for row in stored
        } == {
            reservation_id: (
                reservation.owner,
                reservation.status,
                PRICE * len(reservation.seats),
                frozenset(ids(service, reservation.seats)),
            )
            for reservation_id, reservation in model.reservations.items()
        }


def expect(status: int, body: Any, wanted: int, code: str | None = None) -> None:
    assert status == wanted, (status, body)
    if code is not None:
        assert body["error"]["code"] == code, body


def test_booking_agrees_with_a_simple_model(database, make_settings):
    service = Service(
        database,
        make_settings(
            hold_ttl_seconds=TTL,
            max_hold_lifetime_seconds=LIFETIME,
            max_seats_per_hold=MAX_SEATS,
            hold_cooldown_seconds=0,  # the cooldown after a capped hold has tests of its own
        ),
    )
    BookingMachine.service = service
    try:
        run_state_machine_as_test(
            BookingMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        service.close()
