"""Training records: a JSONL file of metrics, an optional TensorBoard writer, and a loss plot."""

from __future__ import annotations

import json
import math
from pathlib import Path


class MetricsLog:
    """Appends one JSON object per line to RUN/metrics.jsonl (and TensorBoard when installed)."""

    def __init__(self, run_dir: Path, use_tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.jsonl"
        self._tb = None
        if use_tensorboard:
            try:  # tensorboard is optional: log to it only when the user installed it
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
            except ImportError:
                self._tb = None

    def log(self, record: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None and "step" in record:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_metrics(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_loss_curves(metrics_path: Path, png_path: Path, train_key: str = "train_loss",
                     val_key: str = "val_loss", ylabel: str = "loss (nats/char)") -> Path | None:
    """Draw train and validation loss against step; returns the PNG path, or None if no data."""
    records = read_metrics(metrics_path)
    train = [(r["step"], r[train_key]) for r in records if train_key in r and _finite(r[train_key])]
    val = [(r["step"], r[val_key]) for r in records if val_key in r and _finite(r[val_key])]
    if not train and not val:
        return None
    import matplotlib
    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="train", alpha=0.7)
    if val:
        ax.plot(*zip(*val), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return Path(png_path)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
