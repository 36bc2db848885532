"""Pretrained feature networks, loaded from local files only (never downloaded).

Perceptual losses and distribution metrics need ImageNet-trained networks. gan_engine looks
for their weights in two places, in order:

1. an explicit ``weights_path`` given to the component (in the config, beside its name);
2. the torch hub cache, ``torch.hub.get_dir()/checkpoints/<file name>``, the same file
   torchvision would have downloaded there (e.g. ``vgg19-dcbb9e9d.pth``).

When neither exists, :class:`WeightsNotFoundError` names the file expected, where it was
looked for, the address to fetch it from on a machine with network access, and how to pass
it. The networks are frozen and held by :class:`FrozenNet`, outside the parameter list and
the state dict, so optimisers and checkpoints never see them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gan_engine.errors import CheckpointError, GanEngineError

__all__ = [
    "ALEXNET",
    "INCEPTION_V3",
    "VGG16",
    "VGG19",
    "FrozenNet",
    "PretrainedSpec",
    "WeightsNotFoundError",
    "alexnet_features",
    "hub_checkpoint_dir",
    "inception_v3_features",
    "load_into",
    "load_state_dict_file",
    "resolve_weights",
    "strip_inception_head",
    "vgg_features",
    "vgg_layer_names",
]

PathLike = str | os.PathLike[str]


class WeightsNotFoundError(GanEngineError, FileNotFoundError):
    """Pretrained weights a component needs are not on this machine (nothing is downloaded)."""


@dataclass(frozen=True)
class PretrainedSpec:
    """Where a network's weights come from: the file name torchvision uses and its address."""

    name: str
    file_name: str
    url: str


VGG19 = PretrainedSpec("VGG19", "vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth")
VGG16 = PretrainedSpec("VGG16", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth")
ALEXNET = PretrainedSpec("AlexNet", "alexnet-owt-7be5be79.pth",
                         "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth")
INCEPTION_V3 = PretrainedSpec("Inception-v3", "inception_v3_google-0cc3c7bd.pth",
                              "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth")


def hub_checkpoint_dir() -> Path:
    """The folder torch hub keeps downloaded weights in: ``torch.hub.get_dir()/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_weights(spec: PretrainedSpec, weights_path: PathLike | None = None, *, user: str = "this component",
                    fallbacks: Iterable[Path] = ()) -> Path:
    """Find the weights file of ``spec`` locally.

    Args:
        spec: the network's file name and address.
        weights_path: an explicit file; when given, it must exist.
        user: who needs the weights, for the error message (e.g. ``"loss 'perceptual'"``).
        fallbacks: further files tried after the hub cache (e.g. a copy shipped by a package).

    Raises:
        WeightsNotFoundError: the file is absent; the message says where to put it.
    """
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if path.is_file():
            return path
        raise WeightsNotFoundError(
            f"{user} was given weights_path={str(path)!r} for {spec.name}, but no such file exists. "
            f"Point weights_path at a state-dict file such as {spec.file_name} (from {spec.url}).")
    cache = hub_checkpoint_dir() / spec.file_name
    for candidate in (cache, *fallbacks):
        if candidate.is_file():
            return candidate
    raise WeightsNotFoundError(
        f"{user} needs the pretrained {spec.name} weights: expected the file {spec.file_name} in the torch hub "
        f"cache ({cache.parent}), but it is not there, and gan_engine never downloads. Either copy the file "
        f"there (fetch {spec.url} on a machine with network access, or set TORCH_HOME to a cache that has it), "
        f"or pass weights_path='/path/to/{spec.file_name}' to the component.")


def load_state_dict_file(path: PathLike, prefix: str = "") -> dict[str, Tensor]:
    """Read a state dict saved with :func:`torch.save`, keeping keys under ``prefix`` (stripped).

    A ``{"state_dict": ...}`` wrapper is unwrapped. The file is read with ``weights_only=True``.

    Raises:
        CheckpointError: the file cannot be read or holds no tensors under ``prefix``.
    """
    try:
        state: Any = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read the weights file {str(path)!r}: {type(exc).__name__}: {exc}. "
                              "Expected a state dict saved with torch.save.") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"the weights file {str(path)!r} holds a {type(state).__name__}, not a state dict")
    picked = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not picked:
        raise CheckpointError(f"the weights file {str(path)!r} has no keys starting with {prefix!r}; "
                              f"its first keys are {list(state)[:5]}")
    return picked


def load_into(module: nn.Module, path: PathLike, prefix: str = "", *,
              strict_keys: Collection[str] | None = None) -> None:
    """Load ``path`` (keys under ``prefix``) into ``module``, naming the file on a mismatch.

    Args:
        strict_keys: when given, keys of the file outside this set are ignored (e.g. the
            classifier of a full VGG file when only the features are built).
    """
    state = load_state_dict_file(path, prefix)
    if strict_keys is not None:
        state = {k: v for k, v in state.items() if k in strict_keys}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"the weights file {str(path)!r} does not match the network it is loaded into: "
                              f"{exc}") from exc


class FrozenNet(nn.Module):
    """Holds a frozen network outside the parameter list, the state dict and ``train()``.

    ``.to()``, ``.cuda()``, ``.double()`` and friends still reach the network, so it follows
    the module that owns it to any device and dtype. It stays in evaluation mode.

    Args:
        net: the network; its parameters stop requiring gradients.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        net.eval().requires_grad_(False)
        self.__dict__["net"] = net  # bypasses nn.Module registration on purpose

    @property
    def inner(self) -> nn.Module:
        """The frozen network."""
        net: nn.Module = self.__dict__["net"]
        return net

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> FrozenNet:
        super()._apply(fn, recurse)
        self.inner._apply(fn, recurse)
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner(*args, **kwargs)


_VGG_LAYOUTS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def vgg_layer_names(arch: str) -> list[str]:
    """Names of the layers of ``vgg_features(arch)`` by index: ``conv1_1, relu1_1, ..., pool5``."""
    names, block, conv = [], 1, 1
    for item in _VGG_LAYOUTS[arch]:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


def vgg_features(arch: str) -> nn.Sequential:
    """The convolutional part of VGG16 or VGG19, indexed like torchvision's ``features``."""
    layers: list[nn.Module] = []
    ch = 3
    for item in _VGG_LAYOUTS[arch]:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(ch, int(item), 3, padding=1), nn.ReLU()]
            ch = int(item)
    return nn.Sequential(*layers)


def alexnet_features() -> nn.Sequential:
    """The convolutional part of AlexNet, indexed like torchvision's ``features``."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
    )


def inception_v3_features() -> nn.Module:
    """torchvision's Inception-v3 with the classifier removed: ``(N, 3, H, W)`` → ``(N, 2048)``.

    Built with ``transform_input=True`` as torchvision does for its ImageNet weights, so it
    expects ImageNet-normalised input. Load weights before calling :func:`strip_inception_head`.
    """
    from torchvision.models.inception import Inception3

    net: nn.Module = Inception3(aux_logits=True, transform_input=True, init_weights=False)
    return net


def strip_inception_head(net: nn.Module) -> nn.Module:
    """Drop the auxiliary and final classifiers, so the network returns pooled features."""
    setattr(net, "AuxLogits", None)  # noqa: B010 - attributes of torchvision's Inception3
    setattr(net, "aux_logits", False)  # noqa: B010
    net.fc = nn.Identity()
    return net
