"""Differentiable augmentation of every image the discriminator sees (real and fake alike).

With little data, D memorises the real set and G's gradients turn useless. Augmenting what D sees
on *both* sides (real and fake, in D's and in G's updates) keeps D from fitting the exact training
images while G still learns the un-augmented distribution, because every op is differentiable and
its distribution of outputs gives away nothing that G could exploit by copying the augmentation.

* ``DiffAugment`` (Zhao et al. 2020): every op of its policy on every sample, every time.
* ``AdaptiveAugment`` (ADA, Karras et al. 2020): each op with probability ``p``, where ``p``
  follows D's overfitting heuristic ``r_t = E[sign(D(real))]`` towards a target.

Images are float NCHW tensors in [-1, 1]. Only ordinary differentiable ops are used (arithmetic,
``gather``, ``torch.where``), so gradient penalties can back-propagate twice through them. All
randomness comes from torch's global generator on the images' device, which the framework
checkpoints, so resumed runs draw the same augmentations.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gan_lightning.sizes import PositiveInt

_DIFF_AUGMENT_OPS = ("color", "translation", "cutout")
_ADA_OPS = ("flip", "translation", "color", "cutout")


# --- ops: each takes per-sample parameters so one draw can be applied to several tensors ----------


def _per_sample(values: Tensor, x: Tensor) -> Tensor:
    """Shape (N,) draws as (N, 1, 1, 1) in x's dtype, so they broadcast over one sample each."""
    return values.to(dtype=x.dtype).view(-1, 1, 1, 1)


def _brightness(x: Tensor, shift: Tensor) -> Tensor:
    """Adds ``shift[n]`` to every value of sample n."""
    return x + _per_sample(shift, x)


def _saturation(x: Tensor, factor: Tensor) -> Tensor:
    """Scales each pixel's distance from its channel mean (grey); leaves 1-channel images alone."""
    grey = x.mean(dim=1, keepdim=True)
    return (x - grey) * _per_sample(factor, x) + grey


def _contrast(x: Tensor, factor: Tensor) -> Tensor:
    """Scales each sample's distance from its mean over all channels and pixels."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _per_sample(factor, x) + mean


def _translate(x: Tensor, shift_y: Tensor, shift_x: Tensor) -> Tensor:
    """Moves sample n down by ``shift_y[n]`` rows and right by ``shift_x[n]`` columns (integer,
    negative = up/left), filling vacated pixels with 0; a gather keeps it twice differentiable."""
    n, c, h, w = x.shape
    rows = torch.arange(h, device=x.device).view(1, h, 1) - shift_y.view(n, 1, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w) - shift_x.view(n, 1, 1)
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    source = rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)  # (n, h, w) flat source pixel
    moved = x.reshape(n, c, h * w).gather(2, source.view(n, 1, h * w).expand(n, c, h * w))
    return torch.where(inside.unsqueeze(1), moved.view(n, c, h, w), 0.0)


def _cutout(x: Tensor, centre_y: Tensor, centre_x: Tensor, size_h: int, size_w: int) -> Tensor:
    """Sets a ``size_h`` x ``size_w`` box around (``centre_y[n]``, ``centre_x[n]``) to 0 in sample
    n, clipped at the border; for an even side the centre is just below/right of the middle."""
    n, _, h, w = x.shape
    top = (centre_y - size_h // 2).view(n, 1, 1)
    left = (centre_x - size_w // 2).view(n, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    box = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return torch.where(box.unsqueeze(1), 0.0, x)


def _flip(x: Tensor) -> Tensor:
    """Mirrors left-right."""
    return x.flip(3)


def _ratio_pixels(ratio: float, size: int) -> int:
    """``ratio * size`` rounded half up (Python's round() would send 0.5 to 0)."""
    return int(ratio * size + 0.5)


def _apply_op(
    word: str, images: tuple[Tensor, ...], translation_ratio: float, cutout_ratio: float
) -> tuple[Tensor, ...]:
    """One random draw of op ``word`` for the batch, applied alike to every tensor of ``images``.

    Draws are made in float32 whatever the images' dtype, so the generator advances the same way
    under mixed precision.
    """
    n, _, h, w = images[0].shape
    device = images[0].device
    if word == "color":
        shift = torch.rand(n, device=device) - 0.5
        saturation = torch.rand(n, device=device) * 2.0
        contrast = torch.rand(n, device=device) + 0.5
        return tuple(
            _contrast(_saturation(_brightness(x, shift), saturation), contrast) for x in images
        )
    if word == "translation":
        max_y = _ratio_pixels(translation_ratio, h)
        max_x = _ratio_pixels(translation_ratio, w)
        shift_y = torch.randint(-max_y, max_y + 1, (n,), device=device)
        shift_x = torch.randint(-max_x, max_x + 1, (n,), device=device)
        return tuple(_translate(x, shift_y, shift_x) for x in images)
    if word == "cutout":
        size_h = _ratio_pixels(cutout_ratio, h)
        size_w = _ratio_pixels(cutout_ratio, w)
        # An even side has one more possible centre, so the box is clipped equally often at both
        # borders (odd: centre in [0, h-1]; even: [0, h]).
        centre_y = torch.randint(0, h + 1 - size_h % 2, (n,), device=device)
        centre_x = torch.randint(0, w + 1 - size_w % 2, (n,), device=device)
        return tuple(_cutout(x, centre_y, centre_x, size_h, size_w) for x in images)
    if word == "flip":
        return tuple(_flip(x) for x in images)
    raise AssertionError(f"unhandled augmentation op {word!r}")  # _parse_policy rejects these


def _parse_policy(policy: str, allowed: tuple[str, ...], owner: str) -> tuple[str, ...]:
    """Policy words in the order given; a typo should stop the run, not silently skip an op."""
    words = tuple(word.strip() for word in policy.split(",") if word.strip())
    choices = ", ".join(allowed)
    if not words:
        raise ValueError(f"{owner} policy is empty; give a comma-separated subset of: {choices}")
    for word in words:
        if word not in allowed:
            raise ValueError(f"{owner} policy word {word!r} is unknown; allowed: {choices}")
    if len(set(words)) != len(words):
        raise ValueError(f"{owner} policy {policy!r} repeats a word; allowed once each: {choices}")
    return words


def _check_ratio(name: str, value: float) -> float:
    """Ratios of the image side: 1 would translate or cut out the whole image."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


def _check_images(images: tuple[Tensor, ...]) -> None:
    """Paired tensors only stay aligned if they share batch size and spatial size."""
    if not images:
        raise ValueError("augmentation needs at least one image tensor")
    first = images[0]
    for x in images:
        if x.dim() != 4 or not x.is_floating_point():
            raise ValueError(
                f"augmentation expects float NCHW tensors, got {x.dtype} of shape {tuple(x.shape)}"
            )
        if (x.shape[0], *x.shape[2:]) != (first.shape[0], *first.shape[2:]):
            raise ValueError(
                "augmented tensors must share N, H and W to stay aligned, got shapes "
                + ", ".join(str(tuple(y.shape)) for y in images)
            )
        if x.device != first.device:
            raise ValueError(
                f"augmented tensors are on different devices: {first.device}, {x.device}"
            )


class Augmentation(nn.Module):
    """Base class, and itself the "no augmentation" choice (an identity).

    ``forward(*images)`` applies one random draw to every given tensor, so paired images (pix2pix's
    input and output, with any channel counts) stay aligned. In eval mode it is an identity: D only
    sees augmented images while training, and evaluation (FID, sampling) must see the real ones.
    """

    def forward(self, *images: Tensor) -> Tensor | tuple[Tensor, ...]:
        _check_images(images)
        out = self._augment(images) if self.training else images
        return out[0] if len(out) == 1 else tuple(out)

    def _augment(self, images: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """Subclasses' transform; the base leaves images as they are."""
        return images

    def observe(self, real_logits: Tensor, images: int | None = None) -> None:
        """D's logits on augmented reals (positive = "real"), once per D update; only ADA uses
        them, to steer its probability."""

    @property
    def probability(self) -> Tensor | None:
        """ADA's current p, for logging; None where nothing adapts."""
        return None


class DiffAugment(Augmentation):
    """Every op of ``policy`` on every sample, in the order the policy lists them.

    ``translation_ratio``: largest shift as a fraction of each side; ``cutout_ratio``: side of the
    zeroed square as a fraction of each image side.
    """

    def __init__(
        self,
        policy: str = "color,translation,cutout",
        translation_ratio: float = 0.125,
        cutout_ratio: float = 0.5,
    ) -> None:
        super().__init__()
        self.ops = _parse_policy(policy, _DIFF_AUGMENT_OPS, "DiffAugment")
        self.translation_ratio = _check_ratio("translation_ratio", translation_ratio)
        self.cutout_ratio = _check_ratio("cutout_ratio", cutout_ratio)

    def _augment(self, images: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        for word in self.ops:
            images = _apply_op(word, images, self.translation_ratio, self.cutout_ratio)
        return images

    def extra_repr(self) -> str:
        return (
            f"policy={','.join(self.ops)!r}, translation_ratio={self.translation_ratio}, "
            f"cutout_ratio={self.cutout_ratio}"
        )


class AdaptiveAugment(Augmentation):
    """ADA: each op of ``policy`` applied to each sample with probability ``p``, and ``p`` steered
    so that D's overfitting signal ``r_t = E[sign(D(augmented real))]`` stays near ``target``.

    Every ``interval`` calls of ``observe()``, ``p`` moves by ``images / speed_images`` up (r_t
    above target: D is too sure of the reals) or down, ``images`` being the real images observed
    in that window over all ranks: ``p`` can go from 0 to 1 within ``speed_images`` real images
    (StyleGAN2-ADA's ``ada_kimg``, in images). ``p`` and the window's accumulators are buffers,
    so checkpoints carry them. Under DDP the accumulators are summed over ranks before each
    adjustment, so every rank keeps the same ``p``.
    """

    def __init__(
        self,
        policy: str = "translation,color,cutout",
        target: float = 0.6,
        interval: PositiveInt = 4,
        speed_images: PositiveInt = 100_000,
        initial_p: float = 0.0,
        max_p: float = 1.0,
        translation_ratio: float = 0.125,
        cutout_ratio: float = 0.5,
    ) -> None:
        super().__init__()
        self.ops = _parse_policy(policy, _ADA_OPS, "AdaptiveAugment")
        if not 0.0 < target < 1.0:
            raise ValueError(f"ADA target must be in (0, 1), got {target}")
        if interval < 1:
            raise ValueError(f"ADA interval must be >= 1 D update, got {interval}")
        if speed_images < 1:
            raise ValueError(f"ADA speed_images must be >= 1, got {speed_images}")
        if not 0.0 <= initial_p <= max_p <= 1.0:
            raise ValueError(
                f"ADA needs 0 <= initial_p <= max_p <= 1, got initial_p={initial_p}, max_p={max_p}"
            )
        self.target = float(target)
        self.interval = int(interval)
        self.speed_images = int(speed_images)
        self.max_p = float(max_p)
        self.translation_ratio = _check_ratio("translation_ratio", translation_ratio)
        self.cutout_ratio = _check_ratio("cutout_ratio", cutout_ratio)
        self.register_buffer("p", torch.tensor(float(initial_p), dtype=torch.float32))
        self.register_buffer("sign_sum", torch.zeros((), dtype=torch.float32))
        self.register_buffer("observed", torch.zeros((), dtype=torch.float32))
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.float32))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        # Host copy of ``updates``: deciding when to adjust must not read the (GPU) buffer back.
        self._updates = 0

    def _augment(self, images: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        n = images[0].shape[0]
        for word in self.ops:
            augmented = _apply_op(word, images, self.translation_ratio, self.cutout_ratio)
            # rand is in [0, 1): p = 0 never augments, p = 1 always does.
            chosen = (torch.rand(n, device=images[0].device) < self.p).view(n, 1, 1, 1)
            images = tuple(
                torch.where(chosen, a, x) for a, x in zip(augmented, images, strict=True)
            )
        return images

    @torch.no_grad()
    def observe(self, real_logits: Tensor, images: int | None = None) -> None:
        """Accumulate sign(D(real)); ``images`` is the number of real images behind the logits
        (default: their first dimension), so PatchGAN's many logits per image still move p by
        images, not patches. Adjusts p every ``interval`` calls, with no host sync."""
        if images is None:
            images = real_logits.shape[0] if real_logits.dim() else 1
        signs = real_logits.detach().float().sign().to(self.sign_sum.device)
        self.sign_sum += signs.sum()
        self.observed += signs.numel()
        self.images_seen += images
        self.updates += 1
        self._updates += 1
        if self._updates < self.interval:
            return
        stats = torch.stack([self.sign_sum, self.observed, self.images_seen])
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(stats, op=dist.ReduceOp.SUM)
        sign_sum, observed, images_seen = stats.unbind()
        r_t = sign_sum / observed.clamp(min=1.0)
        step = torch.sign(r_t - self.target) * images_seen / self.speed_images
        self.p.copy_((self.p + step).clamp(0.0, self.max_p))
        for buffer in (self.sign_sum, self.observed, self.images_seen, self.updates):
            buffer.zero_()
        self._updates = 0

    @property
    def probability(self) -> Tensor:
        """The current p (0-dim float32 buffer)."""
        return self.p

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Keep the host copy of ``updates`` in step with a loaded checkpoint."""
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._updates = int(self.updates)

    def extra_repr(self) -> str:
        return (
            f"policy={','.join(self.ops)!r}, target={self.target}, interval={self.interval}, "
            f"speed_images={self.speed_images}, max_p={self.max_p}, "
            f"translation_ratio={self.translation_ratio}, cutout_ratio={self.cutout_ratio}"
        )
