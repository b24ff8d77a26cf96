"""The project's own files say what they mean: packaging metadata a current setuptools takes
without a deprecation warning, and migration numbers whose gaps are explained."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_license_is_an_spdx_string_that_the_required_setuptools_understands():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], str)  # a table is deprecated
    assert project["project"]["license"] == "MIT"
    (setuptools,) = [
        req for req in project["build-system"]["requires"] if req.startswith("setuptools")
    ]
    minimum = re.fullmatch(r"setuptools>=(\d+)", setuptools)
    assert minimum and int(minimum.group(1)) >= 77  # SPDX strings need setuptools 77


def test_every_gap_in_the_migration_numbers_is_explained():
    numbers = sorted(
        {int(path.name[:4]) for path in (ROOT / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql")}
    )
    gaps = [n for n in range(numbers[0], numbers[-1] + 1) if n not in numbers]
    readme = (ROOT / "migrations" / "README.md").read_text()
    # A number is explained by name ("0002") or inside a range ("0006–0039" or "0006-0039").
    explained: set[int] = set()
    for first, last in re.findall(r"\b(\d{4})(?:\s*[–-]\s*(\d{4}))?\b", readme):
        explained.update(range(int(first), int(last or first) + 1))
    for gap in gaps:
        assert gap in explained, f"migration {gap:04d} is missing and unexplained"
    assert "renumber" in readme.lower()
