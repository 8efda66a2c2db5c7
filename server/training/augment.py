"""Batched augmentation on tensors (on the training device): geometry, colour, stain, blur.

Every sample in a batch gets its own random parameters, but each operation is one
batched tensor op, so the cost stays small next to the model step on CPU and GPU.
Geometry (flips, 90° rotations, scale jitter) is one `grid_sample` from the sampler's
crop (larger than the patch when scale jitter is on) to the patch; labels are sampled
with nearest neighbour so they stay class indices.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from server.training.models import IMAGENET_MEAN, IMAGENET_STD
from server.training.sampler import IGNORE

# Ruifrok & Johnston's H&E(-DAB) optical-density vectors (rows: haematoxylin, eosin, DAB).
_RGB_FROM_HED = torch.tensor(
    [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], dtype=torch.float32
)
_RGB_FROM_HED = _RGB_FROM_HED / _RGB_FROM_HED.norm(dim=1, keepdim=True)
_HED_FROM_RGB = torch.linalg.inv(_RGB_FROM_HED)
_LUMA = (0.299, 0.587, 0.114)
_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


@functools.cache
def _constants(device: torch.device) -> dict[str, torch.Tensor]:
    """Constant tensors, copied to each device once: a copy from host memory per step
    would wait for the GPU to finish its queued work and stall the pipeline."""
    host = {
        "mean": torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
        "std": torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
        "luma": torch.tensor(_LUMA).view(1, 3, 1, 1),
        "to_yiq": _TO_YIQ,
        "from_yiq": torch.linalg.inv(_TO_YIQ),
        "hed_from_rgb_t": _HED_FROM_RGB.T.contiguous(),
        "rgb_from_hed_t": _RGB_FROM_HED.T.contiguous(),
    }
    return {k: v.to(device) for k, v in host.items()}


@dataclass(frozen=True)
class AugmentConfig:
    """What to vary; zero switches an effect off."""

    flips: bool = True
    rotate90: bool = True
    scale_jitter: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    stain_jitter: float = 0.0
    blur: float = 0.0

    @classmethod
    def from_settings(cls, augmentation: dict) -> AugmentConfig:
        """From the `augmentation` group of validated settings."""
        return cls(**{k: augmentation[k] for k in cls.__dataclass_fields__})


def crop_size(patch: int, scale_jitter: float) -> int:
    """The sampler's crop: big enough that zooming out by 1 + jitter stays inside it."""
    return patch if scale_jitter <= 0 else int(math.ceil(patch * (1 + scale_jitter)))


def to_float(images: torch.Tensor) -> torch.Tensor:
    """B×H×W×3 uint8 -> B×3×H×W float in [0, 1]."""
    return images.permute(0, 3, 1, 2).float().div_(255)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB -> the model input ((x - mean) / std, ImageNet statistics)."""
    const = _constants(x.device)
    return (x - const["mean"]) / const["std"]


def center(images: torch.Tensor, labels: torch.Tensor, patch: int):
    """Centre crop uint8 images B×H×W×3 and labels B×H×W to `patch` (no augmentation)."""
    off = (images.shape[1] - patch) // 2
    sl = slice(off, off + patch)
    return normalize(to_float(images[:, sl, sl])), labels[:, sl, sl].long()


def augment(
    images: torch.Tensor,
    labels: torch.Tensor,
    patch: int,
    cfg: AugmentConfig,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented, normalised B×3×P×P float images and B×P×P long labels from uint8 crops."""
    x = to_float(images)
    y = labels.long()
    x, y = _geometry(x, y, patch, cfg, gen)
    x = _colour(x, cfg, gen)
    if cfg.stain_jitter > 0:
        x = _stain(x, cfg.stain_jitter, gen)
    if cfg.blur > 0:
        x = _blur(x, cfg.blur, gen)
    return normalize(x.clamp_(0, 1)), y


def _uniform(gen: torch.Generator, n: int, low: float, high: float, device) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=device) * (high - low) + low


def _geometry(x, y, patch: int, cfg: AugmentConfig, gen: torch.Generator):
    n, dev = x.shape[0], x.device
    crop = x.shape[-1]
    if not (cfg.flips or cfg.rotate90 or cfg.scale_jitter > 0) and crop == patch:
        return x, y
    # theta maps output coordinates in [-1, 1] to input coordinates in [-1, 1].
    span = torch.full((n,), patch / crop, device=dev)
    if cfg.scale_jitter > 0:
        j = math.log1p(cfg.scale_jitter)
        span = span * torch.exp(_uniform(gen, n, -j, j, dev)).clamp(max=crop / patch)
    k = torch.randint(4, (n,), generator=gen, device=dev) if cfg.rotate90 else None
    angle = (k.float() * (math.pi / 2)) if k is not None else torch.zeros(n, device=dev)
    cos, sin = torch.cos(angle).round(), torch.sin(angle).round()
    fx = torch.ones(n, device=dev)
    if cfg.flips:
        fx = torch.where(torch.rand(n, generator=gen, device=dev) < 0.5, -fx, fx)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0] = cos * fx * span
    theta[:, 0, 1] = -sin * span
    theta[:, 1, 0] = sin * fx * span
    theta[:, 1, 1] = cos * span
    grid = F.affine_grid(theta, [n, 1, patch, patch], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # +1 so that out-of-crop samples (0 from zero padding) become IGNORE after the shift.
    shifted = (y + 1).unsqueeze(1).float()
    yy = F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    yy = yy.squeeze(1).long() - 1
    return x, torch.where(yy < 0, torch.full_like(yy, IGNORE), yy)


def _colour(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    n, dev = x.shape[0], x.device
    shape = (n, 1, 1, 1)
    luma = _constants(dev)["luma"]
    if cfg.brightness > 0:
        x = x * _uniform(gen, n, 1 - cfg.brightness, 1 + cfg.brightness, dev).view(shape)
    if cfg.contrast > 0:
        mean = (x * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
        factor = _uniform(gen, n, 1 - cfg.contrast, 1 + cfg.contrast, dev).view(shape)
        x = (x - mean) * factor + mean
    if cfg.saturation > 0:
        grey = (x * luma).sum(1, keepdim=True)
        factor = _uniform(gen, n, 1 - cfg.saturation, 1 + cfg.saturation, dev).view(shape)
        x = (x - grey) * factor + grey
    if cfg.hue > 0:
        x = _hue(x, _uniform(gen, n, -cfg.hue, cfg.hue, dev) * 2 * math.pi)
    return x


def _hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate hue by `angle` (radians, per sample) in YIQ space."""
    dev = x.device
    to_yiq, from_yiq = _constants(dev)["to_yiq"], _constants(dev)["from_yiq"]
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(x.shape[0], 3, 3, device=dev)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2] = cos, -sin
    rot[:, 2, 1], rot[:, 2, 2] = sin, cos
    matrix = from_yiq @ rot @ to_yiq  # B×3×3
    return torch.einsum("bij,bjhw->bihw", matrix, x)


def _stain(x: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """H&E jitter (Tellez et al.): scale and shift each stain's optical density per sample."""
    n, dev = x.shape[0], x.device
    od = -torch.log(x.clamp(min=1 / 255))
    hed = torch.einsum("ij,bjhw->bihw", _constants(dev)["hed_from_rgb_t"], od)
    alpha = _uniform(gen, n * 3, 1 - sigma, 1 + sigma, dev).view(n, 3, 1, 1)
    beta = _uniform(gen, n * 3, -sigma, sigma, dev).view(n, 3, 1, 1)
    hed = hed * alpha + beta
    od = torch.einsum("ij,bjhw->bihw", _constants(dev)["rgb_from_hed_t"], hed)
    return torch.exp(-od)


def _blur(x: torch.Tensor, max_sigma: float, gen: torch.Generator) -> torch.Tensor:
    """Gaussian blur with a random sigma in [0, max_sigma] per sample (one grouped conv)."""
    n, c, h, w = x.shape
    dev = x.device
    radius = max(1, math.ceil(3 * max_sigma))
    sigma = _uniform(gen, n, 0, max_sigma, dev).clamp(min=1e-3)
    taps = torch.arange(-radius, radius + 1, device=dev, dtype=torch.float32)
    kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n*c)×K
    flat = x.reshape(1, n * c, h, w)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(n * c, 1, 1, -1), groups=n * c)
    flat = F.conv2d(flat, kernel.view(n * c, 1, -1, 1), groups=n * c)
    return flat.view(n, c, h, w)
