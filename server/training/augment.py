"""Batched augmentation on tensors (on the training device): geometry, colour, stain, blur.

Every sample gets its own random parameters, drawn on the CPU and composed there into
small per-sample matrices: one affine map for the geometry (flips, 90° rotations, scale
jitter), one 3×3 colour map plus offset (brightness, contrast, saturation, hue, and the
/255 scaling), one 3×3 map in optical-density space (H&E stain jitter). The device then
does only image-sized work, a few batched kernels, which matters on a GPU where each
small kernel launch costs as much as the work. Labels follow the geometry with nearest
neighbour sampling, so they stay class indices.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from server.models import IMAGENET_MEAN, IMAGENET_STD

# Ruifrok & Johnston's H&E(-DAB) optical-density vectors (rows: haematoxylin, eosin, DAB).
_RGB_FROM_HED = torch.tensor(
    [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], dtype=torch.float64
)
_RGB_FROM_HED = _RGB_FROM_HED / _RGB_FROM_HED.norm(dim=1, keepdim=True)
_HED_FROM_RGB = torch.linalg.inv(_RGB_FROM_HED)
_LUMA = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64
)
_FROM_YIQ = torch.linalg.inv(_TO_YIQ)
_OD_FLOOR = 1 / 255  # optical density of a fully transmitted pixel is -log(1) = 0; cap at 255


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

    @property
    def colour(self) -> bool:
        """Whether any colour effect is on."""
        return any((self.brightness, self.contrast, self.saturation, self.hue))


def crop_size(patch: int, scale_jitter: float) -> int:
    """The sampler's crop: big enough that zooming out by 1 + jitter stays inside it."""
    return patch if scale_jitter <= 0 else int(math.ceil(patch * (1 + scale_jitter)))


@functools.cache
def _constants(device: torch.device) -> dict[str, torch.Tensor]:
    """Constant tensors, copied to each device once (a copy from pageable host memory
    per step would wait for the GPU's queued work and stall the pipeline)."""
    host = {
        "mean": torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
        "std": torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
        "luma": _LUMA.float().view(1, 3),
    }
    return {k: v.to(device) for k, v in host.items()}


def to_float(images: torch.Tensor) -> torch.Tensor:
    """B×H×W×C uint8 -> B×C×H×W float in [0, 1]."""
    return images.permute(0, 3, 1, 2).float().div_(255)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB (or several RGB views side by side in the channels, e.g. a patch and its
    context) -> the model input ((x - mean) / std, ImageNet statistics, per view)."""
    const = _constants(x.device)
    views = _views(x)
    return ((views - const["mean"]) / const["std"]).view_as(x)


def _views(x: torch.Tensor) -> torch.Tensor:
    """B×3V×H×W -> (B·V)×3×H×W: each RGB view a sample of its own (a view, no copy)."""
    n, c, h, w = x.shape
    return x.reshape(n * (c // 3), 3, h, w)


def center(images: torch.Tensor, labels: torch.Tensor, patch: int):
    """Centre crop uint8 images B×H×W×C and labels B×H×W to `patch` (no augmentation)."""
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
    """Augmented, normalised B×C×P×P float images and B×P×P long labels from uint8 crops.

    C is 3, or 6 for crops with their context view (`sampler.add_context`): both views
    get the sample's geometry (about the shared centre, so the context stays `factor`
    times the patch's field of view) and its colour, stain and blur.
    `gen` is a CPU generator: every random parameter is drawn from it, whatever the device.
    """
    n, crop, dev = images.shape[0], images.shape[1], images.device
    params = _parameters(n, crop, patch, cfg, gen)
    params = {k: _send(v, dev) for k, v in params.items()}
    x = images.permute(0, 3, 1, 2).float()  # 0..255; the colour map divides by 255
    y = labels
    if "theta" in params:
        grid = F.affine_grid(params["theta"], [n, 1, patch, patch], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        # The crop always covers the output (see crop_size), so nothing samples outside it.
        y = F.grid_sample(
            y.unsqueeze(1).float(), grid, mode="nearest", padding_mode="border", align_corners=False
        ).squeeze(1)
    views = x.shape[1] // 3
    if views > 1:  # each view gets its sample's colour and stain maps
        shape = x.shape
        per_view = ("colour", "colour_shift", "stain", "stain_offset")
        params = {
            k: v.repeat_interleave(views, 0) if k in per_view else v for k, v in params.items()
        }
        x = _views(x)
    x = _colour(x, params)
    if "stain" in params:
        od = torch.log(x.clamp(min=_OD_FLOOR)).neg_()
        od = torch.einsum("bij,bjhw->bihw", params["stain"], od) + params["stain_offset"]
        x = torch.exp(od.neg_())
    if views > 1:
        x = x.reshape(shape)
    if cfg.blur > 0:
        x = _blur(x, params["sigma"], cfg.blur)
    return normalize(x.clamp_(0, 1)), y.long()


def _send(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    tensor = tensor.float()
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _parameters(n: int, crop: int, patch: int, cfg: AugmentConfig, gen: torch.Generator):
    """Per-sample maps (float64 on the CPU): theta, colour, colour_shift, stain, sigma."""
    u = torch.rand(n, 14, generator=gen, dtype=torch.float64)
    out = {}
    if cfg.flips or cfg.rotate90 or cfg.scale_jitter > 0 or crop != patch:
        out["theta"] = _theta(u[:, :3], crop, patch, cfg)
    out |= _colour_maps(u[:, 3:7], cfg)
    if cfg.stain_jitter > 0:
        out |= _stain_maps(u[:, 7:10], u[:, 10:13], cfg.stain_jitter)
    if cfg.blur > 0:
        out["sigma"] = (u[:, 13] * cfg.blur).clamp(min=1e-3)
    return out


def _theta(u: torch.Tensor, crop: int, patch: int, cfg: AugmentConfig) -> torch.Tensor:
    """Affine maps from output to input coordinates ([-1, 1] each), one per sample."""
    n = u.shape[0]
    span = torch.full((n,), patch / crop, dtype=torch.float64)
    if cfg.scale_jitter > 0:
        j = math.log1p(cfg.scale_jitter)
        span = (span * torch.exp((2 * u[:, 0] - 1) * j)).clamp(max=crop / patch)
    quarter = (u[:, 1] * 4).floor().clamp(max=3) if cfg.rotate90 else torch.zeros(n)
    cos = torch.cos(quarter * math.pi / 2).round()
    sin = torch.sin(quarter * math.pi / 2).round()
    fx = torch.where(u[:, 2] < 0.5, -1.0, 1.0) if cfg.flips else torch.ones(n)
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = cos * fx * span
    theta[:, 0, 1] = -sin * span
    theta[:, 1, 0] = sin * fx * span
    theta[:, 1, 1] = cos * span
    return theta


def _colour_maps(u: torch.Tensor, cfg: AugmentConfig) -> dict[str, torch.Tensor]:
    """x ↦ A·x + w·mean_luma(x): brightness, contrast (around the mean grey), saturation,
    hue rotation in YIQ space, and the scaling from 0..255 to 0..1, composed."""
    n = u.shape[0]
    eye = torch.eye(3, dtype=torch.float64).expand(n, 3, 3)

    def factor(k: int, amount: float) -> torch.Tensor:
        return 1 + (2 * u[:, k] - 1) * amount

    b, c, s = factor(0, cfg.brightness), factor(1, cfg.contrast), factor(2, cfg.saturation)
    grey = torch.ones(3, 1, dtype=torch.float64) @ _LUMA.view(1, 3)  # x ↦ luma(x) in R=G=B
    sat = s.view(n, 1, 1) * eye + (1 - s).view(n, 1, 1) * grey
    angle = (2 * u[:, 3] - 1) * cfg.hue * 2 * math.pi
    rot = torch.zeros(n, 3, 3, dtype=torch.float64)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2] = torch.cos(angle), -torch.sin(angle)
    rot[:, 2, 1], rot[:, 2, 2] = torch.sin(angle), torch.cos(angle)
    hue = _FROM_YIQ @ rot @ _TO_YIQ
    after = hue @ sat  # the linear maps after contrast
    # contrast: c·(b·x − m) + m with m = mean luma of b·x = b·mean_luma(x)
    matrix = (c * b).view(n, 1, 1) * after / 255
    shift = ((1 - c) * b / 255).view(n, 1) * after.sum(2)  # × mean_luma(x) of 0..255 pixels
    return {"colour": matrix, "colour_shift": shift}


def _colour(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Apply the per-sample colour map to 0..255 pixels, giving 0..1 pixels."""
    mean_luma = (x.mean((2, 3)) * _constants(x.device)["luma"]).sum(1, keepdim=True)
    shift = (params["colour_shift"] * mean_luma).view(-1, 3, 1, 1)
    return torch.einsum("bij,bjhw->bihw", params["colour"], x) + shift


def _stain_maps(ua: torch.Tensor, ub: torch.Tensor, sigma: float) -> dict[str, torch.Tensor]:
    """H&E jitter (Tellez et al.): each stain's optical density scaled by α and shifted by
    β per sample, as one 3×3 map (and offset) on the RGB optical densities."""
    n = ua.shape[0]
    alpha = 1 + (2 * ua - 1) * sigma
    beta = (2 * ub - 1) * sigma
    # Row vectors: od_rgb = hed @ RGB_FROM_HED and hed = od_rgb @ HED_FROM_RGB.
    to_hed = _HED_FROM_RGB.T  # column form: hed = to_hed @ od
    from_hed = _RGB_FROM_HED.T
    matrix = from_hed @ torch.diag_embed(alpha) @ to_hed
    offset = (beta @ _RGB_FROM_HED).view(n, 3, 1, 1)
    return {"stain": matrix, "stain_offset": offset}


def _blur(x: torch.Tensor, sigma: torch.Tensor, max_sigma: float) -> torch.Tensor:
    """Gaussian blur with each sample's sigma (one grouped, separable convolution)."""
    n, c, h, w = x.shape
    radius = max(1, math.ceil(3 * max_sigma))
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float32)
    kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n*c)×K
    flat = x.reshape(1, n * c, h, w)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(n * c, 1, 1, -1), groups=n * c)
    flat = F.conv2d(flat, kernel.view(n * c, 1, -1, 1), groups=n * c)
    return flat.view(n, c, h, w)
