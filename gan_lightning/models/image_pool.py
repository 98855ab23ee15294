"""History of generated images for the discriminators (Shrivastava et al. 2017, CycleGAN).

D trained only on the generator's latest output can oscillate with it; half of each batch it
sees is instead drawn from earlier generators' images.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    """Holds up to ``size`` images; ``size=0`` passes images straight through.

    Until the pool is full every image is stored and returned. After that, each image is with
    probability 1/2 returned as it is, else swapped for a random stored image (which it
    replaces). Randomness comes from torch's global generator, so seeding and resuming replay it.
    """

    def __init__(self, size: int = 50) -> None:
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self.images: Tensor | None = None  # (size, C, H, W) once the first batch arrives
        self.count = 0

    def query(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images
        images = images.detach()
        if self.images is None or self.images.shape[1:] != images.shape[1:]:
            self.images = images.new_empty((self.size, *images.shape[1:]))
            self.count = 0
        elif self.images.device != images.device or self.images.dtype != images.dtype:
            self.images = self.images.to(images.device, images.dtype)
        # drawn on the host (torch's CPU generator): reading them syncs with no device
        swap = torch.rand(images.shape[0], device="cpu").lt(0.5).tolist()
        slots = torch.randint(self.size, (images.shape[0],), device="cpu").tolist()
        out = []
        for image, use_old, slot in zip(images, swap, slots, strict=True):
            if self.count < self.size:
                self.images[self.count] = image
                self.count += 1
                out.append(image)
            elif use_old:
                out.append(self.images[slot].clone())
                self.images[slot] = image
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Tensor]:
        stored = self.images[: self.count] if self.images is not None else torch.empty(0)
        return {"images": stored.detach().cpu()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        stored = state["images"]
        if stored.numel() == 0:
            self.images, self.count = None, 0
            return
        self.count = min(stored.shape[0], self.size)
        self.images = stored.new_empty((self.size, *stored.shape[1:]))
        self.images[: self.count] = stored[: self.count]
