"""mkdocs hooks: the site's home page is README.md, with its links made relative to the pages;
the config reference page gets its tables, composed from conf/ at build time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
MARKER = "<!-- config-reference: the tables are inserted here by docs/hooks.py -->"


def on_page_read_source(page: Any, config: Any) -> str | None:
    if page.file.src_uri == "index.md":
        return README.read_text().replace("](docs/pages/", "](")
    if page.file.src_uri == "config-reference.md":
        sys.path.insert(0, str(HERE))
        from config_reference import markdown

        source = (HERE / "pages" / "config-reference.md").read_text()
        if MARKER not in source:
            raise ValueError(f"docs/pages/config-reference.md lost its marker line {MARKER!r}")
        return source.replace(MARKER, markdown())
    return None
