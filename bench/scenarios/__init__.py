"""One module per scenario, each with `run(suite, run)`: the order here is the suite's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from . import before, connect, crowd, hot, live, login, seatmap, spread, sweeper

if TYPE_CHECKING:
    from ..suite import Suite

Scenario = Callable[["Suite", int], Awaitable[None]]

SCENARIOS: dict[str, Scenario] = {
    "seatmap": seatmap.run,
    "connect": connect.run,
    "hot": hot.run,
    "before": before.run,
    "spread": spread.run,
    "live": live.run,
    "sweeper": sweeper.run,
    "login": login.run,
    "crowd": crowd.run,
}
