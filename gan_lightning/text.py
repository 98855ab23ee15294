"""Captions as token ids: a tokenizer and a vocabulary built from the training captions.

The vocabulary is a plain list of words (``<pad>`` at 0, ``<unk>`` at 1), so it is stored in a
checkpoint as-is and loads with ``weights_only=True``; ``sample text=...`` tokenizes with it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from gan_lightning.errors import UserError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
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
