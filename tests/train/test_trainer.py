"""The one trainer: progress output for terminals and logs, writes only from the main process,
weights saved without a DDP wrapper's prefix, and trainer states of the older loops upgraded."""

import io
import socket

import pytest
import torch
import torch.distributed as dist
from torch import nn

from rnnlab.tasks.padded import PaddedTask
from rnnlab.train import checkpoint, progress
from rnnlab.train.config import TrainConfig
from rnnlab.train.progress import Progress, format_duration
from rnnlab.train.trainer import Trainer, upgrade_trainer_state


class Batches:
    """A sampler of 4 batches per epoch (indices are unused: the data is in `collate`)."""

    def __init__(self):
        self.done = 0

    def next_batch(self):
        self.done += 1
        return [self.done]

    def __len__(self):
        return 4

    @property
    def epochs_done(self):
        return self.done / 4

    def state_dict(self):
        return {"done": self.done}

    def load_state_dict(self, state):
        self.done = state["done"]


class Regression(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        return self.linear(x)

    def load_weights_checked(self, weights, source):
        self.load_state_dict(weights)


def regression_task(model=None) -> PaddedTask:
    torch.manual_seed(0)
    x = torch.randn(8, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    model = model or Regression()

    def loss(current, batch):
        return nn.functional.mse_loss(current(batch["x"]), batch["y"]), 8

    def evaluate(current):
        return {"loss": float(nn.functional.mse_loss(current(x), y))}

    return PaddedTask(model, Batches(), lambda _: {"x": x, "y": y}, loss, evaluate,
                      metric="loss", higher_is_better=False)


def test_plain_lines_when_not_a_terminal():
    lines = []
    shown = Progress(10, 0, by_time=False, rate_unit="examples/s", log=lines.append,
                     stream=io.StringIO(), interval_s=0.0)
    assert shown.bar is None
    shown.update(4, step=4, loss=1.23456, rate=1234.5)
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("step 4/10  loss 1.2346  1,234 examples/s  elapsed ")
    assert " ETA " in line and "\r" not in line


def test_plain_lines_are_periodic_not_per_step():
    lines = []
    shown = Progress(1000, 0, by_time=False, rate_unit="tokens/s", log=lines.append,
                     stream=io.StringIO(), interval_s=3600.0)
    for step in range(1, 1001):
        shown.update(step, step=step, loss=1.0, rate=1.0)
    assert lines == []                 # nothing within the interval: no flood in a log file
    shown.write("step 1000: val loss 1.0")
    assert lines == ["step 1000: val loss 1.0"]


def test_a_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    lines, screen = [], Terminal()
    shown = Progress(30.0, 0.0, by_time=True, rate_unit="tokens/s", log=lines.append,
                     stream=screen, interval_s=0.0)
    assert shown.bar is not None
    shown.update(45.0, step=3, loss=1.0, rate=10.0)    # past the total: clamped
    assert shown.done == 30.0
    shown.close()
    assert lines == [] and "30/30s" in screen.getvalue()


def test_durations():
    assert [format_duration(s) for s in (5, 65, 3725)] == ["5s", "1m05s", "1h02m05s"]


def test_trainer_writes_plain_progress_lines_to_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "LINE_INTERVAL_S", 0.0)
    lines = []
    config = TrainConfig(max_steps=3, eval_interval=100, warmup_steps=0)
    trainer = Trainer(tmp_path / "run", regression_task(), config, log=lines.append)
    trainer.run(progress_bar=False)
    assert any(line.startswith("step 1/3") for line in lines), lines


def test_only_the_main_process_writes(tmp_path):
    config = TrainConfig(max_steps=4, eval_interval=2, warmup_steps=0)
    lines = []
    result = Trainer(tmp_path / "run", regression_task(), config, log=lines.append,
                     is_main=False).run(progress_bar=False)
    assert result.step == 4 and result.scores is None      # rank 0 alone evaluates
    assert not (tmp_path / "run").exists()
    assert lines == []
    Trainer(tmp_path / "main", regression_task(), config, log=lambda m: None).run(progress_bar=False)
    assert {p.name for p in (tmp_path / "main").iterdir()} >= {
        "model.safetensors", "best.safetensors", "trainer_state.json", "metrics.jsonl"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_ddp_wrapped_model_is_saved_without_the_wrapper_prefix(tmp_path):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0,
                            world_size=1)
    try:
        inner = Regression()
        wrapped = nn.parallel.DistributedDataParallel(inner)
        config = TrainConfig(max_steps=2, eval_interval=100, warmup_steps=0)
        Trainer(tmp_path / "run", regression_task(wrapped), config,
                log=lambda m: None).run(progress_bar=False)
    finally:
        dist.destroy_process_group()
    saved = checkpoint.load_weights(tmp_path / "run" / "model.safetensors")
    assert set(saved) == {"linear.weight", "linear.bias"}
    for name, tensor in inner.state_dict().items():
        assert torch.equal(saved[name], tensor)


def test_resume_continues_exactly(tmp_path):
    config = TrainConfig(max_steps=6, decay_steps=6, eval_interval=2, warmup_steps=0)
    full = Trainer(tmp_path / "full", regression_task(), config, log=lambda m: None)
    full.run(progress_bar=False)
    half_config = TrainConfig(max_steps=3, decay_steps=6, eval_interval=2, warmup_steps=0)
    Trainer(tmp_path / "half", regression_task(), half_config, log=lambda m: None).run(
        progress_bar=False)
    resumed = Trainer(tmp_path / "half", regression_task(), config, log=lambda m: None)
    resumed.restore()
    assert resumed.step == 3 and resumed.task.sampler.done == 3
    resumed.run(progress_bar=False)
    for name, tensor in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], tensor), name


@pytest.mark.parametrize("old", [
    {"step": 5, "train_time": 1.5, "tokens_seen": 640, "best_val": 2.5, "optimizer": {},
     "batcher": {"epoch": 0}, "carried_state": [], "rng": {}, "weights_sha256": "x"},
    {"step": 5, "train_time": 1.5, "examples_seen": 40, "best_metric": 0.75, "best_step": 4,
     "last_dev": {"accuracy": 0.75}, "optimizer": {}, "sampler": {"epoch": 0}, "rng": {},
     "weights_sha256": "x"},
])
def test_trainer_states_of_the_older_loops_are_upgraded(old):
    new = upgrade_trainer_state(old)
    assert set(new) == {"step", "train_time", "items_seen", "best_metric", "best_step",
                        "last_eval", "optimizer", "task", "rng", "weights_sha256"}
    assert new["items_seen"] in (640, 40) and new["best_metric"] in (2.5, 0.75)
    assert new["task"] in ({"batcher": {"epoch": 0}, "carried_state": []},
                           {"sampler": {"epoch": 0}})
    assert upgrade_trainer_state(new) is new
