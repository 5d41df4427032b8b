"""Data, models and user checkpoints, with one-line errors for what does not fit."""

from __future__ import annotations

import io
from pathlib import Path

import torch
import torch.nn as nn

from bench.data import DataBundle, DatasetSpec, load_dataset
from bench.errors import BenchError
from bench.infra import distributed
from bench.infra import files
from bench.models import build_model


def load_data(dataset: str, device: torch.device, *, split_seed: int = 0, data_root: str | None = None, download: bool = False) -> DataBundle:
    return load_dataset(dataset, data_root=data_root, download=download, device=device, split_seed=split_seed)


def example_inputs(spec: DatasetSpec, device: torch.device, batch_size: int = 1) -> torch.Tensor:
    """Zeros of the dataset's input shape: enough for tracing and counting, no data needed."""
    return torch.zeros(batch_size, *spec.input_shape, device=device)


def new_model(model_name: str, spec: DatasetSpec, device: torch.device) -> nn.Module:
    model = build_model(model_name, num_classes=spec.num_classes, in_channels=spec.in_channels).to(device)
    try:
        model.eval()
        with torch.no_grad():
            model(example_inputs(spec, device, 2))
    except Exception as exc:  # noqa: BLE001 (each library fails its own way: RuntimeError, timm/torchvision asserts)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise BenchError(f"model {model_name!r} cannot run on {spec.name} inputs of shape {spec.input_shape}: {first}") from None
    return model


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """User weights: loaded with weights_only=True (no code runs), a state dict or {'state_dict'|'model': ...}."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BenchError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises many types for corrupt or non-weights files
        raise BenchError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BenchError(f"checkpoint {path} does not hold a state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise BenchError(f"checkpoint {path} does not fit the model: {_misfit(model.state_dict(), state)}") from None


def _misfit(expected: dict, given: dict) -> str:
    """What of a state dict does not fit a model, counted, with the first of each kind (torch lists
    every key: 72 for ResNet-32 weights in a ResNet-20)."""
    kinds = {
        "unexpected key(s)": [k for k in given if k not in expected],
        "missing key(s)": [k for k in expected if k not in given],
        "tensor(s) of another shape": [
            f"{k} {tuple(given[k].shape)} for {tuple(expected[k].shape)}"
            for k in expected if k in given and given[k].shape != expected[k].shape
        ],
    }
    return "; ".join(f"{len(found)} {kind}, e.g. {found[0]}" for kind, found in kinds.items() if found)


def save_weights(model: nn.Module, path: Path) -> None:
    """A state dict, written atomically (rank 0 only)."""
    if not distributed.is_main():
        return
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    files.write_atomic(path, buffer.getvalue())


def load_weights(model: nn.Module, path: Path) -> bool:
    """Load a state dict this tool wrote into `model` (rank 0 reads, every rank gets it); False if unreadable."""
    device = next(model.parameters()).device

    def read() -> bool:
        try:
            model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
            return True
        except Exception:  # an unreadable cache file is recomputed, never trusted
            return False

    ok = distributed.from_main(read)
    if ok:
        distributed.broadcast_state(model)
    return ok
