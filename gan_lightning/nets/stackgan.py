"""The networks of a StackGAN-style text-to-image model (Zhang et al. 2017), small enough for CPU.

* ``TextEncoder``: token ids -> a sentence vector (learned embedding + GRU, or bag of words), or
  a pre-computed sentence vector -> the vector size the rest reads.
* ``ConditioningAugmentation``: sentence vector -> (c, mu, log sigma^2), c ~ N(mu, sigma^2).
* ``StageIGenerator``: (z, c) -> a low-resolution image.
* ``StageIIGenerator``: (stage-I image, c) -> an image 2x or 4x as large.
* ``StageDiscriminator``: (image, sentence vector) -> one logit, "real and matching the text".

Upsampling is nearest-neighbour + 3x3 convolution, as in StackGAN, which avoids the checkerboard
of strided transposed convolutions; D halves the resolution with 4x4 stride-2 convolutions.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from gan_lightning.nets.common import init_normal_weights

ENCODER_KINDS = ("gru", "bow", "precomputed")


def _power_of_two_steps(size: int, start: int, what: str) -> int:
    """How many doublings take ``start`` to ``size``; a clear error when none does."""
    steps = math.log2(size / start) if size >= start else -1
    if steps < 0 or steps != int(steps):
        raise ValueError(f"{what} must be {start} times a power of two, got {size}")
    return int(steps)


class TextEncoder(nn.Module):
    """(text, lengths (N,)) -> (N, output_dim).

    ``kind="gru"``: text is token ids (N, L); the GRU's last hidden state over the unpadded
    words, so word order counts ("not a thin 7" vs "a thin 7"). ``kind="bow"``: the mean word
    embedding through a linear layer, cheaper and order-blind. Id 0 is padding and never
    contributes. ``kind="precomputed"``: text is sentence vectors (N, ``embedding_dim``) made by
    another encoder (``data.embeddings_file``); a linear layer maps them to ``output_dim``, as
    StackGAN compresses its 1024-d char-CNN-RNN vectors, and lengths are ignored.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 32,
        output_dim: int = 64,
        kind: str = "gru",
    ) -> None:
        super().__init__()
        if kind not in ENCODER_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ENCODER_KINDS)}, got {kind!r}")
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.output_dim = output_dim
        self.kind = kind
        if kind == "precomputed":  # no word table: the vectors come with the batch
            self.project = nn.Sequential(nn.Linear(embedding_dim, output_dim), nn.LeakyReLU(0.2))
            return
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        if kind == "gru":
            self.gru = nn.GRU(embedding_dim, output_dim, batch_first=True)
        else:
            self.project = nn.Sequential(nn.Linear(embedding_dim, output_dim), nn.LeakyReLU(0.2))

    @property
    def reads_vectors(self) -> bool:
        return self.kind == "precomputed"

    def forward(self, text: Tensor, lengths: Tensor) -> Tensor:
        if self.reads_vectors:
            if not text.is_floating_point() or text.ndim != 2:
                raise ValueError(
                    "this text encoder reads pre-computed sentence vectors (N, D), got "
                    f"{text.dtype} of shape {tuple(text.shape)}; set data.embeddings_file"
                )
            if text.shape[1] != self.embedding_dim:
                raise ValueError(
                    f"the sentence vectors have {text.shape[1]} dimensions but the encoder reads "
                    f"{self.embedding_dim}; set model.text_encoder.embedding_dim={text.shape[1]}"
                )
            return self.project(text)
        if text.is_floating_point():
            raise ValueError(
                "this text encoder reads token ids, got sentence vectors; set "
                "model.text_encoder.kind=precomputed to read data.embeddings_file"
            )
        if text.numel() and int(text.max()) >= self.vocab_size:
            raise ValueError(
                f"token id {int(text.max())} is outside the encoder's {self.vocab_size} words"
            )
        embedded = self.embedding(text)
        if self.kind == "bow":
            mask = (text != 0).unsqueeze(-1).to(embedded.dtype)
            mean = (embedded * mask).sum(1) / mask.sum(1).clamp(min=1)
            return self.project(mean)
        packed = pack_padded_sequence(
            embedded, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False
        )
        _, hidden = self.gru(packed)
        return hidden[-1]


class ConditioningAugmentation(nn.Module):
    """A Gaussian around the text vector: c = mu + sigma * eps (StackGAN, section 3.1).

    Sampling c, instead of using the text vector as is, gives G many codes per caption and a
    smoother conditioning manifold; ``kl_divergence`` keeps the Gaussian near N(0, I).
    """

    def __init__(self, text_dim: int, condition_dim: int = 16) -> None:
        super().__init__()
        self.text_dim = text_dim
        self.condition_dim = condition_dim
        self.fc = nn.Linear(text_dim, 2 * condition_dim)

    def forward(self, text: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(c, mu, logvar); ``noise`` is eps ~ N(0, I) (None: a fresh draw; zeros: c = mu)."""
        mu, logvar = self.fc(text).chunk(2, dim=1)
        eps = torch.randn_like(mu) if noise is None else noise.to(mu)
        return mu + eps * (0.5 * logvar).exp(), mu, logvar


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per code dimension, averaged (as StackGAN's code does)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()


def _up(w_in: int, w_out: int) -> list[nn.Module]:
    return [
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(w_in, w_out, 3, 1, 1, bias=False),
        nn.BatchNorm2d(w_out),
        nn.ReLU(),
    ]


class StageIGenerator(nn.Module):
    """(z, c) -> image_size x image_size image in [-1, 1]: Linear to a 4x4 map, then doublings."""

    def __init__(
        self,
        latent_dim: int,
        condition_dim: int,
        image_size: int = 16,
        channels: int = 1,
        base_width: int = 32,
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        steps = _power_of_two_steps(image_size, 4, "the stage-I image_size")
        if steps < 1:
            raise ValueError(f"the stage-I image_size must be at least 8, got {image_size}")
        self.latent_dim = latent_dim
        self.condition_dim = condition_dim
        self.image_size = image_size
        self.channels = channels
        widths = [base_width * 2 ** (steps - i) for i in range(steps + 1)]  # 4x4 map outwards
        self.project = nn.Sequential(
            nn.Linear(latent_dim + condition_dim, widths[0] * 16, bias=False),
            nn.BatchNorm1d(widths[0] * 16),
            nn.ReLU(),
            nn.Unflatten(1, (widths[0], 4, 4)),
        )
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths, widths[1:], strict=False):
            layers += _up(w_in, w_out)
        layers += [nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        if init_weights:
            self.apply(init_normal_weights)

    def forward(self, z: Tensor, condition: Tensor) -> Tensor:
        return self.body(self.project(torch.cat([z, condition.to(z.dtype)], dim=1)))


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x + self.body(x))


class StageIIGenerator(nn.Module):
    """(stage-I image, c) -> an image ``scale`` times as large.

    StackGAN's stage II: encode the low-resolution image down to half its size, join the code c
    replicated over that map, refine with residual blocks, then upsample past the input size.
    Seeing the text again lets it fix what stage I drew wrongly, not only sharpen it.
    """

    def __init__(
        self,
        condition_dim: int,
        input_size: int = 16,
        scale: int = 2,
        channels: int = 1,
        base_width: int = 32,
        num_residual: int = 2,
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        if scale not in (2, 4):
            raise ValueError(f"scale must be 2 or 4, got {scale}")
        if input_size < 8 or input_size % 2:
            raise ValueError(f"the stage-II input_size must be even and >= 8, got {input_size}")
        self.condition_dim = condition_dim
        self.input_size = input_size
        self.scale = scale
        self.image_size = input_size * scale
        self.channels = channels
        wide = 2 * base_width
        self.encode = nn.Sequential(
            nn.Conv2d(channels, base_width, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(base_width, wide, 4, 2, 1, bias=False),
            nn.BatchNorm2d(wide),
            nn.ReLU(),
        )
        self.join = nn.Sequential(
            nn.Conv2d(wide + condition_dim, wide, 3, 1, 1, bias=False),
            nn.BatchNorm2d(wide),
            nn.ReLU(),
            *(_Residual(wide) for _ in range(num_residual)),
        )
        doublings = int(math.log2(scale)) + 1  # from input_size / 2 to input_size * scale
        widths = [max(wide // 2**i, 8) for i in range(doublings + 1)]
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths, widths[1:], strict=False):
            layers += _up(w_in, w_out)
        layers += [nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh()]
        self.decode = nn.Sequential(*layers)
        if init_weights:
            self.apply(init_normal_weights)

    def forward(self, low: Tensor, condition: Tensor) -> Tensor:
        if low.shape[-1] != self.input_size or low.shape[-2] != self.input_size:
            raise ValueError(
                f"stage II was built for {self.input_size}px stage-I images, got "
                f"{tuple(low.shape[-2:])}"
            )
        features = self.encode(low)
        maps = condition.to(features.dtype)[:, :, None, None].expand(-1, -1, *features.shape[2:])
        return self.decode(self.join(torch.cat([features, maps], dim=1)))


class StageDiscriminator(nn.Module):
    """(image, sentence vector) -> logit: is this a real image that matches the text?

    Convolutions halve the image down to 4x4; the sentence vector, compressed to
    ``text_features`` numbers, is replicated over that map and joined by a 3x3 convolution
    before the 4x4 logit (StackGAN's matching-aware D).
    """

    def __init__(
        self,
        text_dim: int,
        image_size: int = 16,
        channels: int = 1,
        base_width: int = 32,
        text_features: int = 32,
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        steps = _power_of_two_steps(image_size, 4, "the discriminator's image_size")
        if steps < 1:
            raise ValueError(f"the discriminator's image_size must be >= 8, got {image_size}")
        self.text_dim = text_dim
        self.image_size = image_size
        self.channels = channels
        widths = [base_width * 2**i for i in range(steps)]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for w_in, w_out in zip(widths, widths[1:], strict=False):
            layers += [
                nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.LeakyReLU(0.2),
            ]
        self.image_path = nn.Sequential(*layers)
        self.text_path = nn.Sequential(nn.Linear(text_dim, text_features), nn.LeakyReLU(0.2))
        self.head = nn.Sequential(
            nn.Conv2d(widths[-1] + text_features, widths[-1], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[-1]),
            nn.LeakyReLU(0.2),
            nn.Conv2d(widths[-1], 1, 4, 1, 0),
            nn.Flatten(),
        )
        if init_weights:
            self.apply(init_normal_weights)

    def forward(self, image: Tensor, text: Tensor) -> Tensor:
        if image.shape[-1] != self.image_size:
            raise ValueError(
                f"this discriminator judges {self.image_size}px images, got {image.shape[-1]}px"
            )
        features = self.image_path(image)
        maps = self.text_path(text.to(features.dtype))[:, :, None, None].expand(-1, -1, 4, 4)
        return self.head(torch.cat([features, maps], dim=1)).squeeze(1)
