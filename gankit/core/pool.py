"""The image history buffer of CycleGAN (Zhu et al. 2017, §4; Shrivastava et al. 2017, §2.3):
D is trained on generated images drawn partly from a pool of earlier generators' outputs,
which damps oscillation.
"""

from __future__ import annotations

import torch


class ImagePool:
    """Up to ``size`` earlier generated images.

    :meth:`query` takes a batch (B, C, H, W) and returns one of the same shape: while the
    pool is not full each image is stored and returned; once full, each image is, with
    probability 1/2, swapped for a stored one picked uniformly (the stored one is returned,
    the new one takes its place), else returned itself. Randomness comes from torch's
    global CPU RNG, so a run whose RNG state is checkpointed with the pool's
    :meth:`state_dict` resumes exactly. ``size == 0`` returns the input unchanged; otherwise
    the result is detached, and stored images are detached copies.
    """

    def __init__(self, size: int = 50):
        if size < 0:
            raise ValueError(f"image pool size must be >= 0, not {size}")
        self.size = size
        self.images: list[torch.Tensor] = []  # each (C, H, W)

    def __len__(self) -> int:
        return len(self.images)

    def _check(self, images: torch.Tensor) -> None:
        if images.dim() != 4:
            raise ValueError(f"image pool expects images (B, C, H, W), got {tuple(images.shape)}")
        if self.images and self.images[0].shape != images.shape[1:]:
            raise ValueError(f"image pool holds images of shape {tuple(self.images[0].shape)}, "
                             f"got a batch of {tuple(images.shape[1:])}")

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch for D: new images, or stored ones in their place (see the class)."""
        if self.size == 0:
            return images
        self._check(images)
        images = images.detach()
        if self.images and (self.images[0].device != images.device
                            or self.images[0].dtype != images.dtype):  # after loading
            self.images = [image.to(images) for image in self.images]
        n_filling = min(len(images), self.size - len(self.images))
        self.images += [image.clone() for image in images[:n_filling]]
        out = list(images[:n_filling])
        rest = images[n_filling:]
        if len(rest):
            swap = torch.rand(len(rest)) < 0.5
            slots = torch.randint(0, self.size, (len(rest),))
            for image, swapped, slot in zip(rest, swap.tolist(), slots.tolist()):
                if swapped:
                    out.append(self.images[slot])
                    self.images[slot] = image.clone()
                else:
                    out.append(image)
        return torch.stack(out) if out else images

    def state_dict(self) -> dict:
        """``{"size": int, "images": [(C, H, W) tensors on the CPU]}``."""
        return {"size": self.size, "images": [image.cpu().clone() for image in self.images]}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s pool; images move to the next query's device."""
        if state["size"] != self.size:
            raise ValueError(f"image pool of size {self.size} cannot load a pool of size "
                             f"{state['size']}")
        images = list(state["images"])
        if len(images) > self.size:
            raise ValueError(f"image pool state holds {len(images)} images, more than its "
                             f"size {self.size}")
        self.images = [image.clone() for image in images]

    def __repr__(self) -> str:
        return f"ImagePool(size={self.size}, held={len(self.images)})"
