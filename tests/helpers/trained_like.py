"""A model that looks trained to the pruning criteria, shared by the layout and parity tests."""

import torch

from bench.models import build_model


def trained_like(name: str = "resnet20", in_channels: int = 1, seed: int = 0) -> torch.nn.Module:
    """Distinct BatchNorm scales, shifts and statistics, as after training: a fresh network has every
    scale 1 and mean 0, which hides BatchNorm constants and ties every slimming score."""
    torch.manual_seed(seed)
    model = build_model(name, num_classes=10, in_channels=in_channels).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.2)
                m.bias.copy_(torch.rand(m.bias.shape, generator=gen) - 0.5)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return model
