"""Model zoo: CIFAR ResNets, VGG-16, DenseNet-40, plus any torchvision model and `timm:<name>`.

Models may define optional hints that the core uses (it never branches on a model name):
`feature_maps()` (conv name → module whose output is that conv's feature map),
`pruning_layouts()` (which convs a ratio prunes and how residual channels are coupled, as plain data;
see bench/pruning/layouts.py) and `init_parameters()` (the model's own initialization, which the
Scratch protocols reapply to a pruned copy after resetting every module; bench/models/init.py).
"""

from __future__ import annotations

from typing import Callable

import torch.nn as nn

from bench.errors import UnknownNameError, did_you_mean
from bench.infra.registry import Registry, normalize
from bench.models import cifar_resnet, densenet, external, user, vgg

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
for _fn in (
    cifar_resnet.resnet20,
    cifar_resnet.resnet32,
    cifar_resnet.resnet44,
    cifar_resnet.resnet56,
    cifar_resnet.resnet110,
    vgg.vgg16,
    densenet.densenet40,
):
    MODELS.add(_fn.__name__, _fn)

TIMM_PREFIX = "timm:"


def build_model(name: str, *, num_classes: int, in_channels: int) -> nn.Module:
    """Built-in names first, then `timm:<name>`, then torchvision's classification models."""
    if name.startswith(TIMM_PREFIX):
        return external.build_timm(name[len(TIMM_PREFIX) :], num_classes, in_channels)
    if user.is_import_path(name):  # your own: package.module:factory
        return user.build(name, num_classes, in_channels)
    if name in MODELS:
        return MODELS.get(name)(num_classes=num_classes, in_channels=in_channels)
    tv_names = external.torchvision_names()
    if name in tv_names:
        return external.build_torchvision(name, num_classes, in_channels)
    hint = did_you_mean(normalize(name), MODELS.names() + tv_names, n=3)
    raise UnknownNameError(
        f"unknown model {name!r}{hint} (built-ins: {', '.join(MODELS.names())}; "
        "also any torchvision classification model, timm:<name>, or your own as package.module:factory)"
    )
