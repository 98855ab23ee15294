"""mkdocs hook: the site's home page is README.md, with its links made relative to the pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"


def on_page_read_source(page: Any, config: Any) -> str | None:
    if page.file.src_uri != "index.md":
        return None
    return README.read_text().replace("](docs/pages/", "](")
