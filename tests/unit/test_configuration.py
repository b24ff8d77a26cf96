"""docs/configuration.md and reservations/settings.py cannot drift: the variables the table lists
are exactly those `Settings.from_env` reads, and a default written as one value is the code's."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from reservations.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
_ROW = re.compile(r"^\| (`[A-Z0-9_]+`(?:, `[A-Z0-9_]+`)*) \| ([^|]*) \|", re.MULTILINE)


class _Recording(Mapping[str, str]):
    """An empty environment that notes every variable asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.append(key)
        return default

    def __getitem__(self, key: str) -> str:
        self.asked.append(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def variables_read() -> set[str]:
    environment = _Recording()
    Settings.from_env(environment)
    return set(environment.asked)


def documented() -> dict[str, str]:
    """Each documented variable -> its default cell (split when a row names several)."""
    rows: dict[str, str] = {}
    for match in _ROW.finditer(DOC.read_text()):
        names = re.findall(r"`([A-Z0-9_]+)`", match.group(1))
        defaults = [part.strip() for part in match.group(2).split(",")]
        for index, name in enumerate(names):
            rows[name] = defaults[index] if len(defaults) == len(names) else match.group(2).strip()
    return rows


def test_every_variable_read_is_documented_and_every_documented_one_is_read() -> None:
    read, listed = variables_read(), set(documented())
    assert "HOLD_TTL_SECONDS" in read
    assert read - listed == set(), "read by Settings.from_env but not in docs/configuration.md"
    assert listed - read == set(), "in docs/configuration.md but not read by Settings.from_env"


def test_each_single_documented_default_is_the_code_default() -> None:
    defaults = Settings()
    checked = 0
    for name, cell in documented().items():
        single = re.fullmatch(r"`([^`]*)`", cell)
        if single is None or not hasattr(defaults, name.lower()):
            continue  # described in words ("unset: ...", "generated ..."), or named otherwise
        value = getattr(defaults, name.lower())
        assert single.group(1) == str(value), f"{name}: documented {cell}, code has {value!r}"
        checked += 1
    assert checked >= 20
