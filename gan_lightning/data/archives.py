"""Fetch and unpack a public data-set archive into its folder, all or nothing.

Shared by the CycleGAN (zip) and pix2pix (tar.gz) sets: both archives hold one top folder named
after the set, which becomes ``root``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gan_lightning.atomic import atomic_path
from gan_lightning.data.image_folder import list_images
from gan_lightning.data.loading import DownloadableData, LoaderOptions
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


@dataclass(frozen=True)
class PublicSets:
    """The sets one public archive server holds."""

    kind: str  # "CycleGAN", "pix2pix": named in the messages
    url: str  # a template with {name}
    names: tuple[str, ...]


class ArchiveBackedFolders(DownloadableData):
    """``validate`` / ``prepare_data`` of a folder set that a public archive can fill.

    The data module sets ``public_sets``, calls ``_use_root`` from its constructor, and
    implements ``_problem`` (what is missing, or None) and ``_needs`` (what the folder must
    hold, in words). The default loader is the papers' (pix2pix, CycleGAN) one image a step,
    with the folders decoded in worker processes.
    """

    public_sets: PublicSets
    default_loader = LoaderOptions(batch_size=1, num_workers=2)
    root: Path
    archive: str | None

    def _use_root(self, root: str, archive: str | None, download: bool) -> None:
        names = self.public_sets.names
        if archive is not None and archive not in names:
            raise ValueError(f"archive must be one of {', '.join(names)} or null")
        self.root = Path(root)
        self.archive = archive
        self.download = download

    def _needs(self) -> str:
        raise NotImplementedError

    def _how_to_fix(self) -> str:
        fix = f"the set needs {self._needs()} in {self.root.resolve()}/"
        if self.archive:
            url = self.public_sets.url.format(name=self.archive)
            return (
                f"{fix}: unpack {url} there, or set data.download=true on a machine with internet"
            )
        return f"{fix}, or point data.root at a folder that has them"

    def _missing_images(self, folder: Path, which: str = "") -> str | None:
        """What is wrong with the image folder ``folder`` (``which``: words after its name)."""
        if not folder.is_dir():
            return f"folder {folder.resolve()}/ not found; {self._how_to_fix()}"
        if not list_images(folder):
            return f"no images in {folder.resolve()}/{which}; {self._how_to_fix()}"
        return None

    def _download_refused(self) -> str | None:
        if self.download and self.archive:
            return None
        if self.download:
            return f"; data.download needs data.archive (a public {self.public_sets.kind} set name)"
        return ""

    def _download(self) -> None:
        assert self.archive is not None
        url = self.public_sets.url.format(name=self.archive)
        download_archive(url, self.root, self.archive, self._how_to_fix())
