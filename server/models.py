"""Segmentation networks: one registry from names to constructors, plus FCN-8s.

U-Net and DeepLabv3+ come from segmentation-models-pytorch; FCN-8s (Long et al. 2015)
is written here on the VGG16 backbone with the classic pool3/pool4 skip fusion. Every
model maps an N×3×H×W float batch (H, W multiples of 32) to N×num_classes×H×W logits.

Pretrained encoder weights are never downloaded at run time: "imagenet" is used only
when the weights already sit in the local Hugging Face cache (where smp keeps them),
or a `.safetensors` file path is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segmentation_models_pytorch as smp
import torch
from safetensors.torch import load_file
from torch import nn

from server.device import prepare_model
from server.errors import UserError

# Pixel normalisation of every model input: ImageNet statistics, whatever the weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

NO_WEIGHTS = ("", "none", None)


class EncoderWeightsError(UserError):
    """Requested encoder weights are not available locally or do not fit the encoder."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class FCN8s(nn.Module):
    """FCN-8s: VGG features, fc6/fc7 as convolutions, score maps fused at pool4 and pool3.

    The score of pool5 (stride 32) is upsampled ×2 and added to the score of pool4
    (stride 16), upsampled ×2 again and added to the score of pool3 (stride 8), then
    upsampled ×8 to the input size. Transposed convolutions start as bilinear
    interpolation and the skip scores start at zero, as in the paper. fc6 is a 3×3
    convolution of `fc_channels` instead of the original 7×7×4096, which keeps the model
    trainable on a CPU; inputs need no padding trick because H, W are multiples of 32.
    """

    def __init__(
        self,
        num_classes: int,
        encoder: str = "vgg16",
        fc_channels: int = 1024,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if not encoder.startswith("vgg"):
            raise ValueError("FCN-8s is built on a VGG encoder (vgg16 or vgg16_bn)")
        # smp's VGG encoder is torchvision's VGG without the classifier: same layer names,
        # so the same pretrained files load into it.
        self.encoder = smp.encoders.get_encoder(
            encoder, in_channels=in_channels, depth=5, weights=None
        )
        features = self.encoder.features
        pools = [i for i, layer in enumerate(features) if isinstance(layer, nn.MaxPool2d)]
        self._taps = (pools[2], pools[3], pools[4])  # pool3, pool4, pool5
        channels = _channels_before(self.encoder.features, self._taps)
        self.fc = nn.Sequential(
            nn.Conv2d(channels[2], fc_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Dropout2d(0.5),
            nn.Conv2d(fc_channels, fc_channels, 1),
            nn.ReLU(inplace=True),
            nn.Dropout2d(0.5),
        )
        self.score_fr = nn.Conv2d(fc_channels, num_classes, 1)
        self.score_pool4 = nn.Conv2d(channels[1], num_classes, 1)
        self.score_pool3 = nn.Conv2d(channels[0], num_classes, 1)
        for skip in (self.score_pool4, self.score_pool3):
            nn.init.zeros_(skip.weight)
            nn.init.zeros_(skip.bias)  # type: ignore[arg-type]  # Conv2d made with a bias
        self.up2_pool5 = _bilinear_upsampler(num_classes, 2)
        self.up2_pool4 = _bilinear_upsampler(num_classes, 2)
        self.up8 = _bilinear_upsampler(num_classes, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at the input resolution."""
        taps = {}
        for index, layer in enumerate(self.encoder.features):
            x = layer(x)
            if index in self._taps:
                taps[index] = x
        pool3, pool4, pool5 = (taps[i] for i in self._taps)
        score = self.up2_pool5(self.score_fr(self.fc(pool5)))
        score = self.up2_pool4(score + self.score_pool4(pool4))
        return self.up8(score + self.score_pool3(pool3))


def _channels_before(features: nn.Sequential, taps: tuple[int, ...]) -> list[int]:
    """Channel count of the feature map at each tap (the last conv before it)."""
    channels, current = [], 3
    for index, layer in enumerate(features):
        if isinstance(layer, nn.Conv2d):
            current = layer.out_channels
        if index in taps:
            channels.append(current)
    return channels


def _bilinear_upsampler(channels: int, factor: int) -> nn.ConvTranspose2d:
    """A per-class transposed convolution that upsamples exactly ×factor, bilinear at init."""
    kernel = 2 * factor
    layer = nn.ConvTranspose2d(
        channels, channels, kernel, stride=factor, padding=factor // 2, bias=False
    )
    center = (kernel - 1) / 2
    og = torch.arange(kernel, dtype=torch.float32)
    filt = 1 - torch.abs(og - center) / factor
    weight = torch.zeros(channels, channels, kernel, kernel)
    for c in range(channels):
        weight[c, c] = filt[:, None] * filt[None, :]
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


@dataclass(frozen=True)
class Architecture:
    """One entry of the registry: how to build it and which encoders fit it."""

    name: str
    label: str
    build: Callable[[str, int, int], nn.Module]  # (encoder, classes, input channels)
    encoders: tuple[str, ...]
    default_encoder: str
    cpu_warning: str | None = None


RESNET_LIKE = ("resnet18", "resnet34", "resnet50", "efficientnet-b0", "mobilenet_v2")

ARCHITECTURES: dict[str, Architecture] = {
    "unet": Architecture(
        name="unet",
        label="U-Net (Default)",
        build=lambda encoder, n, c: smp.Unet(
            encoder_name=encoder, encoder_weights=None, classes=n, in_channels=c
        ),
        encoders=(*RESNET_LIKE, "vgg16"),
        default_encoder="resnet18",
    ),
    "deeplabv3plus": Architecture(
        name="deeplabv3plus",
        label="DeepLabv3+",
        build=lambda encoder, n, c: smp.DeepLabV3Plus(
            encoder_name=encoder, encoder_weights=None, classes=n, in_channels=c
        ),
        encoders=RESNET_LIKE,
        default_encoder="resnet18",
        cpu_warning="DeepLabv3+ uses dilated convolutions and trains slowly on a CPU.",
    ),
    "fcn8s": Architecture(
        name="fcn8s",
        label="FCN-8s",
        build=lambda encoder, n, c: FCN8s(n, encoder, in_channels=c),
        encoders=("vgg16", "vgg16_bn"),
        default_encoder="vgg16",
    ),
}


def build_model(
    architecture: str,
    encoder: str,
    num_classes: int,
    encoder_weights: str | None = None,
    in_channels: int = 3,
) -> nn.Module:
    """A freshly initialised model from the registry, with encoder weights when asked.

    `encoder_weights`: None/"none", "imagenet" (local cache only) or a .safetensors path.
    `in_channels`: 3 (RGB), or 6 with a context view (RGB of the patch, then of its
    context); pretrained RGB filters of the first convolution are shared between the views.
    Raises KeyError for an unknown architecture, ValueError for an encoder that does not
    fit it, EncoderWeightsError when the weights are unavailable.
    """
    spec = ARCHITECTURES.get(architecture)
    if spec is None:
        raise KeyError(f"unknown architecture {architecture!r}; choose {', '.join(ARCHITECTURES)}")
    if encoder not in spec.encoders:
        raise ValueError(f"{spec.label} does not take encoder {encoder!r}")
    if num_classes < 2:
        raise ValueError("a segmentation model needs at least two classes")
    source = encoder_weights_path(encoder, encoder_weights)
    model = spec.build(encoder, num_classes, in_channels)
    if source is not None:
        load_encoder_weights(model.get_submodule("encoder"), source)
    return model


def context_scale(config: dict[str, Any]) -> int:
    """The context view's factor of training settings or an app config (0: no context
    view); an app made before apps recorded it reads it from its training settings."""
    value = config.get("context_scale")
    if value is None:
        value = ((config.get("training") or {}).get("settings") or {}).get("context_scale")
    return int(value or 0)


def input_channels(config: dict[str, Any]) -> int:
    """Channels of the model input that settings or an app config describe: RGB, plus the
    RGB of a coarser context view when `context_scale` is set."""
    return 6 if context_scale(config) else 3


def model_from_state(
    config: dict[str, Any], state: dict[str, torch.Tensor], device: torch.device | None = None
) -> nn.Module:
    """The model an app config describes with `state` loaded exactly (strict), in eval mode,
    on `device` in its preferred layout (on the CPU when None).

    Raises KeyError/ValueError for a config the registry cannot build, RuntimeError when the
    weights do not fit it.
    """
    classes = config.get("num_classes") or len(config["classes"])
    model = build_model(
        config["architecture"], config["encoder"], classes, in_channels=input_channels(config)
    )
    model.load_state_dict(state, strict=True)
    return prepare_model(model, device or torch.device("cpu")).eval()


def encoder_weights_path(encoder: str, weights: str | None) -> Path | None:
    """The local file holding the requested weights; None for none; else EncoderWeightsError."""
    if weights in NO_WEIGHTS:
        return None
    if weights == "imagenet":
        return _cached_imagenet(encoder)
    path = Path(str(weights)).expanduser()
    if path.suffix != ".safetensors":
        raise EncoderWeightsError(
            "Encoder weights must be 'none', 'imagenet' or a .safetensors file",
            "Pickled checkpoints (.pth) are refused: convert them with "
            "safetensors.torch.save_file.",
        )
    if not path.is_file():
        raise EncoderWeightsError(f"Encoder weights file not found: {path}")
    return path


def _cached_imagenet(encoder: str) -> Path:
    from huggingface_hub import try_to_load_from_cache

    settings = smp.encoders.encoders.get(encoder, {}).get("pretrained_settings", {})
    imagenet = settings.get("imagenet")
    if imagenet is None:
        raise EncoderWeightsError(f"There are no ImageNet weights for encoder {encoder}")
    found = try_to_load_from_cache(
        imagenet["repo_id"], "model.safetensors", revision=imagenet["revision"]
    )
    if not isinstance(found, str):
        raise EncoderWeightsError(
            f"ImageNet weights for {encoder} are not in the local cache",
            f"slidelab never downloads while training: fetch {imagenet['repo_id']} into the "
            "Hugging Face cache once, give a .safetensors file, or choose 'none'.",
        )
    return Path(found)


def imagenet_available(encoder: str) -> bool:
    """Whether ImageNet weights for `encoder` are in the local cache."""
    try:
        _cached_imagenet(encoder)
    except EncoderWeightsError:
        return False
    return True


def load_encoder_weights(encoder: nn.Module, path: Path) -> None:
    """Load a safetensors state dict (encoder keys, or a whole model's "encoder." keys)."""
    state = load_file(str(path), device="cpu")
    if any(k.startswith("encoder.") for k in state):
        state = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    own = encoder.state_dict()
    state = {k: _fit_input_channels(v, own[k]) if k in own else v for k, v in state.items()}
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if len(usable) < len(own) // 2:
        raise EncoderWeightsError(
            f"The weights in {path.name} do not fit this encoder "
            f"({len(usable)} of {len(own)} tensors match)",
            "Pick the encoder these weights were trained for.",
        )
    encoder.load_state_dict(usable, strict=False)


def _fit_input_channels(weights: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """An RGB first-convolution kernel stretched to `own`'s input channels (as smp does):
    the RGB filters repeated for each view and scaled by 3 / channels, so a 6-channel input
    of two identical views gives the pretrained response. Other tensors unchanged."""
    if weights.dim() != 4 or own.dim() != 4 or weights.shape == own.shape:
        return weights
    if weights.shape[1] != 3 or (weights.shape[0], *weights.shape[2:]) != (
        own.shape[0],
        *own.shape[2:],
    ):
        return weights
    channels = own.shape[1]
    repeated = weights.repeat(1, math.ceil(channels / 3), 1, 1)[:, :channels]
    return repeated * (3 / channels)
