"""Models from other libraries: any torchvision classification model by name, any timm model as
`timm:<name>`. Both are built without pretrained weights (nothing is downloaded); use
`--checkpoint` to start from your own weights."""

from __future__ import annotations


import torch.nn as nn

from bench.errors import UnknownNameError, did_you_mean


def torchvision_names() -> list[str]:
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def build_torchvision(name: str, num_classes: int, in_channels: int) -> nn.Module:
    import torchvision.models as tvm

    model = tvm.get_model(name, weights=None, num_classes=num_classes)
    if in_channels != 3:
        _replace_input_conv(model, in_channels)
    return model


def build_timm(name: str, num_classes: int, in_channels: int) -> nn.Module:
    import timm

    if not timm.is_model(name):  # an exact name: list_models would take `resnet*` as a pattern
        hint = did_you_mean(name, timm.list_models(), n=3, show=lambda c: f"timm:{c}")
        raise UnknownNameError(f"unknown timm model {name!r}{hint}")
    return timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_channels)


def _replace_input_conv(model: nn.Module, in_channels: int) -> None:
    """torchvision models hard-code 3 input channels; swap the first conv for one that takes the
    dataset's channel count (e.g. 1 for digits), keeping every other hyperparameter."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == 3:
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(
                parent,
                attr,
                nn.Conv2d(
                    in_channels,
                    module.out_channels,
                    module.kernel_size,
                    module.stride,
                    module.padding,
                    module.dilation,
                    module.groups,
                    module.bias is not None,
                ),
            )
            return
