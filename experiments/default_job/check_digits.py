"""Does the default job make recognisable digits of most classes?

Loads a checkpoint of a GAN trained on the 8x8 digits, draws 1,000 samples, and classifies them
with an SVM trained on the real digits. Reports the share of confident predictions (p > 0.8; the
same SVM is confident on 82% of held-out real digits) and how many of the 10 classes get at
least 2% of the confident samples.

    python experiments/default_job/check_digits.py outputs/DATE/TIME/checkpoints/last.ckpt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.svm import SVC

from gan_lightning.checkpoints import load_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()

    digits = load_digits()
    features = digits.images.reshape(len(digits.images), -1) / 16.0
    classifier = SVC(probability=True, random_state=0).fit(features, digits.target)
    for path in args.checkpoints:
        generator, config = load_network(path, "generator")
        latent_dim = int(config.model.latent_dim)
        torch.manual_seed(0)
        with torch.no_grad():
            images = generator(torch.randn(args.samples, latent_dim))
        probabilities = classifier.predict_proba(((images + 1) / 2).reshape(args.samples, -1))
        confident = probabilities.max(1) > 0.8
        counts = np.bincount(probabilities.argmax(1)[confident], minlength=10)
        covered = int((counts >= 0.02 * args.samples).sum())
        print(
            f"{path}: confident {confident.mean():.0%}, classes covered {covered}/10, "
            f"confident samples per class {counts.tolist()}"
        )


if __name__ == "__main__":
    main()
