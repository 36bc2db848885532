"""Sharded and data-parallel training on two CPU processes (gloo): FSDP2 through ``strategy: fsdp``, and DDP.

Each run trains 6 iterations: 2 of generator-only pretraining, then adversarial iterations with
lazy R1 (a double backward), clipping and EMA. A run killed abruptly after iteration 4 and
continued with ``--resume`` must end bit-identical to the uninterrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import gan_engine as ge
from gan_engine.data.sampling import SeededSampler
from gan_engine.training.environment import engine_strategy
from gan_engine.training.sharding import _blocks

WORKER = Path(__file__).with_name("fsdp_worker.py")
ROOT = Path(__file__).resolve().parents[2]
KILLED = 17  # the worker's exit status when --die-at ends it


def _launch(out: Path, strategy: str, name: str, *args: str) -> int:
    """Run the worker (which starts the second process itself); kill the whole group if it hangs."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD": "1", "GE_TEST_HANG_AFTER_S": "150"}
    log = out / f"{name}.log"
    with log.open("a") as sink:
        proc = subprocess.Popen([sys.executable, str(WORKER), str(out), strategy, name, *args], env=env, cwd=out,
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=200)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.wait()
            raise AssertionError(f"{name} hung:\n{log.read_text()[-4000:]}") from None
        finally:  # the ranks rank zero started, still waiting when it died (as a scheduler ends a job)
            _kill_group(proc.pid)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _ranks(out: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads((out / f"{name}-rank{r}.json").read_text()) for r in (0, 1)]


def _tensors(x: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(x, torch.Tensor):
        yield prefix, x
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _tensors(v, f"{prefix}/{k}")
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _tensors(v, f"{prefix}/{i}")


def _differing(a: Path, b: Path, parts: tuple[str, ...] = ("state_dict", "callbacks", "optimizer_states")) -> list[str]:
    """The tensors (weights, EMA average, optimizer moments) that are not bit-identical in two checkpoints."""
    ca, cb = (torch.load(p, map_location="cpu", weights_only=False) for p in (a, b))
    out = []
    for part in parts:
        ta, tb = ({k: v for k, v in _tensors(c[part], part) if part != "callbacks" or k.startswith("callbacks/EMA")}
                  for c in (ca, cb))
        assert ta, f"no tensors under {part}"
        assert ta.keys() == tb.keys(), (part, sorted(ta.keys() ^ tb.keys())[:5])
        out += [k for k in ta if ta[k].shape != tb[k].shape or not torch.equal(ta[k], tb[k])]
    return out


@pytest.fixture(scope="module")
def runs_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, Any]]:
    """The runs of a strategy (trained once per test module): uninterrupted, and killed then resumed."""
    done: dict[str, dict[str, Any]] = {}

    def train(strategy: str) -> dict[str, Any]:
        if strategy not in done:
            out = tmp_path_factory.mktemp(strategy)
            assert _launch(out, strategy, "straight") == 0, (out / "straight.log").read_text()[-4000:]
            killed = _launch(out, strategy, "resumed", "--die-at", "5")
            assert not list(out.glob("resumed-rank*.json")), "the killed run finished"
            assert _launch(out, strategy, "resumed", "--resume") == 0, (out / "resumed.log").read_text()[-4000:]
            done[strategy] = {"strategy": strategy, "out": out, "killed_rc": killed,
                              "straight": _ranks(out, "straight"), "resumed": _ranks(out, "resumed")}
        return done[strategy]

    return train


STRATEGIES = pytest.mark.parametrize("strategy", ["ddp", "fsdp"])


@STRATEGIES
def test_both_processes_train_every_iteration(runs_of: Callable[[str], dict[str, Any]], strategy: str) -> None:
    for r in runs_of(strategy)["straight"]:
        assert (r["start"], r["iteration"], r["world_size"]) == (0, 6, 2)
        assert r["sharded"] is (strategy == "fsdp")
        assert {"train/d_adversarial", "train/r1", "val/psnr"} <= r["metrics"].keys()
    # what followers read is written once, by rank zero, for the whole job
    run_dir = Path(runs_of(strategy)["straight"][0]["run_dir"])
    progress = json.loads((run_dir / "progress.json").read_text())
    assert (progress["iteration"], progress["max_steps"]) == (6, 6) and "val/psnr" in progress["validation"]
    assert (run_dir / "plots" / "curves.png").is_file()
    assert [r.status for r in ge.list_runs(run_dir.parent) if r.run_dir == run_dir] == ["completed"]


@STRATEGIES
def test_a_killed_run_continues_on_every_process_from_its_checkpoint(runs_of: Callable[[str], dict[str, Any]],
                                                                     strategy: str) -> None:
    runs = runs_of(strategy)
    assert runs["killed_rc"] == KILLED
    for r in runs["resumed"]:  # both ranks restored iteration 4, not only rank zero
        assert (r["start"], r["iteration"], r["world_size"]) == (4, 6, 2)
    record = json.loads((Path(runs["resumed"][0]["run_dir"]) / "run.json").read_text())
    assert [s["status"] for s in record["sessions"]] == ["killed", "completed"]
    assert record["sessions"][1]["resumed_from"].endswith("last.ckpt") and record["iteration"] == 6


@STRATEGIES
def test_the_resumed_run_ends_bit_identical_to_the_uninterrupted_one(runs_of: Callable[[str], dict[str, Any]],
                                                                     strategy: str) -> None:
    # weights, the EMA average and both optimizers' moments: same data order, same RNG, same steps
    runs = runs_of(strategy)
    assert _differing(Path(runs["straight"][0]["last"]), Path(runs["resumed"][0]["last"])) == []


@STRATEGIES
def test_the_checkpoint_holds_whole_tensors_that_load_into_a_plain_generator(
        runs_of: Callable[[str], dict[str, Any]], strategy: str) -> None:
    last = Path(runs_of(strategy)["straight"][0]["last"])
    state = torch.load(last, map_location="cpu", weights_only=False)["state_dict"]
    assert all(type(v) is torch.Tensor for v in state.values())
    generator = ge.load_generator(last)
    fresh = ge.generators.build("srresnet", in_channels=3, scale=4, n_channels=8, n_blocks=1)
    shapes = [{k: v.shape for k, v in net.state_dict().items()} for net in (generator, fresh)]
    assert shapes[0] == shapes[1]
    assert not torch.equal(next(generator.parameters()), next(fresh.parameters()))


def test_fsdp_sharding_and_wrapping_options_give_the_same_training(runs_of: Callable[[str], dict[str, Any]]) -> None:
    runs = runs_of("fsdp")
    out = runs["out"]
    rc = _launch(out, "fsdp", "grad_op", "--set", "Training.fsdp.sharding=grad_op",
                 "--set", "Training.fsdp.auto_wrap=blocks", "--set", "Training.fsdp.min_num_params=100")
    assert rc == 0, (out / "grad_op.log").read_text()[-4000:]
    assert [r["iteration"] for r in _ranks(out, "grad_op")] == [6, 6]
    assert _differing(Path(runs["straight"][0]["last"]), Path(_ranks(out, "grad_op")[0]["last"])) == []


def test_fsdp_trains_the_same_weights_as_ddp(runs_of: Callable[[str], dict[str, Any]]) -> None:
    ddp, fsdp = (Path(runs_of(s)["straight"][0]["last"]) for s in ("ddp", "fsdp"))
    # the weights agree bit for bit; Adam's second moments may differ in the last bits, since
    # reduce-scatter and all-reduce sum the gradients in another order
    assert _differing(ddp, fsdp, parts=("state_dict",)) == []


def test_ada_moves_one_p_by_the_sums_of_every_process(runs_of: Callable[[str], dict[str, Any]]) -> None:
    out = runs_of("ddp")["out"]
    # p starts at 0.5 and may move by 0.05 (2 images × 2 processes / 80) after every iteration
    rc = _launch(out, "ddp", "ada", "--set", "Training.d_augment={policy: [translation, color], adaptive: true, "
                 "p: 0.5, target: 0.0, interval: 1, speed_images: 80}")
    assert rc == 0, (out / "ada.log").read_text()[-4000:]
    ranks = _ranks(out, "ada")
    adjustments = list(zip(ranks[0]["ada"], ranks[1]["ada"]))
    assert len(adjustments) == 6  # every iteration; the 2 of pretraining saw no discriminator output
    for a, b in adjustments:  # each process adjusted by the totals of both, not by its own sums
        assert a["totals"] == b["totals"] == [x + y for x, y in zip(a["local"], b["local"])]
        assert a["images"] == b["images"] == 2 * 2
    observed = [a["totals"][1] for a, _ in adjustments]
    assert observed == [0.0, 0.0, 2.0, 2.0, 2.0, 2.0]
    # D called every real positive (mean sign 1 > target 0): 4 steps up, on both processes alike
    ps = [r["augment_p"] for r in ranks]
    assert ps[0] == ps[1] == pytest.approx(0.7)
    state = torch.load(ranks[0]["last"], map_location="cpu", weights_only=False)["state_dict"]
    assert float(state["d_augment.p"]) == ps[0]  # and the checkpoint keeps it


# -- without processes --------------------------------------------------------------------------


def test_the_sampler_gives_each_process_its_own_share_of_one_seeded_order() -> None:
    data = list(range(10))
    whole = list(SeededSampler(data, seed=3))
    assert sorted(whole) == data and len(SeededSampler(data, seed=3)) == 10
    shares = [list(SeededSampler(data, seed=3, num_replicas=4, rank=r)) for r in range(4)]
    assert [len(s) for s in shares] == [3, 3, 3, 3]
    assert [len(SeededSampler(data, seed=3, num_replicas=4, rank=r)) for r in range(4)] == [3, 3, 3, 3]
    padded = whole + whole[:2]
    assert shares == [padded[r::4] for r in range(4)]  # one permutation, interleaved, padded from its start
    sampler = SeededSampler(data, seed=3, num_replicas=2, rank=1)
    sampler.set_epoch(7)  # Lightning calls it; the sampler counts its own passes
    first, second = list(sampler), list(sampler)
    again = SeededSampler(data, seed=3, num_replicas=2, rank=1)
    assert first == list(again) and second == list(again) and first != second
    with pytest.raises(ValueError, match="rank 2 is not one of the 2 processes"):
        SeededSampler(data, num_replicas=2, rank=2)


@pytest.mark.parametrize("strategy", ["deepspeed", "deepspeed_stage_2_offload"])
def test_deepspeed_is_refused_at_load_time_with_what_to_use_instead(strategy: str) -> None:
    with pytest.raises(ge.ConfigError) as info:
        ge.load_config(overrides={"Trainer.strategy": strategy})
    message = str(info.value)
    assert "Trainer.strategy" in message and "single optimizer" in message and "'fsdp'" in message


def test_lightnings_fsdp1_strategy_is_refused_with_the_strategy_to_use() -> None:
    from engine_helpers import tiny_module
    from lightning.pytorch.strategies import FSDPStrategy

    module = tiny_module()
    module._trainer = type("T", (), {"strategy": FSDPStrategy()})()  # what Trainer(strategy=FSDPStrategy()) sets
    with pytest.raises(ge.GanEngineError, match="strategy 'fsdp'"):
        module.configure_model()


def test_fsdp_runs_on_lightnings_model_parallel_strategy_with_every_process_sharding() -> None:
    from lightning.pytorch.strategies import ModelParallelStrategy

    strategy = engine_strategy("fsdp", {"accelerator": "cpu", "devices": 2, "num_nodes": 3})
    assert isinstance(strategy, ModelParallelStrategy)
    assert (strategy._data_parallel_size, strategy._tensor_parallel_size) == (6, 1)
    assert strategy._save_distributed_checkpoint is False  # one whole file, as every other strategy writes


def test_block_wrapping_takes_the_deepest_blocks_of_at_least_min_num_params() -> None:
    big = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 10))  # 110 + 110 parameters
    net = nn.Sequential(big, nn.Linear(2, 2), nn.Sequential(nn.Linear(20, 20)))  # 6; 420
    chosen = _blocks(net, min_num_params=100)
    assert chosen == [big[0], big[1], net[2][0]]  # deepest first; the parents' remainders are small
    assert _blocks(net, min_num_params=300) == [net[2][0]]
    assert _blocks(net, min_num_params=10_000) == []  # the network itself is always a unit, never a block


def test_an_unknown_sharding_mode_names_the_key_and_the_choices() -> None:
    with pytest.raises(ge.ConfigError, match=r"Training\.fsdp\.sharding.*'full'.*'grad_op'"):
        ge.load_config(overrides={"Training.fsdp.sharding": "hybrid"})
