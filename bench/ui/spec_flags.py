"""The command line's flags for a run's specification, generated from RunSpec's options
(bench/evaluation/options.py), and the RunSpec fields they give back.

A field's flag, type, choices, default and help are written once, on the field; `bench evaluate`,
`bench prune` and `bench train` add the flags of the fields they take. The target's four flags (one
of --ratio, --speedup, --compress-rate, --config) are worded here: one field, four ways to ask.
"""

from __future__ import annotations

import argparse
from typing import Any, Iterable

from bench import defaults
from bench.errors import BenchError
from bench.evaluation.options import RUN_OPTIONS, Option, flagged


def add_spec_flags(parser: argparse.ArgumentParser, names: Iterable[str] | None = None, *,
                   required: tuple[str, ...] = ("adapter",), groups: dict[str, Any] | None = None) -> None:
    """Add the flags of RunSpec's fields `names` (default: all), in field order, into their sections
    (`groups`: title → argument group, created on first use)."""
    groups = {} if groups is None else groups
    for opt in flagged(names):
        where = parser
        if opt.group:
            where = groups.setdefault(opt.group, parser.add_argument_group(opt.group))
        if opt.name == "target":
            _add_target_flags(where)
            continue
        where.add_argument(opt.flag, **_argparse_kwargs(opt, opt.name in required))


def _argparse_kwargs(opt: Option, required: bool) -> dict[str, Any]:
    if opt.name == "hparams":
        return {"action": "append", "default": [], "metavar": "KEY=VALUE", "help": opt.help, "dest": "hp"}
    if opt.name == "device":
        return {"default": "auto", "help": opt.help}
    kwargs: dict[str, Any] = {"dest": opt.name, "help": opt.help}
    if bool in opt.kinds:
        kwargs["action"] = "store_false" if opt.negated else "store_true"
        return kwargs
    if required:
        kwargs["required"] = True
    else:
        kwargs["default"] = opt.default
        if opt.default is not None:
            kwargs["help"] = f"{opt.help}; default {_shown(opt.default)}"
    if opt.choices:
        kwargs["choices"] = opt.choices
    elif opt.convert or opt.kinds[0] is not str:
        kwargs["type"] = _typed(opt)
    if opt.metavar:
        kwargs["metavar"] = opt.metavar
    return kwargs


def _typed(opt: Option):
    """The option's conversion as an argparse type: its BenchError becomes argparse's one-line error."""
    convert = opt.convert or opt.kinds[0]

    def parse(text: str) -> Any:
        try:
            return convert(text)
        except (BenchError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc) or f"invalid value {text[:40]!r}") from None

    parse.__name__ = opt.name  # argparse names the type in its "invalid <name> value" message
    return parse


def _shown(default: Any) -> str:
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    return str(default)


def _add_target_flags(parser) -> None:
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--ratio", type=float, help="fraction of channels (or weights) removed per layer, in (0, 1); default 0.5")
    g.add_argument(
        "--speedup", type=float, metavar="S",
        help="a cost: prune until dense FLOPs / pruned FLOPs = S (structured adapters; searched in the adapter's "
        "layout, within 0.5%% of the dense FLOPs), so that methods compare at the same FLOPs",
    )
    g.add_argument("--compress-rate", help="per-layer rates in HRankPlus syntax, one per entry of the layout, e.g. '[0.]+[0.18]*29' (ResNet-56, hrankplus layout)")
    g.add_argument("--config", help="a named configuration of the adapter, e.g. resnet56-B for l1-norm")


def target_from(args: argparse.Namespace):
    from bench.pruning import Target, parse_compress_rate  # lazy: torch; `bench --help` never needs it

    if args.compress_rate is not None:
        return Target(compress_rate=parse_compress_rate(args.compress_rate))
    if args.config is not None:
        return Target(config=args.config)
    if args.speedup is not None:
        return Target(speedup=args.speedup)
    return Target(ratio=defaults.RATIO if args.ratio is None else args.ratio)


def hparams_from(args: argparse.Namespace):
    from bench.pruning import get_adapter, parse_hparams  # lazy: torch

    return parse_hparams(get_adapter(args.adapter), args.hp)


def spec_fields(args: argparse.Namespace) -> dict[str, Any]:
    """RunSpec's fields from parsed flags; the device, thread count, compile and world size are the
    process's (`api.specify` sets them)."""
    fields: dict[str, Any] = {}
    for opt in flagged():
        if opt.name in ("device", "threads"):
            continue
        if opt.name == "target":
            fields["target"] = target_from(args)
        elif opt.name == "hparams":
            fields["hparams"] = hparams_from(args)
        else:
            fields[opt.name] = getattr(args, opt.name)
    return fields


seed_list = _typed(RUN_OPTIONS["seeds"])  # --seeds of the commands that take seeds outside a spec (`bench verify`)
