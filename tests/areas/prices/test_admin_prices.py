"""The console's pages for prices and vouchers: panels for admins only, what they show, a batch
of codes as CSV, and a price card and a batch made in a real browser."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest

from tests.api import API

PANELS = ["/admin/panels/prices", "/admin/panels/vouchers"]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("path", PANELS)
async def test_price_panels_answer_admins_only(client, user, admin, path):
    assert (await client.get(path)).status == 401
    assert (await client.get(path, headers=user.headers)).status == 403
    response = await client.get(path, headers=admin.headers)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/admin/prices", "/admin/vouchers"])
async def test_price_pages_are_shells(client, path):
    response = await client.get(path)
    assert response.status == 200
    assert f'data-panel-url="{path.replace("/admin/", "/admin/panels/")}"' in await response.text()


async def test_the_prices_panel_shows_types_seat_types_and_cards(client, admin):
    await client.post(
        f"{API}/admin/price-cards",
        json={
            "name": "Matinee",
            "weekdays": [1, 2],
            "start_local_time": "10:00",
            "end_local_time": "17:00",
            "price": "7.00",
        },
        headers=admin.headers,
    )
    text = text_of(await (await client.get(PANELS[0], headers=admin.headers)).text())
    for words in ("adult default", "child", "30.00 %", "premium", "× 1.25", "Matinee", "Mon, Tue"):
        assert words in text, words


async def test_a_batch_downloads_as_csv(client, admin):
    made = await client.post(
        f"{API}/admin/vouchers",
        json={"count": 3, "prefix": "MAIL", "discount_amount": "2.50", "max_redemptions": 2},
        headers=admin.headers,
    )
    vouchers = (await made.json())["vouchers"]
    batch = vouchers[0]["batch_id"]
    panel = await (await client.get(PANELS[1], headers=admin.headers)).text()
    assert f"/api/v1/admin/vouchers?batch_id={batch}" in panel
    assert vouchers[0]["code"] in panel
    response = await client.get(
        f"{API}/admin/vouchers",
        params={"batch_id": batch},
        headers={**admin.headers, "Accept": "text/csv"},
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert f"vouchers-{batch}.csv" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert sorted(row["code"] for row in rows) == sorted(v["code"] for v in vouchers)
    assert {row["discount_amount"] for row in rows} == {"2.50"}
    assert all(
        re.fullmatch(r"MAIL-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", row["code"]) for row in rows
    )
    as_json = await client.get(
        f"{API}/admin/vouchers", params={"batch_id": batch}, headers=admin.headers
    )
    assert (await as_json.json())["total"] == 3
    unknown = await client.get(
        f"{API}/admin/vouchers", params={"batch_id": str(uuid.uuid4())}, headers=admin.headers
    )
    assert (await unknown.json())["vouchers"] == []
