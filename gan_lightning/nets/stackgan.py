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
from itertools import pairwise

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from gan_lightning.nets.common import (
    apply_spectral_norm,
    check_choice,
    check_norm,
    conv_block,
    doubling_widths,
    downsampling,
    halvings,
    init_normal_weights,
)
from gan_lightning.nets.layers import with_condition, with_condition_maps
from gan_lightning.nets.resnet import ResidualBlock
from gan_lightning.sizes import PositiveInt

ENCODER_KINDS = ("gru", "bow", "precomputed")


def _level_widths(image_size: int, base_width: int, what: str) -> list[int]:
    """Widths from the image_size map in to the 4x4 map, doubling per level (uncapped).

    Stage I reads them from 4x4 outwards; its discriminator, one level further in, uses all but
    the 4x4 one for the maps its stride-2 convolutions make.
    """
    steps = halvings(image_size, 4)
    if steps is None or steps < 1:
        raise ValueError(
            f"{what} must be 8 times a power of two (8, 16, 32, ...), got {image_size}"
        )
    return doubling_widths(base_width, steps + 1, cap=None)


def _upsampling(widths: list[int], channels: int) -> list[nn.Module]:
    """[Upsample x2 -> Conv 3x3 -> BatchNorm -> ReLU] between the widths, then Conv 3x3 -> tanh."""
    layers: list[nn.Module] = []
    for w_in, w_out in pairwise(widths):
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), *conv_block(w_in, w_out, 3, 1, 1)]
    return [*layers, nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh()]


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
        vocab_size: PositiveInt,
        embedding_dim: PositiveInt = 32,
        output_dim: PositiveInt = 64,
        kind: str = "gru",
    ) -> None:
        super().__init__()
        check_choice("kind", kind, ENCODER_KINDS)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.output_dim = output_dim
        self.kind = kind
        if kind != "precomputed":  # precomputed: no word table, the vectors come with the batch
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


class StageIGenerator(nn.Module):
    """(z, c) -> image_size x image_size image in [-1, 1]: Linear to a 4x4 map, then doublings."""

    def __init__(
        self,
        latent_dim: PositiveInt,
        condition_dim: PositiveInt,
        image_size: PositiveInt = 16,
        channels: PositiveInt = 1,
        base_width: PositiveInt = 32,
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        widths = _level_widths(image_size, base_width, "the stage-I image_size")[::-1]
        self.latent_dim = latent_dim
        self.condition_dim = condition_dim
        self.image_size = image_size
        self.channels = channels
        self.project = nn.Sequential(
            nn.Linear(latent_dim + condition_dim, widths[0] * 16, bias=False),
            nn.BatchNorm1d(widths[0] * 16),
            nn.ReLU(),
            nn.Unflatten(1, (widths[0], 4, 4)),
        )
        self.body = nn.Sequential(*_upsampling(widths, channels))
        if init_weights:
            self.apply(init_normal_weights)

    def forward(self, z: Tensor, condition: Tensor) -> Tensor:
        return self.body(self.project(with_condition(z, condition)))


class _Residual(ResidualBlock):
    """CycleGAN's residual block with BatchNorm, plus StackGAN's ReLU after the sum."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(super().forward(x))


class StageIIGenerator(nn.Module):
    """(stage-I image, c) -> an image ``scale`` times as large.

    StackGAN's stage II: encode the low-resolution image down to half its size, join the code c
    replicated over that map, refine with residual blocks, then upsample past the input size.
    Seeing the text again lets it fix what stage I drew wrongly, not only sharpen it.
    """

    def __init__(
        self,
        condition_dim: PositiveInt,
        input_size: int = 16,
        scale: int = 2,
        channels: PositiveInt = 1,
        base_width: PositiveInt = 32,
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
            *conv_block(channels, base_width, 3, 1, 1, norm=None),
            *conv_block(base_width, wide, 4, 2, 1),
        )
        self.join = nn.Sequential(
            *conv_block(wide + condition_dim, wide, 3, 1, 1),
            *(_Residual(wide) for _ in range(num_residual)),
        )
        doublings = int(math.log2(scale)) + 1  # from input_size / 2 to input_size * scale
        widths = [max(wide // 2**i, 8) for i in range(doublings + 1)]
        self.decode = nn.Sequential(*_upsampling(widths, channels))
        if init_weights:
            self.apply(init_normal_weights)

    def forward(self, low: Tensor, condition: Tensor) -> Tensor:
        if low.shape[-1] != self.input_size or low.shape[-2] != self.input_size:
            raise ValueError(
                f"stage II was built for {self.input_size}px stage-I images, got "
                f"{tuple(low.shape[-2:])}"
            )
        return self.decode(self.join(with_condition_maps(self.encode(low), condition)))


class StageDiscriminator(nn.Module):
    """(image, sentence vector) -> logit: is this a real image that matches the text?

    Convolutions halve the image down to 4x4; the sentence vector, compressed to
    ``text_features`` numbers, is replicated over that map and joined by a 3x3 convolution
    before the 4x4 logit (StackGAN's matching-aware D). ``norm`` follows each convolution but the
    first (``none``: SN-GAN's norm-free D). ``spectral_norm`` normalises every Conv/Linear weight
    after the init, the text path's Linear included, and leaves ``norm`` as chosen
    (``nets.common.apply_spectral_norm``).
    """

    def __init__(
        self,
        text_dim: PositiveInt,
        image_size: PositiveInt = 16,
        channels: PositiveInt = 1,
        base_width: PositiveInt = 32,
        text_features: PositiveInt = 32,
        init_weights: bool = True,
        spectral_norm: bool = False,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        check_norm(norm)
        widths = _level_widths(image_size, base_width, "the discriminator's image_size")[:-1]
        self.text_dim = text_dim
        self.image_size = image_size
        self.channels = channels
        self.image_path = nn.Sequential(*downsampling(channels, widths, norm))
        self.text_path = nn.Sequential(nn.Linear(text_dim, text_features), nn.LeakyReLU(0.2))
        self.head = nn.Sequential(
            *conv_block(widths[-1] + text_features, widths[-1], 3, 1, 1, norm, "leaky_relu"),
            nn.Conv2d(widths[-1], 1, 4, 1, 0),
            nn.Flatten(),
        )
        if init_weights:
            self.apply(init_normal_weights)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, image: Tensor, text: Tensor) -> Tensor:
        if image.shape[-1] != self.image_size:
            raise ValueError(
                f"this discriminator judges {self.image_size}px images, got {image.shape[-1]}px"
            )
        features = self.image_path(image)
        text_code = self.text_path(text.to(features.dtype))
        return self.head(with_condition_maps(features, text_code)).squeeze(1)


def draw(
    nets: dict[str, nn.Module],
    tokens: Tensor,
    lengths: Tensor,
    z: Tensor,
    last_stage: int = 2,
    noise: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor | None]:
    """(stage-I images, stage-II images or None) for captions; ``nets`` by config name.

    ``noise``: the conditioning augmentation's N(0, I) draws for stage I and II (None: fresh).
    Shared by the module's grids and ``python -m gan_lightning.sample``.
    """
    text = nets["text_encoder"](tokens, lengths)
    eps1, eps2 = noise if noise is not None else (None, None)
    c1, _, _ = nets["conditioning"](text, eps1)
    low = nets["stage1"](z, c1)
    if last_stage == 1:
        return low, None
    c2, _, _ = nets["conditioning2"](text, eps2)
    return low, nets["stage2"](low, c2)
