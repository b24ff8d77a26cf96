"""The code of sql/code/ and the Python that answers it agree: every refusal code a function
raises has its error, and every NOTIFY channel a trigger sends on has its constant."""

from __future__ import annotations

import collections
import importlib
import pkgutil
import re

import reservations
import reservations.app  # noqa: F401 - every area registers its refusal codes
from reservations.db import database_code
from reservations.paths import SQL_DIR
from reservations.showtime_lock import registered_refusals


def _code() -> str:
    return "\n".join(path.read_text() for path in database_code())


def _first_argument(text: str, start: int) -> str:
    """The text of the first argument of the call whose '(' is at text[start - 1]."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] in ",)" and depth == 0:
            return text[start:index]
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
    raise AssertionError("unbalanced call")


def refusal_codes_in_sql(text: str) -> set[str]:
    """The codes passed to refuse_seat_change: literals (also inside a CASE), and, where a
    variable is passed, the codes seat_change_refusal answers."""
    codes: set[str] = set()
    for call in re.finditer(r"refuse_seat_change\(", text):
        if text[call.start() - len("FUNCTION ") : call.start()] == "FUNCTION ":
            continue  # its definition
        argument = _first_argument(text, call.end())
        codes.update(re.findall(r"'([a-z_]+)'", argument))
    refusal = re.search(r"FUNCTION seat_change_refusal\(.*?\$\$(.*?)\$\$", text, re.S)
    assert refusal is not None
    codes.update(re.findall(r"THEN '([a-z_]+)'", refusal.group(1)))
    return codes


def test_every_refusal_raised_in_sql_has_its_python_error() -> None:
    raised = refusal_codes_in_sql(_code())
    assert {"seat_unavailable", "showtime_started", "hold_expired"} <= raised
    registered = registered_refusals()
    assert raised == set(registered), "sql/code/ and the registered refusals differ"
    any_details = collections.defaultdict(list)
    for code, error in registered.items():
        assert error(any_details).code == code


def test_the_refusal_reader_finds_a_new_code() -> None:
    text = _code() + "\nPERFORM refuse_seat_change('a_new_refusal', '{}');\n"
    assert "a_new_refusal" in refusal_codes_in_sql(text)


def _channel_constants() -> dict[str, str]:
    """Every module-level str named ..._CHANNEL or CHANNEL in the package: name -> channel."""
    found: dict[str, str] = {}
    for module_info in pkgutil.walk_packages(reservations.__path__, "reservations."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (name == "CHANNEL" or name.endswith("_CHANNEL")) and isinstance(value, str):
                found[f"{module_info.name}.{name}"] = value
    return found


def test_every_notify_channel_has_its_python_constant() -> None:
    # sql/code/ (triggers) and the named queries of sql/*.sql (catalog_changes, sent by the
    # admin routes) alike.
    named_queries = "\n".join(path.read_text() for path in sorted(SQL_DIR.glob("*.sql")))
    sent = set(re.findall(r"pg_notify\(\s*'([a-z_]+)'", _code() + named_queries))
    assert {"seat_changes", "showtime_changes", "user_changes"} <= sent
    constants = set(_channel_constants().values())
    assert sent <= constants, f"no Python constant for {sent - constants}"
    assert constants <= sent, f"constants for channels no SQL sends on: {constants - sent}"
