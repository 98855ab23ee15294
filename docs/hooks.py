"""mkdocs hooks: the site's home page is README.md, with its links made relative to the pages;
the config reference page gets its tables, composed from conf/ at build time; links between the
pages and experiments/ are written as a forge resolves them and are turned into
links through docs/pages/experiments, so the site serves the reports as pages."""

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
    """``target`` as written in a page whose folder in the site is ``page_dir``, made to work on
    the site: written for the files where they lie (as a forge follows links), it may leave
    docs/pages/ for experiments/ or, from a report, experiments/ for docs/pages/; on the site the
    reports are under experiments/ beside the pages (the docs/pages/experiments link)."""
    if "://" in target or target.startswith(("/", "mailto:")):
        return target
    in_experiments = page_dir == "experiments" or page_dir.startswith("experiments/")
    real_dir = EXPERIMENTS.parent / page_dir if in_experiments else PAGES / page_dir
    on_disk = Path(posixpath.normpath(posixpath.join(str(real_dir), target)))
    if on_disk.is_relative_to(EXPERIMENTS):
        in_site = posixpath.join("experiments", on_disk.relative_to(EXPERIMENTS).as_posix())
    elif on_disk.is_relative_to(PAGES):
        in_site = on_disk.relative_to(PAGES).as_posix()
    else:
        return target
    return posixpath.relpath(in_site, page_dir or ".")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri == "index.md":  # README.md's links were made relative to the pages
        return markdown
    page_dir = posixpath.dirname(page.file.src_uri)
    return LINK.sub(lambda m: m.group(1) + site_link(m.group(2), page_dir), markdown)
