"""Pages as the tests read them: every element with its attributes, and any inline code."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser


class Page(HTMLParser):
    """Every element of a page with its attributes, and the text inside each <script>/<style>."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.inline_code: list[tuple[str, str]] = []
        self._open: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._open = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.inline_code.append((self._open, data))

    def find_all(self, tag: str, **wanted: str | bool) -> list[dict[str, str | None]]:
        """Elements named `tag` whose attributes have the wanted values (True: present)."""
        return [
            attrs
            for name, attrs in self.elements
            if name == tag
            and all(
                key in attrs if value is True else attrs.get(key) == value
                for key, value in wanted.items()
            )
        ]

    def seat(self, seat_id: uuid.UUID | str) -> dict[str, str | None]:
        (found,) = self.find_all("button", **{"data-seat-id": str(seat_id)})
        return found
