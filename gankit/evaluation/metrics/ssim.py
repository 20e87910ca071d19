"""SSIM, the structural similarity index (Wang, Bovik, Sheikh, Simoncelli 2004), per image.

As the paper sets it: an 11x11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03, pixels
in [0, 1] (data range L = 1, so C1 = (0.01)² and C2 = (0.03)²), local means, variances and
covariance weighted by the window (no N - 1 correction). Each channel is compared on its
own and the SSIM map averaged over the channels and the positions.

Borders: only positions where the whole window lies inside the image count ("valid"
filtering, as the authors' MATLAB ``ssim_index`` does with ``filter2(..., 'valid')``), so no
padded pixel is ever compared; a 32 px image has 22 x 22 positions. An image smaller than
the window (a side under 11 px) is compared with the window cut to its odd size (sigma kept).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> torch.Tensor:
    """The 1-D window (size,), float64, summing to 1; the 2-D window is its outer product."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    weights = torch.exp(-x.pow(2) / (2 * sigma ** 2))
    return weights / weights.sum()


def _blur(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) float64 -> (N, C, H - k + 1, W - k + 1): the window's weighted mean at
    every valid position, by two 1-D passes (the Gaussian is separable)."""
    channels, k = x.shape[1], len(window)
    rows = window.view(1, 1, k, 1).expand(channels, 1, k, 1)
    cols = window.view(1, 1, 1, k).expand(channels, 1, 1, k)
    return F.conv2d(F.conv2d(x, rows, groups=channels), cols, groups=channels)


def ssim(outputs_u8: torch.Tensor, truth_u8: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of each image of ``outputs_u8`` against the same row of ``truth_u8``.

    Both uint8 (N, C, H, W) of one shape. Returns float64 (N,): 1 for identical images,
    symmetric in its two arguments, at most 1.
    """
    if outputs_u8.shape != truth_u8.shape or outputs_u8.dim() != 4:
        raise ValueError(f"ssim compares images (N, C, H, W) of one shape, got "
                         f"{tuple(outputs_u8.shape)} and {tuple(truth_u8.shape)}")
    x = outputs_u8.to(torch.float64) / 255.0
    y = truth_u8.to(torch.float64) / 255.0
    side = min(WINDOW, *x.shape[-2:])
    window = gaussian_window(side - (1 - side % 2))  # odd, so the window has a centre
    mu_x, mu_y = _blur(x, window), _blur(y, window)
    var_x = _blur(x * x, window) - mu_x ** 2
    var_y = _blur(y * y, window) - mu_y ** 2
    cov = _blur(x * y, window) - mu_x * mu_y
    c1, c2 = K1 ** 2, K2 ** 2  # data range 1
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / \
        ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return index.flatten(1).mean(1)
