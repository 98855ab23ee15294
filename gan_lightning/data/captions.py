"""Images with captions, for text-to-image models (``data_kind = "captioned"``).

Batches are ``(images, text, lengths, labels)``: images float NCHW in [-1, 1], text int64 token
ids ``(N, max_length)`` padded with 0 (``<pad>``), lengths int64 ``(N,)`` (words per caption,
>= 1), labels int64 ``(N,)`` (the digit for ``DigitCaptionsDataModule``, -1 where unknown). Each
time an image is drawn it comes with one of its captions at random, as in StackGAN's training.
With ``embeddings_file``, text is instead each caption's pre-computed sentence vector, float
``(N, D)`` (see ``gan_lightning.text.SentenceEmbeddings``), and lengths are 1.

Two sources:

* ``CaptionedImageDataModule``: a folder in the layout of the CUB-200 / Oxford-102 text
  releases (``images/**/<stem>.jpg`` + ``text/**/<stem>.txt``, one caption per line) and/or a
  ``captions.jsonl`` of ``{"image": "<path under root or images/>", "caption": "..."}`` lines.
* ``DigitCaptionsDataModule``: MNIST IDX files with templated captions that name the digit in
  words or numerals ("a handwritten seven", "the digit 7 written thick"), so the whole path runs
  offline. Thickness words are only used where they are true: they follow each image's ink
  amount relative to the other images of its digit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.functional import center_crop, pil_to_tensor, resize

from gan_lightning.data.image_folder import IMAGE_SUFFIXES, convert_image, drop_unreadable
from gan_lightning.data.loading import ImageDataModule, LoaderArg
from gan_lightning.data.mnist import MNISTDataModule
from gan_lightning.data.transforms import fit_images, to_signed_unit
from gan_lightning.errors import UserError
from gan_lightning.sizes import PositiveInt
from gan_lightning.text import SentenceEmbeddings, Vocabulary, tokenize

log = logging.getLogger(__name__)

Batch = tuple[Tensor, Tensor, Tensor, Tensor]


class CaptionedImageDataset(Dataset):
    """uint8 NCHW images, each with one or more captions, encoded once per vocabulary (or
    looked up once in a table of sentence vectors)."""

    def __init__(
        self,
        images: Tensor,
        captions: Sequence[Sequence[str]],
        labels: Tensor | None = None,
        files: Sequence[Path] | None = None,
    ) -> None:
        if len(captions) != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {len(captions)} caption lists")
        if labels is None:
            labels = torch.full((images.shape[0],), -1, dtype=torch.long)
        self.images = images
        self.captions = [list(c) for c in captions]
        self.labels = labels.long()
        self.files = list(files) if files is not None else None  # where each image came from
        counts = torch.tensor([len(c) for c in self.captions], dtype=torch.long)
        if bool((counts == 0).any()):
            raise ValueError("every image needs at least one caption")
        self.counts = counts
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)[:-1]])
        self.text: Tensor | None = None  # per caption: token ids, or a sentence vector
        self.lengths: Tensor | None = None

    def subset(self, indices: Tensor) -> CaptionedImageDataset:
        """The images at ``indices`` with their captions (``data.limit``), not yet encoded."""
        kept = indices.tolist()
        return CaptionedImageDataset(
            self.images[indices],
            [self.captions[i] for i in kept],
            self.labels[indices],
            None if self.files is None else [self.files[i] for i in kept],
        )

    def _flat(self) -> list[str]:
        return [caption for captions in self.captions for caption in captions]

    def encode(self, vocabulary: Vocabulary, max_length: int) -> int:
        """Tokenize every caption; returns how many words were unknown to ``vocabulary``."""
        self.text, self.lengths, unknown = vocabulary.encode(self._flat(), max_length)
        return unknown

    def embed(self, embeddings: SentenceEmbeddings) -> None:
        """Each caption's vector from ``embeddings``; every caption must have one."""
        flat = self._flat()
        absent = embeddings.missing(flat)
        if absent:
            raise UserError(
                f"{len(absent)} of {len(flat)} training captions have no vector in "
                f"{embeddings.source} (first: {absent[0]!r}); embed every caption of the data "
                "set with the same encoder, or drop data.embeddings_file"
            )
        self.text = embeddings.lookup(flat)
        self.lengths = torch.ones(len(flat), dtype=torch.long)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitems__(self, indices: list[int]) -> Batch:
        """A batch in one indexing; each image brings one of its captions at random."""
        assert self.text is not None, "encode() or embed() the captions first"
        index = torch.as_tensor(indices, dtype=torch.long)
        pick = (torch.rand(len(index)) * self.counts[index]).long()
        caption = self.offsets[index] + pick
        images = to_signed_unit(self.images[index])
        return images, self.text[caption], self.lengths[caption], self.labels[index]

    def __getitem__(self, index: int) -> Batch:
        images, tokens, lengths, labels = self.__getitems__([index])
        return images[0], tokens[0], lengths[0], labels[0]


class CaptionedDataModule(ImageDataModule):
    """What both caption sources share: the vocabulary and the encoding of the captions.

    ``vocab_size`` caps the vocabulary (``<pad>``, ``<unk>`` and the most frequent training
    words); the text encoder's embedding is built with that many rows, so the model config
    interpolates ``${data.vocab_size}``. A model trained before (stage II, resuming) brings its
    own vocabulary through ``use_vocabulary``.

    ``embeddings_file``: read each caption's sentence vector from this file (captions and
    vectors, see ``SentenceEmbeddings``) instead of token ids; there is then no vocabulary, and
    the model's text encoder must be ``kind: precomputed``.
    """

    fetch_draws_random = True

    data_kind = "captioned"

    def __init__(
        self,
        image_size: PositiveInt,
        channels: PositiveInt,
        vocab_size: PositiveInt,
        max_length: PositiveInt,
        embeddings_file: str | None = None,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        super().__init__(image_size, channels, loader, limit, limit_seed)
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be >= 3 (<pad>, <unk>, a word), got {vocab_size}")
        if max_length < 1:
            raise ValueError(f"max_length must be positive, got {max_length}")
        self.vocab_size = vocab_size
        self.max_length = max_length
        self.embeddings_file = Path(embeddings_file) if embeddings_file else None
        self.train_set: CaptionedImageDataset | None = None
        self.vocabulary: Vocabulary | None = None
        self.embeddings: SentenceEmbeddings | None = None

    def load(self) -> CaptionedImageDataset:
        """The training images (already at ``image_size`` / ``channels``) and their captions."""
        raise NotImplementedError

    def validate(self) -> None:
        """Cheap checks that train.py runs before building the trainer."""
        if self.embeddings_file is not None and not self.embeddings_file.is_file():
            raise UserError(
                f"data.embeddings_file={self.embeddings_file} not found; write it with "
                "gan_lightning.text.save_sentence_embeddings(path, captions, vectors), or set "
                "data.embeddings_file=null to learn the text encoder from the words"
            )

    def build(self) -> None:
        dataset = self.load()
        self.check_fills_a_batch(len(dataset), f"the data set has {len(dataset)} images")
        dataset = self.limited(dataset)  # before the vocabulary: it is built from these captions
        self.train_set = dataset
        if self.embeddings_file is not None:
            self.embeddings = SentenceEmbeddings.load(self.embeddings_file)
            dataset.embed(self.embeddings)
            log.info(
                "captions read as %d-d sentence vectors from %s",
                self.embeddings.dim,
                self.embeddings_file,
            )
            return
        self._encode(Vocabulary.build(dataset._flat(), self.vocab_size))

    def use_vocabulary(self, words: Sequence[str]) -> None:
        """Encode with a trained model's vocabulary, so ids mean what they meant to it."""
        if self.embeddings is not None:
            raise UserError(
                "the model was trained on token ids (it has a vocabulary) but "
                "data.embeddings_file gives sentence vectors; set data.embeddings_file=null"
            )
        vocabulary = Vocabulary(words)
        if vocabulary != self.vocabulary:
            self._encode(vocabulary)

    def _encode(self, vocabulary: Vocabulary) -> None:
        assert self.train_set is not None, "call setup() first"
        unknown = self.train_set.encode(vocabulary, self.max_length)
        self.vocabulary = vocabulary
        if unknown:
            total = int(self.train_set.lengths.sum())
            log.warning(
                "%d of %d caption words are outside the %d-word vocabulary and read as <unk> "
                "(raise data.vocab_size to keep more)",
                unknown,
                total,
                len(vocabulary),
            )

    def grid_captions(self, n: int) -> list[str]:
        """``n`` captions for the sample grids: the first distinct training captions."""
        assert self.train_set is not None, "call setup() first"
        seen: list[str] = []
        for captions in self.train_set.captions:
            if captions[0] not in seen:
                seen.append(captions[0])
            if len(seen) == n:
                break
        return [seen[i % len(seen)] for i in range(n)]


# --- a real on-disk format ------------------------------------------------------------------------
class CaptionedImageDataModule(CaptionedDataModule):
    """``root/images/`` (searched recursively) with ``root/text/**/<stem>.txt`` and/or
    ``root/captions.jsonl``; captions from both are merged per image.

    Images are matched to text files by file stem (CUB keeps ``<class>/<stem>`` on both sides,
    Oxford-102 only on the text side), decoded once, resized on the short side to
    ``image_size``, centre-cropped and held in memory (CUB-200 at 64 px: ~150 MB).
    """

    def __init__(
        self,
        root: str,
        images_dir: str = "images",
        text_dir: str = "text",
        captions_file: str | None = "captions.jsonl",
        image_size: PositiveInt = 32,
        channels: PositiveInt = 3,
        vocab_size: PositiveInt = 5000,
        max_length: PositiveInt = 24,
        embeddings_file: str | None = None,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        super().__init__(
            image_size, channels, vocab_size, max_length, embeddings_file, loader, limit, limit_seed
        )
        self.root = Path(root)
        self.images_dir = self.root / images_dir
        self.text_dir = self.root / text_dir
        self.captions_file = self.root / captions_file if captions_file else None

    @property
    def files(self) -> list[Path]:
        """The training images in the order of the data set (after ``limit``), after setup."""
        return list(self.train_set.files or []) if self.train_set is not None else []

    def validate(self) -> None:
        super().validate()
        if not self.images_dir.is_dir():
            raise UserError(
                f"image folder {self.images_dir.resolve()}/ not found; point data.root at the "
                "folder holding images/ (and text/ or captions.jsonl), or set data.images_dir"
            )
        has_jsonl = self.captions_file is not None and self.captions_file.is_file()
        if not self.text_dir.is_dir() and not has_jsonl:
            where = f"{self.text_dir.resolve()}/"
            if self.captions_file is not None:
                where += f" or {self.captions_file.resolve()}"
            raise UserError(
                f"no captions found: neither {where} exists; add one caption .txt per image "
                'under text/ or a captions.jsonl of {"image": ..., "caption": ...} lines'
            )

    def _image_files(self) -> list[Path]:
        files = sorted(
            p
            for p in self.images_dir.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
        if not files:
            raise UserError(f"no images (jpg, png, ...) in {self.images_dir.resolve()}/")
        stems: dict[str, Path] = {}
        for path in files:
            if path.stem in stems:
                raise UserError(
                    f"two images share the name {path.stem!r} ({stems[path.stem]}, {path}); "
                    "captions are matched by file name, so rename one"
                )
            stems[path.stem] = path
        return files

    def _captions(self, files: list[Path]) -> dict[str, list[str]]:
        """Image stem -> captions, from text/ and captions.jsonl; empty captions are errors."""
        found: dict[str, list[str]] = {path.stem: [] for path in files}
        if self.text_dir.is_dir():
            for text in sorted(self.text_dir.rglob("*.txt")):
                if text.stem not in found:
                    continue  # CUB's text release also covers images left out of a subset
                lines = text.read_text(encoding="utf-8", errors="replace").splitlines()
                for number, line in enumerate(lines, 1):
                    if line.strip() and not tokenize(line):
                        raise UserError(
                            f"{text}:{number}: the caption {line.strip()!r} has no words; "
                            "write a caption or delete the line"
                        )
                captions = [line.strip() for line in lines if line.strip()]
                if not captions:
                    raise UserError(
                        f"{text} is empty; write at least one caption in it or delete the file "
                        "and its image"
                    )
                found[text.stem] += captions
        if self.captions_file is not None and self.captions_file.is_file():
            self._read_jsonl(found)
        return found

    def _read_jsonl(self, found: dict[str, list[str]]) -> None:
        assert self.captions_file is not None
        lines = self.captions_file.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{self.captions_file}:{number}"
            try:
                entry = json.loads(line)
                image, caption = entry["image"], entry["caption"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UserError(
                    f'{where}: expected {{"image": "...", "caption": "..."}}, got {line[:60]!r}'
                ) from None
            if not isinstance(caption, str) or not tokenize(caption):
                raise UserError(
                    f"{where}: the caption of {image} is empty ({caption!r}); write a caption "
                    "or delete the line"
                )
            stem = Path(str(image)).stem
            if stem not in found:
                raise UserError(
                    f"{where}: image {image} is not in {self.images_dir}/; fix the path or "
                    "delete the line"
                )
            found[stem].append(caption.strip())

    def _decode(self, path: Path) -> Tensor:
        with Image.open(path) as image:
            tensor = pil_to_tensor(convert_image(image, self.channels))
        tensor = resize(tensor, self.image_size, antialias=True)  # the short side
        return center_crop(tensor, [self.image_size, self.image_size])

    def load(self) -> CaptionedImageDataset:
        self.validate()
        files = self._image_files()
        captions = self._captions(files)
        missing = [path for path in files if not captions[path.stem]]
        if missing:
            first = missing[0].relative_to(self.root)
            raise UserError(
                f"{len(missing)} of {len(files)} images have no caption (first: {first}); add "
                f"text/{missing[0].stem}.txt or a captions.jsonl line for each, or remove them"
            )
        readable = drop_unreadable(files)
        images = torch.stack([self._decode(path) for path in readable])
        return CaptionedImageDataset(
            images, [captions[path.stem] for path in readable], files=readable
        )


# --- the offline digit set --------------------------------------------------------------------
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# {w}: the digit in words, {n}: in numerals. Thickness templates go only to images whose ink
# amount puts them in the top (thick) or bottom (thin) third of their digit.
PLAIN_TEMPLATES = (
    "a handwritten {w}",
    "the digit {n}",
    "a {w}",
    "the number {w}",
    "a handwritten digit {n}",
    "a {n} written by hand",
)
THICK_TEMPLATES = ("the digit {n} written thick", "a thick {w}", "a bold handwritten {n}")
THIN_TEMPLATES = ("a thin {n}", "the digit {w} written thin", "a thin handwritten {w}")


def digit_captions(label: int, thickness: str, count: int, generator: torch.Generator) -> list[str]:
    """``count`` distinct templated captions of one image (``thickness``: thick, thin or "")."""
    templates = list(PLAIN_TEMPLATES)
    templates += {"thick": THICK_TEMPLATES, "thin": THIN_TEMPLATES}.get(thickness, ())
    order = torch.randperm(len(templates), generator=generator)[:count].tolist()
    return [templates[i].format(w=DIGIT_WORDS[label], n=label) for i in order]


def thickness_of(images: Tensor, labels: Tensor) -> list[str]:
    """ "thick" / "thin" / "" per image: its ink amount's third among images of its digit."""
    ink = images.float().flatten(1).mean(1)
    result = [""] * len(labels)
    for digit in labels.unique().tolist():
        members = (labels == digit).nonzero().flatten()
        low, high = torch.quantile(ink[members], torch.tensor([1 / 3, 2 / 3])).tolist()
        for i in members.tolist():
            result[i] = "thick" if ink[i] > high else "thin" if ink[i] < low else ""
    return result


class DigitCaptionsDataModule(CaptionedDataModule):
    """MNIST (``<data_dir>/MNIST/raw/`` IDX files) with ``captions_per_image`` templated captions
    per image, drawn with ``seed``; grids show "a handwritten zero" ... "a handwritten nine"."""

    def __init__(
        self,
        data_dir: str = "data",
        split: str = "train",
        image_size: PositiveInt = 32,
        channels: PositiveInt = 1,
        captions_per_image: PositiveInt = 4,
        vocab_size: PositiveInt = 64,
        max_length: PositiveInt = 8,
        seed: int = 0,
        embeddings_file: str | None = None,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        super().__init__(
            image_size, channels, vocab_size, max_length, embeddings_file, loader, limit, limit_seed
        )
        if captions_per_image < 1:
            raise ValueError(f"captions_per_image must be >= 1, got {captions_per_image}")
        self.mnist = MNISTDataModule(data_dir=data_dir, split=split)
        self.captions_per_image = captions_per_image
        self.seed = seed

    def validate(self) -> None:
        super().validate()
        self.mnist.validate()

    def load(self) -> CaptionedImageDataset:
        images, labels = self.mnist.load_arrays()
        generator = torch.Generator().manual_seed(self.seed)
        captions = [
            digit_captions(int(label), thick, self.captions_per_image, generator)
            for label, thick in zip(labels.tolist(), thickness_of(images, labels), strict=True)
        ]
        images = fit_images(images, self.image_size, self.channels)
        return CaptionedImageDataset(images, captions, labels)

    def grid_captions(self, n: int) -> list[str]:
        return [f"a handwritten {DIGIT_WORDS[i % 10]}" for i in range(n)]
