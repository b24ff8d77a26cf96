"""Where the project's files are: named SQL, migrations, page templates and their static files.

A module of its own so that the app, the database layer and the pages can all import it
without importing each other.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"
SQL_CODE_DIR = SQL_DIR / "code"  # functions, views and triggers, applied after the migrations
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
TEMPLATES_DIR = PROJECT_ROOT / "templates"
STATIC_DIR = TEMPLATES_DIR / "static"
