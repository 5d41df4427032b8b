"""The fields of a record that its run specification determines, checked against the spec it carries.

A record's run id is the hash of its spec, so a spec cannot be edited without renaming the record;
the rest of the record can. Everything the spec alone decides (the adapter's name, version, kind and
arguments, the target, the layout, the model, the dataset and its split, the protocol, the seeds, which
controls ran, where the dense weights came from) is recomputed here from the spec and compared, so
that a record cannot carry another run's target or protocol under its own id. What needs the dense
weights and training (the structure a method picks, the numbers) is `bench verify`'s to recompute.
"""

from __future__ import annotations

from bench.core import shipped
from bench.core.config import to_jsonable
from bench.errors import BenchError
from bench.evaluation.spec import RunSpec

# The record's `adapter` fields that come from the adapter's class and arguments (package and module
# are where it was installed, which the spec does not fix).
_ADAPTER_FIELDS = ("name", "version", "kind", "allocation", "paper", "args")


def record_spec(record: dict) -> RunSpec:
    """The spec a record carries, read as `validate` and `verify` read it. A record names a protocol of
    protocols/ (or a synthesized `<schedule>-<epochs>`), never a file: anyone re-running it must find the
    same protocol, and no record may make a checker read files of its choosing."""
    data = record.get("spec")
    if not isinstance(data, dict):
        raise BenchError("spec: the record has no run specification")
    protocol = data.get("protocol")
    if not isinstance(protocol, str) or "/" in protocol or "\\" in protocol or protocol.endswith(".toml"):
        raise BenchError("spec.protocol: a record names a protocol of protocols/ (`bench list protocols`), not a file")
    try:
        return RunSpec.from_dict(data, check_checkpoint=False)
    except BenchError as exc:
        raise BenchError(f"spec: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError):  # a field of the wrong JSON type
        raise BenchError("spec: a field has the wrong type for a run specification") from None


def expected(spec: RunSpec, layout: dict | None) -> dict[str, object]:
    """Field path → the value the spec gives it. `layout`: the layout the spec prunes in, as the model
    resolves it (recount.py builds the model), or None where the spec prunes in none (unstructured)."""
    adapter = spec.make_adapter()
    protocol = _protocol({k: v for k, v in spec.resolved_protocol.to_dict().items() if v is not None})
    if spec.iterations > 1:
        protocol["iterations"] = spec.iterations
    fields: dict[str, object] = {
        **{f"adapter/{k}": v for k, v in zip(_ADAPTER_FIELDS, (
            adapter.name, adapter.version, adapter.kind, adapter.allocation, adapter.paper, to_jsonable(adapter.hparams)))},
        "target/description": spec.target.describe(),
        **{f"target/{k}": v for k, v in spec.target.to_dict().items()},
        "model": spec.model,
        "dataset/name": spec.dataset,
        "dataset/split_seed": spec.split_seed,
        "protocol": protocol,
        "seeds": list(spec.seeds),
        "random_control/present": spec.random_control,
    }
    if layout is not None:
        fields["layout"] = layout
    else:
        fields["layout/present"] = False  # an unstructured record states no layout
    if spec.checkpoint_sha256 is None:
        fields["dense/seed"] = spec.dense_seed
    elif (copy := shipped.by_sha256(spec.checkpoint_sha256)) is not None:
        fields["dense/weights_sha256"] = copy.weights_sha256  # a shipped file holds known weights
    if not spec.allocation_control:
        fields["allocation_control/present"] = False
    return fields


def _protocol(protocol: object) -> object:
    """A protocol's fields as its spec fixes them: Scratch-B's epochs follow from the pruned network."""
    if isinstance(protocol, dict) and protocol.get("flops_ratio") is not None:
        return {k: v for k, v in protocol.items() if k not in ("epochs", "flops_ratio")}
    return protocol


def actual(record: dict, path: str) -> object:
    """The record's value at a field path of `expected` (`x/present`: whether the arm is in it)."""
    if path.endswith("/present"):
        return record.get(path.split("/")[0]) is not None
    if path == "protocol":
        return _protocol(record.get("protocol"))
    value: object = record
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def problems(record: dict, spec: RunSpec, layout: dict | None) -> list[str]:
    """`field: message` for each field that is not what the spec gives it (the field's path, never
    its value: values come from the record and may be anything)."""
    return [
        f"{path}: not what the record's spec gives (the spec determines this field)"
        for path, value in expected(spec, layout).items()
        if actual(record, path) != value
    ]
