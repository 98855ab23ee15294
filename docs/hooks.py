"""mkdocs hooks: the site's home page is README.md, with its links made relative to the pages;
the config reference page gets its tables, composed from conf/ at build time; links from the pages
to experiments/ are written as a forge resolves them (up and out of docs/pages/) and are turned
into links through docs/pages/experiments, so the site serves the reports as pages."""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
PAGES = HERE / "pages"
EXPERIMENTS = HERE.parent / "experiments"
LINK = re.compile(r"(\]\()([^)\s#]+)")
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


def site_link(target: str, page_dir: str) -> str:
    """The link to `target` (relative to the page's folder `page_dir` in docs/pages/) that
    reaches experiments/ through the docs/pages/experiments link; other targets unchanged."""
    if "://" in target or target.startswith(("/", "mailto:")):
        return target
    on_disk = Path(posixpath.normpath(posixpath.join(str(PAGES / page_dir), target)))
    if not on_disk.is_relative_to(EXPERIMENTS):
        return target
    in_site = posixpath.join("experiments", on_disk.relative_to(EXPERIMENTS).as_posix())
    return posixpath.relpath(in_site, page_dir or ".")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    src = page.file.src_uri
    if src == "index.md" or src.startswith("experiments/"):
        return markdown
    page_dir = posixpath.dirname(src)
    return LINK.sub(lambda m: m.group(1) + site_link(m.group(2), page_dir), markdown)
