"""Text-to-digits: train ``experiment=digits_text2image``, then ask a digit classifier whether the
images show the digit their caption names, at stage I (16 px) and stage II (32 px).

    OMP_NUM_THREADS=1 python experiments/text2image/run.py --data-dir ../shared/data \\
        --run-dir /tmp/text2image [--epochs 8] [--ckpt PATH: score an existing run instead]
        [--sentence-vectors random-words --out experiments/text2image/precomputed]

Writes results.json, grid_stage1.png and grid_stage2.png beside this file (``--out``).

``--sentence-vectors random-words`` trains on pre-computed sentence vectors instead of token ids
(``data.embeddings_file``, ``model.text_encoder.kind=precomputed``): each caption's vector is the
mean of fixed random word vectors, an encoder that is not trained here (a stand-in for the
char-CNN-RNN or sentence-transformer vectors a real set brings). It embeds the scoring captions
too, so their unseen words get vectors of their own instead of ``<unk>``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.utils import make_grid, save_image

from gan_lightning.data.captions import (
    DIGIT_WORDS,
    PLAIN_TEMPLATES,
    THICK_TEMPLATES,
    THIN_TEMPLATES,
)
from gan_lightning.data.mnist import MNISTDataModule
from gan_lightning.inference import StoredRun
from gan_lightning.metrics.classifier import train_classifier
from gan_lightning.nets.stackgan import TextEncoder, draw
from gan_lightning.text import (
    SentenceEmbeddings,
    Vocabulary,
    encode_captions,
    save_sentence_embeddings,
    tokenize,
)

HERE = Path(__file__).resolve().parent
NETS = ["text_encoder", "conditioning", "stage1", "conditioning2", "stage2"]
# Captions with words the model never saw: they read as <unk>, the digit word must carry them.
UNSEEN = ("a handwritten {w} drawn in purple ink", "my favourite number is {n}")


def train(
    data_dir: str, run_dir: Path, epochs: int, seed: int, overrides: list[str]
) -> tuple[Path, float]:
    command = [
        sys.executable,
        "-m",
        "gan_lightning",
        "experiment=digits_text2image",
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={run_dir}",
        f"trainer.max_epochs={epochs}",
        f"seed={seed}",
        "callbacks.evaluation=null",
        *overrides,
    ]
    print(" ".join(command[1:]), flush=True)
    start = time.time()
    subprocess.run(command, check=True)
    return run_dir / "checkpoints" / "last.ckpt", time.time() - start


def captions_for(templates: tuple[str, ...], digit: int) -> list[str]:
    return [t.format(w=DIGIT_WORDS[digit], n=digit) for t in templates]


def every_caption() -> list[str]:
    templates = PLAIN_TEMPLATES + THICK_TEMPLATES + THIN_TEMPLATES + UNSEEN
    return [c for d in range(10) for c in captions_for(templates, d)]


def random_word_vectors(path: Path, dim: int = 64, seed: int = 0) -> list[str]:
    """Write sentence vectors of every caption (mean of fixed N(0, I) word vectors); the
    overrides that train on them."""
    captions = every_caption()
    words = sorted({w for c in captions for w in tokenize(c)})
    rng = torch.Generator().manual_seed(seed)
    table = dict(zip(words, torch.randn(len(words), dim, generator=rng), strict=True))
    vectors = torch.stack([torch.stack([table[w] for w in tokenize(c)]).mean(0) for c in captions])
    save_sentence_embeddings(path, captions, vectors)
    return [
        f"data.embeddings_file={path}",
        "model.text_encoder.kind=precomputed",
        f"model.text_encoder.embedding_dim={dim}",
        "model.word_dropout=0",
    ]


class CaptionInput:
    """Captions as the checkpoint's text encoder reads them: token ids, or sentence vectors."""

    def __init__(self, extras: dict, embeddings: Path | None) -> None:
        self.vocabulary = Vocabulary(extras["vocabulary"]) if extras["vocabulary"] else None
        self.table = SentenceEmbeddings.load(embeddings) if embeddings else None
        if self.vocabulary is None and self.table is None:
            sys.exit("this checkpoint reads sentence vectors: add --sentence-vectors random-words")

    def __call__(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        words = None if self.vocabulary is None else self.vocabulary.words
        return encode_captions(captions, words, self.table)


@torch.no_grad()
def generate(nets, encode: CaptionInput, captions: list[str], seed: int, mean_code=False):
    """(stage-I, stage-II) images, one per caption, conditioning noise drawn as in sampling
    (``mean_code``: c = mu, as the training grids show)."""
    tokens, lengths = encode(captions)
    rng = torch.Generator().manual_seed(seed)
    n = len(captions)
    z = torch.randn(n, nets["stage1"].latent_dim, generator=rng)
    noise = tuple(
        torch.randn(n, nets[k].condition_dim, generator=rng)
        for k in ("conditioning", "conditioning2")
    )
    if mean_code:
        noise = tuple(torch.zeros_like(e) for e in noise)
    return draw(nets, tokens, lengths, z, 2, noise)


@torch.no_grad()
def predict(classifier, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([classifier(chunk).argmax(1) for chunk in images.split(500)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--run-dir", type=Path, default=Path("/tmp/text2image"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--per-caption", type=int, default=20)
    parser.add_argument("--ckpt", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--sentence-vectors", choices=["none", "random-words"], default="none")
    args = parser.parse_args()

    wall = None
    ckpt = args.ckpt
    embeddings = None
    overrides: list[str] = []
    if args.sentence_vectors == "random-words":
        embeddings = args.run_dir.with_name(args.run_dir.name + "_sentence_vectors.pt")
        if ckpt is None:
            overrides = random_word_vectors(embeddings)
    if ckpt is None:
        ckpt, wall = train(args.data_dir, args.run_dir, args.epochs, args.seed, overrides)
    run = StoredRun.read(ckpt)
    nets, config = run.networks(NETS)
    vocabulary = CaptionInput(run.extras, embeddings)
    assert isinstance(nets["text_encoder"], TextEncoder)

    classifiers, real_accuracy = {}, {}
    for size in (16, 32):
        data = MNISTDataModule(args.data_dir, image_size=size)
        classifiers[size], real_accuracy[size] = train_classifier(data, epochs=3, seed=0)
        print(f"classifier at {size} px: {real_accuracy[size]:.1%} on held-out real digits")

    kinds = {
        "plain": PLAIN_TEMPLATES,
        "thick": THICK_TEMPLATES,
        "thin": THIN_TEMPLATES,
        "unseen words": UNSEEN,
    }
    rows = []  # (digit, kind, caption)
    for digit in range(10):
        for kind, templates in kinds.items():
            rows += [(digit, kind, c) for c in captions_for(templates, digit)]
    captions = [c for _, _, c in rows for _ in range(args.per_caption)]
    digits = torch.tensor([d for d, _, _ in rows for _ in range(args.per_caption)])
    kind_of = [k for _, k, _ in rows for _ in range(args.per_caption)]
    low, high = generate(nets, vocabulary, captions, seed=1)
    pred1, pred2 = predict(classifiers[16], low), predict(classifiers[32], high)
    hit1, hit2 = pred1 == digits, pred2 == digits
    mean_low, mean_high = generate(nets, vocabulary, captions, seed=1, mean_code=True)
    mean_hit1 = predict(classifiers[16], mean_low) == digits
    mean_hit2 = predict(classifiers[32], mean_high) == digits

    def share(mask: torch.Tensor, selection: torch.Tensor | None = None) -> float:
        mask = mask if selection is None else mask[selection]
        return round(float(mask.float().mean()), 4)

    seen = torch.tensor([k != "unseen words" for k in kind_of])
    in_words = torch.tensor(
        [DIGIT_WORDS[int(d)] in c for d, c in zip(digits, captions, strict=True)]
    )
    ink = high.add(1).div(2).flatten(1).mean(1)
    results = {
        "checkpoint": str(ckpt),
        "train_wall_s": None if wall is None else round(wall, 1),
        "epochs": args.epochs if args.ckpt is None else None,
        "seed": args.seed,
        "images": {"stage1": list(low.shape[1:]), "stage2": list(high.shape[1:])},
        "classifier_real_accuracy": {f"{k}px": round(v, 4) for k, v in real_accuracy.items()},
        "samples": len(captions),
        "caption_accuracy": {
            "stage1_seen_words": share(hit1, seen),
            "stage2_seen_words": share(hit2, seen),
            "stage1_unseen_words": share(hit1, ~seen),
            "stage2_unseen_words": share(hit2, ~seen),
        },
        "caption_accuracy_mean_code": {
            "stage1_seen_words": share(mean_hit1, seen),
            "stage2_seen_words": share(mean_hit2, seen),
        },
        "stage2_seen_digit_in_words": share(hit2, seen & in_words),
        "stage2_seen_digit_in_numerals": share(hit2, seen & ~in_words),
        "stage2_keeps_stage1_class": share(pred1 == pred2),
        "stage2_right_where_stage1_right": share(hit2, hit1),
        "stage2_keeps_stage1_class_mean_code": share(
            predict(classifiers[16], mean_low) == predict(classifiers[32], mean_high)
        ),
        "stage2_right_where_stage1_right_mean_code": share(mean_hit2, mean_hit1),
        "per_kind_stage2": {k: share(hit2, torch.tensor([x == k for x in kind_of])) for k in kinds},
        "per_digit_stage2": {str(d): share(hit2, (digits == d) & seen) for d in range(10)},
        "mean_ink_stage2": {
            k: round(float(ink[torch.tensor([x == k for x in kind_of])].mean()), 4)
            for k in ("thick", "plain", "thin")
        },
        "config": {
            "model.stage": config.model.stage,
            "data.image_size": config.data.image_size,
            "model.text_encoder.kind": config.model.text_encoder.kind,
            "data.embeddings_file": config.data.get("embeddings_file"),
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))

    grid_rows = [captions_for(("a handwritten {w}",), d)[0] for d in range(10)]
    grid_rows += [
        "the digit 7 written thick",
        "a thin 7",
        "a handwritten seven drawn in purple ink",
    ]
    every = [c for c in grid_rows for _ in range(8)]
    low, high = generate(nets, vocabulary, every, seed=2)
    for name, images in (("grid_stage1.png", low), ("grid_stage2.png", high)):
        images = F.interpolate(images, size=(32, 32), mode="nearest")
        save_image(make_grid(images, nrow=8, normalize=True, value_range=(-1, 1)), args.out / name)
    (args.out / "grid_captions.txt").write_text("\n".join(grid_rows) + "\n")


if __name__ == "__main__":
    main()
