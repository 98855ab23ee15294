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


class ArchiveBackedFolders:
    """``validate`` / ``prepare_data`` of a folder set that a public archive can fill.

    The data module sets ``root``, ``archive`` (a set name or None), ``download`` and
    ``archive_url`` (a template with ``{name}``), and implements ``_problem`` (what is missing,
    or None) and ``_needs`` (what the folder must hold, in words).
    """

    root: Path
    archive: str | None
    download: bool
    archive_url: str
    set_kind: str  # "CycleGAN", "pix2pix": named in the messages

    def _problem(self) -> str | None:
        raise NotImplementedError

    def _needs(self) -> str:
        raise NotImplementedError

    def _how_to_fix(self) -> str:
        fix = f"the set needs {self._needs()} in {self.root.resolve()}/"
        if self.archive:
            url = self.archive_url.format(name=self.archive)
            return (
                f"{fix}: unpack {url} there, or set data.download=true on a machine with internet"
            )
        return f"{fix}, or point data.root at a folder that has them"

    def validate(self) -> None:
        """Fail before training starts when the set is missing and cannot be downloaded."""
        problem = self._problem()
        if problem and not (self.download and self.archive):
            if self.download:
                problem += f"; data.download needs data.archive (a public {self.set_kind} set name)"
            raise UserError(problem)

    def prepare_data(self) -> None:
        if self._problem() and self.download and self.archive:
            url = self.archive_url.format(name=self.archive)
            download_archive(url, self.root, self.archive, self._how_to_fix())
        self.validate()
