"""Fetch and unpack a public data-set archive into its folder, all or nothing.

Shared by the CycleGAN (zip) and pix2pix (tar.gz) sets: both archives hold one top folder named
after the set, which becomes ``root``.
"""

from __future__ import annotations

from pathlib import Path

from gan_lightning.atomic import atomic_path
from gan_lightning.errors import UserError


def download_archive(url: str, root: Path, name: str, how_to_fix: str) -> None:
    """Download ``url`` beside ``root`` and unpack it as ``root``; the archive is then deleted.

    A failed download or unpacking leaves neither a partial folder nor the archive behind, and
    an existing non-empty ``root`` is never unpacked into (it would mix two versions).
    """
    from torchvision.datasets.utils import download_url, extract_archive

    if root.is_dir() and any(root.iterdir()):
        raise UserError(
            f"{root.resolve()} exists but is incomplete; move it away to download {name} "
            "there, or complete it by hand"
        )
    parent = root.parent
    parent.mkdir(parents=True, exist_ok=True)
    archive_path = parent / url.rsplit("/", 1)[-1]
    try:
        download_url(url, root=str(parent), filename=archive_path.name)
        with atomic_path(root) as partial:  # no half-unpacked set is ever left behind
            extract_archive(str(archive_path), str(partial))
            inner = partial / name  # the archive holds <name>/train... : lift its contents
            if inner.is_dir():
                for child in inner.iterdir():
                    child.rename(partial / child.name)
                inner.rmdir()
    except Exception as error:  # network failures come in many types; same fix for all
        reason = str(error).replace("\n", " ") or type(error).__name__
        raise UserError(f"download of {url} failed ({reason}); {how_to_fix}") from None
    finally:
        archive_path.unlink(missing_ok=True)
