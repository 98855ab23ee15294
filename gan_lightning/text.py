"""Captions as model input: token ids in a vocabulary built from the training captions, or
pre-computed sentence vectors read from a file.

The vocabulary is a plain list of words (``<pad>`` at 0, ``<unk>`` at 1), so it is stored in a
checkpoint as-is and loads with ``weights_only=True``; ``sample text=...`` tokenizes with it.
"""

from __future__ import annotations

import pickle
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gan_lightning.atomic import atomic_path
from gan_lightning.errors import UserError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
# Captions encoded outside training (sample text=..., the training grids) are cut after this many
# words: far beyond any training caption (data.max_length), so in practice none is cut.
MAX_CAPTION_WORDS = 64
_WORD = re.compile(r"[a-z0-9]+")


def tokenize(caption: str) -> list[str]:
    """Lower-case words and numbers; punctuation separates words and is dropped."""
    return _WORD.findall(caption.lower())


class Vocabulary:
    """Word <-> id. Words outside it map to ``<unk>``; ids past the end are never produced."""

    def __init__(self, words: Sequence[str]) -> None:
        words = list(words)
        if words[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}; got {words[:2]}")
        if len(set(words)) != len(words):
            raise ValueError("the vocabulary lists a word twice")
        self.words = words
        self.ids = {word: index for index, word in enumerate(words)}

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    @classmethod
    def build(cls, captions: Iterable[str], max_size: int) -> Vocabulary:
        """The ``max_size - 2`` most frequent words (ties alphabetical, so it is repeatable)."""
        if max_size < 3:
            raise ValueError(f"the vocabulary needs room for one word, got max size {max_size}")
        counts = Counter(word for caption in captions for word in tokenize(caption))
        ranked = sorted(counts, key=lambda word: (-counts[word], word))
        return cls([PAD, UNK, *ranked[: max_size - 2]])

    def encode(self, captions: Sequence[str], max_length: int) -> tuple[Tensor, Tensor, int]:
        """(ids (N, L) padded with 0, lengths (N,), number of unknown words).

        Captions longer than ``max_length`` words are cut. An empty caption has nothing to
        condition on: it is an error naming the caption's position.
        """
        rows, unknown = [], 0
        for index, caption in enumerate(captions):
            words = tokenize(caption)[:max_length]
            if not words:
                raise UserError(
                    f"caption {index + 1} ({caption!r}) has no words; write a caption or drop it"
                )
            ids = [self.ids.get(word, UNK_ID) for word in words]
            unknown += sum(1 for i in ids if i == UNK_ID)
            rows.append(ids)
        length = max((len(r) for r in rows), default=1)
        tokens = torch.full((len(rows), length), PAD_ID, dtype=torch.long)
        for row, ids in enumerate(rows):
            tokens[row, : len(ids)] = torch.tensor(ids)
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        return tokens, lengths, unknown


def encode_captions(
    captions: Sequence[str],
    vocabulary: Sequence[str] | None,
    embeddings: SentenceEmbeddings | None,
    max_length: int = MAX_CAPTION_WORDS,
    on_unknown: Callable[[list[str]], None] | None = None,
) -> tuple[Tensor, Tensor]:
    """What a StackGAN text encoder reads for ``captions``, on the CPU: their sentence vectors
    ``(N, D)`` and lengths 1 when ``embeddings`` is given (a model trained on pre-computed
    vectors), else token ids ``(N, L)`` in ``vocabulary`` (its words, ``<pad>`` first) and the
    lengths. ``on_unknown`` gets the words outside the vocabulary, sorted, if there are any:
    they are read as ``<unk>``, which the caller should say."""
    if embeddings is not None:
        return embeddings.lookup(captions), torch.ones(len(captions), dtype=torch.long)
    if not vocabulary:
        raise UserError(
            "the model has neither a vocabulary nor sentence vectors to read captions with: "
            "train it on a captioned data set"
        )
    words = Vocabulary(vocabulary)
    tokens, lengths, unknown = words.encode(captions, max_length)
    if unknown and on_unknown is not None:
        said = {word for caption in captions for word in tokenize(caption)[:max_length]}
        on_unknown(sorted(word for word in said if word not in words.ids))
    return tokens, lengths


# --- pre-computed sentence vectors ----------------------------------------------------------------
EMBEDDING_SUFFIXES = (".pt", ".npz")


def _normalised(caption: str) -> str:
    """A caption's words: the fallback key, so case, spacing and punctuation do not matter."""
    return " ".join(tokenize(caption))


class SentenceEmbeddings:
    """Caption -> a fixed sentence vector from another encoder (char-CNN-RNN as StackGAN used,
    a sentence-transformer, ...), read from a file instead of learned here.

    The file holds ``captions`` (N strings) and ``embeddings`` (N x D floats), row i the vector of
    caption i: a ``.pt`` dict (``torch.save``) or an ``.npz`` (``numpy.savez``); both load
    without unpickling code. ``save_sentence_embeddings`` writes one.
    """

    def __init__(self, captions: Sequence[str], vectors: Tensor, source: str = "") -> None:
        where = f"{source}: " if source else ""
        if vectors.ndim != 2 or vectors.shape[0] != len(captions):
            raise UserError(
                f"{where}expected one vector per caption ({len(captions)} x D), got "
                f"{tuple(vectors.shape)}; save the vectors as a (captions x dimensions) array"
            )
        if not vectors.is_floating_point() or not bool(torch.isfinite(vectors).all()):
            raise UserError(f"{where}the vectors must be finite floating-point numbers")
        self.source = source
        self.vectors = vectors.float()
        self.exact: dict[str, int] = {}  # the caption as written (stripped)
        self.rows: dict[str, int] = {}  # its words: the first caption with them
        for row, caption in enumerate(captions):
            text = str(caption).strip()
            if not _normalised(text):
                raise UserError(f"{where}caption {row + 1} ({caption!r}) has no words")
            first = self.exact.setdefault(text, row)
            if first != row and not torch.equal(self.vectors[first], self.vectors[row]):
                raise UserError(
                    f"{where}the caption {caption!r} appears twice with different vectors; keep one"
                )
            self.rows.setdefault(_normalised(text), row)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.exact)

    def _row(self, caption: str) -> int | None:
        """The caption as written, else the first caption with the same words ("A thin 7."
        finds "a thin 7"): an encoder that sees case and punctuation keeps its own vectors."""
        row = self.exact.get(caption.strip())
        return self.rows.get(_normalised(caption)) if row is None else row

    def missing(self, captions: Iterable[str]) -> list[str]:
        return [caption for caption in captions if self._row(caption) is None]

    def lookup(self, captions: Sequence[str]) -> Tensor:
        """(len(captions), dim); a caption without a vector is an error naming it."""
        rows = [self._row(caption) for caption in captions]
        absent = [caption for caption, row in zip(captions, rows, strict=True) if row is None]
        if absent:
            raise UserError(
                f"{len(absent)} caption(s) have no vector in {self.source or 'the embeddings'} "
                f"(first: {absent[0]!r}); pre-computed embeddings exist only for the captions "
                "in the file: embed them with the same encoder and add them"
            )
        return self.vectors[rows]

    @classmethod
    def load(cls, path: str | Path) -> SentenceEmbeddings:
        path = Path(path)
        if not path.is_file():
            raise UserError(
                f"sentence embeddings file {path} not found; write one with "
                "gan_lightning.text.save_sentence_embeddings(path, captions, vectors)"
            )
        if path.suffix not in EMBEDDING_SUFFIXES:
            raise UserError(
                f"{path}: sentence embeddings are read from {' or '.join(EMBEDDING_SUFFIXES)} "
                f"files, not {path.suffix or 'a file without a suffix'}"
            )
        try:
            if path.suffix == ".pt":
                content = torch.load(path, map_location="cpu", weights_only=True)
                captions, vectors = content["captions"], torch.as_tensor(content["embeddings"])
            else:
                with np.load(path, allow_pickle=False) as content:
                    captions = [str(c) for c in content["captions"]]
                    vectors = torch.from_numpy(np.array(content["embeddings"]))
        except (KeyError, TypeError, IndexError):
            raise UserError(
                f"{path} must hold 'captions' (strings) and 'embeddings' (captions x D); write "
                "it with gan_lightning.text.save_sentence_embeddings"
            ) from None
        except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UserError(f"{path} is not a readable embeddings file ({first})") from None
        return cls([str(c) for c in captions], vectors, str(path))


def save_sentence_embeddings(path: str | Path, captions: Sequence[str], vectors: Tensor) -> Path:
    """Write the file ``SentenceEmbeddings.load`` reads (``.pt``; written whole, then renamed)."""
    path = Path(path)
    if path.suffix != ".pt":
        raise ValueError(f"write sentence embeddings to a .pt file, got {path}")
    vectors = torch.as_tensor(vectors).detach().float().cpu()
    SentenceEmbeddings(list(captions), vectors, str(path))  # the checks of reading it back
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        torch.save({"captions": [str(c) for c in captions], "embeddings": vectors}, partial)
    return path
