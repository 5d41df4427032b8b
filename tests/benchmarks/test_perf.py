"""pytest-benchmark timings behind `bench perf`'s ratios. Not in the default run (marker `perf`):

    pytest tests/benchmarks -m perf -n 0

Each pair (ours, baseline) is measured in the same session; compare them, not absolute numbers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bench.core.checkpoint import Checkpointer
from bench.core.latency import measure
from bench.core.train import TrainSpec, evaluate, train
from bench.infra.devices import EVAL_BATCH_SIZE
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.job import PruneJob
from bench.perf.perf import HALF_FLOPS, pil_loader, quickstart, synthetic_cifar

pytestmark = pytest.mark.perf
BATCH = 64


@pytest.fixture(scope="module")
def data():
    return synthetic_cifar(n_train=2048, n_eval=256)


def test_harness_epoch(benchmark, data):
    spec = TrainSpec(epochs=1, batch_size=BATCH, lr_at=lambda s: 0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)

    def one_epoch():
        with tempfile.TemporaryDirectory() as folder:
            train(build_model("resnet20", num_classes=10, in_channels=3), data, spec, seed=0, checkpointer=Checkpointer(folder))

    benchmark.pedantic(one_epoch, rounds=3, iterations=1)


def test_bare_loop_epoch(benchmark, data):
    def one_epoch():
        model = build_model("resnet20", num_classes=10, in_channels=3).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
        for x, y in data.train_batches(BATCH, seed=0, epoch=0):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    benchmark.pedantic(one_epoch, rounds=3, iterations=1)


@pytest.mark.parametrize("batch", [64, 128, 256, 512])
def test_validation_pass(benchmark, batch, monkeypatch):
    """`bench.core.train.evaluate` over 1,024 images at each evaluation batch size (EVAL_BATCH_SIZE["cpu"] is chosen from these)."""
    data = synthetic_cifar(n_train=64, n_eval=1024)
    monkeypatch.setitem(EVAL_BATCH_SIZE, "cpu", batch)
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10, in_channels=3)
    benchmark.pedantic(lambda: evaluate(model, data, "val"), rounds=5, iterations=1, warmup_rounds=1)


def test_tensor_pipeline_epoch(benchmark, data):
    benchmark(lambda: sum(1 for _ in data.train_batches(BATCH, seed=0, epoch=0)))


def test_dataloader_pil_epoch(benchmark, data):
    loader = pil_loader(data, BATCH)
    benchmark.pedantic(lambda: sum(1 for _ in loader), rounds=3, iterations=1)


@pytest.mark.parametrize("pruned", [False, True], ids=["dense", "l1-norm-half-flops"])
def test_resnet56_inference_batch256(benchmark, pruned):
    torch.manual_seed(0)
    model = build_model("resnet56", num_classes=10, in_channels=3).eval()
    if pruned:
        target = Target(ratio=HALF_FLOPS)
        model = PruneJob(model, "resnet56", get_adapter("l1-norm")(), target,
                         example_inputs=torch.zeros(1, 3, 32, 32), calibration=[], seed=0).prune().model
    benchmark.pedantic(lambda: measure(model, (3, 32, 32), torch.device("cpu"), large_batch=256, warmup=1, repeats=4), rounds=2, iterations=1)


def test_quickstart_evaluate_cold_then_cached(tmp_path: Path):
    """`bench perf --only quickstart`'s measurement on a small evaluate (given dense weights, one seed,
    ft-1): the cached rerun must reuse the finished run. The README command itself: `bench perf --only quickstart`."""
    torch.manual_seed(0)
    dense = tmp_path / "dense.pt"
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), dense)
    argv = ["evaluate", "--adapter", "l1-norm", "--protocol", "ft-1", "--seeds", "1", "--no-random-control", "--checkpoint", str(dense)]
    folder = tmp_path / "work"
    times = quickstart(argv, folder=folder)
    assert len(list((folder / "results").glob("*.json"))) == 1 and list((folder / "runs" / "eval").iterdir())
    assert 0 < times.cached
    print(times.report())


@pytest.mark.parametrize("adapter", ["l1-norm", "hrankplus", "fpgm", "slimming"])
def test_resnet56_cost_search(benchmark, adapter):
    """`--speedup 3` on CIFAR ResNet-56 (target: under 10 s on a 2-core CPU), against its own unit of
    work: one candidate pruned and counted. Their ratio is the candidates the search paid for."""
    import time

    from bench.pruning.cost import CostSearch

    torch.set_num_threads(1)
    model = build_model("resnet56", num_classes=10, in_channels=3)
    x = torch.zeros(1, 3, 32, 32)
    a = get_adapter(adapter)()
    start = time.perf_counter()
    CostSearch(PruneJob(model, "resnet56", a, None,
                        example_inputs=x), scores=False).counts(0.5)  # the graph, one candidate counted
    one = time.perf_counter() - start

    def search():
        return CostSearch(PruneJob(model, "resnet56", a, None, example_inputs=x)).match(3.0)

    match = benchmark.pedantic(search, rounds=2, iterations=1)
    mean = benchmark.stats.stats.mean
    print(f"\n{adapter}: search {mean:.2f} s = {mean / one:.1f} x one prune+count ({one:.2f} s); "
          f"{match.candidates} structures counted; error {match.error:.3%}")
    assert match.exact and mean < 10.0
