"""Your own model by import path: `--model mypackage.nets:small_cnn` calls `small_cnn(num_classes=...,
in_channels=...)` (the keywords it accepts) from a module importable here or in the current folder.

The run's identity holds the path, not the code: change the factory and give it a new name (or a new
module version), or cached runs of the old one will be reused.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

import torch.nn as nn

from bench.errors import BenchError

PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def is_import_path(name: str) -> bool:
    return bool(PATH.match(name))


def build(path: str, num_classes: int, in_channels: int) -> nn.Module:
    module_name, attr = path.split(":")
    factory = getattr(_import(module_name, path), attr, None)
    if not callable(factory):
        raise BenchError(f"--model {path}: module {module_name} has no callable {attr!r}")
    accepted = inspect.signature(factory).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    kwargs = {k: v for k, v in (("num_classes", num_classes), ("in_channels", in_channels)) if takes_any or k in accepted}
    try:
        model = factory(**kwargs)
    except Exception as exc:  # the user's code: any failure is theirs to see, in one line
        raise BenchError(f"--model {path}: {attr}({', '.join(f'{k}={v}' for k, v in kwargs.items())}) failed: "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(model, nn.Module):
        raise BenchError(f"--model {path}: {attr}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _import(module_name: str, path: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        pass
    except Exception as exc:
        raise BenchError(f"--model {path}: importing {module_name} failed: {type(exc).__name__}: {exc}") from None
    # The `bench` script does not put the current folder on the import path as `python -m` does.
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise BenchError(f"--model {path}: cannot import {module_name} (install it, or run from the folder that holds it)") from None
    except Exception as exc:
        raise BenchError(f"--model {path}: importing {module_name} failed: {type(exc).__name__}: {exc}") from None
