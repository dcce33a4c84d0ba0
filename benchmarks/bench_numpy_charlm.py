"""Benchmark: char-LM training throughput of the NumPy engine against a per-step loop.

    .venv/bin/python benchmarks/bench_numpy_charlm.py            # ~1 minute; rewrites its BENCHMARKS.md section

What is compared (same run, same text, same hidden size 100, sequence length 25, Adagrad lr 0.1):

  engine    `NumpyCharLMTrainer.train_step` of rnnlab.reference.charlm at batch 32: one window of
            32 streams x 25 characters per step. The RNN loop runs once per time step for the
            whole batch; the input projection and the weight gradients are single matrix products.
  baseline  a loop in the style of min-char-rnn, written here from the equations: batch 1,
            one-hot input vectors, one matrix-vector product per time step and weight, weight
            gradients summed as one outer product per step, clipping by value, Adagrad.

Both are timed as full training steps (forward, loss, backward, clipping, update) in float32 and
float64, alternating engine and baseline repeats so that a change in machine load hits both;
throughput is characters (tokens) per second, medians over the repeats. Before timing, the
baseline's gradients are checked against the engine's on the same weights, so both compute the
same thing. A longer float32 run records that the loss falls, and a profile of the engine's step
shows where its time goes.

BLAS threads are set to 1 (--blas-threads) before NumPy is imported: every matrix here is small,
and on a shared machine OpenBLAS threads waiting on each other make runs slow and erratic.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import platform
import pstats
import shlex
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
BENCHMARKS_FILE = REPO_ROOT / "BENCHMARKS.md"
SECTION_START = "<!-- numpy-charlm:start -->"
SECTION_END = "<!-- numpy-charlm:end -->"
HIDDEN, SEQ_LEN, BATCH, LR = 100, 25, 32, 0.1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="training text (tinyshakespeare)")
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per measurement")
    parser.add_argument("--engine-steps", type=int, default=30, help="engine steps (batch 32) per repeat")
    parser.add_argument("--baseline-sequences", type=int, default=80, help="baseline sequences per repeat")
    parser.add_argument("--loss-steps", type=int, default=1500, help="steps of the loss-falls run")
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (0: leave the default)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    return parser.parse_args()


ARGS = parse_args()
if ARGS.blas_threads > 0:
    # Must happen before NumPy loads its BLAS.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(ARGS.blas_threads)
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from rnnlab.data.streams import split_train_val  # noqa: E402
from rnnlab.data.textfile import read_text, write_text_atomic  # noqa: E402
from rnnlab.data.vocab import CharVocab  # noqa: E402
from rnnlab.reference import charlm  # noqa: E402
from rnnlab.reference.blas_threads import current_blas_threads  # noqa: E402
from rnnlab.reference.network import RecurrentNetwork  # noqa: E402


# ==================================================================== the per-step baseline


class PerStepBaseline:
    """A vanilla tanh RNN trained one sequence at a time, one time step at a time (batch 1).

        h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h),   x_t one-hot (V,)
        p_t = softmax(W_hy h_t + b_y),                loss = -sum_t log p_t[target_t]

    Backward walks t = T-1 .. 0 with dh_next carrying the gradient through time, adding each
    step's outer products into the weight gradients. Gradients are clipped to [-5, 5] and applied
    with Adagrad: memory += g^2, w -= lr * g / sqrt(memory + 1e-8).
    """

    def __init__(self, vocab_size: int, hidden_size: int, dtype, seed: int = 0, lr: float = LR):
        rng = np.random.default_rng(seed)
        small = lambda *shape: (0.01 * rng.standard_normal(shape)).astype(dtype)  # noqa: E731
        self.weights = {"W_xh": small(hidden_size, vocab_size), "W_hh": small(hidden_size, hidden_size),
                        "W_hy": small(vocab_size, hidden_size), "b_h": np.zeros(hidden_size, dtype),
                        "b_y": np.zeros(vocab_size, dtype)}
        self.memory = {name: np.zeros_like(w) for name, w in self.weights.items()}
        self.vocab_size, self.dtype, self.lr = vocab_size, np.dtype(dtype), lr

    def loss_and_gradients(self, inputs, targets, h_prev):
        """Summed loss over the sequence, gradients of it, and the last hidden state (H,)."""
        w = self.weights
        xs, hs, ps = {}, {-1: h_prev}, {}
        loss = 0.0
        for t, (char, target) in enumerate(zip(inputs, targets)):
            xs[t] = np.zeros(self.vocab_size, self.dtype)
            xs[t][char] = 1.0
            hs[t] = np.tanh(w["W_xh"] @ xs[t] + w["W_hh"] @ hs[t - 1] + w["b_h"])
            scores = w["W_hy"] @ hs[t] + w["b_y"]
            exp = np.exp(scores - scores.max())
            ps[t] = exp / exp.sum()
            loss -= math.log(ps[t][target])
        grads = {name: np.zeros_like(value) for name, value in w.items()}
        dh_next = np.zeros_like(h_prev)
        for t in reversed(range(len(inputs))):
            d_scores = ps[t].copy()
            d_scores[targets[t]] -= 1.0  # softmax + cross-entropy
            grads["W_hy"] += np.outer(d_scores, hs[t])
            grads["b_y"] += d_scores
            dh = w["W_hy"].T @ d_scores + dh_next
            d_pre = (1.0 - hs[t] * hs[t]) * dh  # through tanh
            grads["b_h"] += d_pre
            grads["W_xh"] += np.outer(d_pre, xs[t])
            grads["W_hh"] += np.outer(d_pre, hs[t - 1])
            dh_next = w["W_hh"].T @ d_pre
        return loss, grads, hs[len(inputs) - 1]

    def train_sequence(self, inputs, targets, h_prev):
        loss, grads, h_last = self.loss_and_gradients(inputs, targets, h_prev)
        for name, grad in grads.items():
            np.clip(grad, -5.0, 5.0, out=grad)
            self.memory[name] += grad * grad
            self.weights[name] -= self.lr * grad / np.sqrt(self.memory[name] + 1e-8)
        return loss, h_last


class BaselineReader:
    """Walks the training ids left to right in sequences of SEQ_LEN, carrying h; restarts at the end."""

    def __init__(self, model: PerStepBaseline, ids: np.ndarray):
        self.model, self.ids = model, ids
        self.position, self.h = 0, np.zeros(HIDDEN, model.dtype)

    def train_one(self) -> float:
        if self.position + SEQ_LEN + 1 > len(self.ids):
            self.position, self.h = 0, np.zeros_like(self.h)
        chunk = self.ids[self.position:self.position + SEQ_LEN + 1]
        loss, self.h = self.model.train_sequence(chunk[:-1], chunk[1:], self.h)
        self.position += SEQ_LEN
        return loss


def check_baseline_against_engine(vocab_size: int, ids: np.ndarray) -> float:
    """Largest relative gradient difference, baseline vs engine, on identical float64 weights.

    One-hot input into W_xh is the engine's embedding with an identity table followed by
    weight_ih = W_xh; the engine averages the loss over T steps, the baseline sums it.
    """
    baseline = PerStepBaseline(vocab_size, HIDDEN, np.float64, seed=1)
    engine = RecurrentNetwork("rnn", HIDDEN, vocab_size=vocab_size, embedding_dim=vocab_size,
                              output_size=vocab_size, dtype=np.float64, seed=1)
    w = baseline.weights
    for name, value in {"embedding.weight": np.eye(vocab_size), "rnn.weight_ih_l0": w["W_xh"],
                        "rnn.weight_hh_l0": w["W_hh"], "rnn.bias_ih_l0": w["b_h"],
                        "rnn.bias_hh_l0": np.zeros(HIDDEN), "head.weight": w["W_hy"], "head.bias": w["b_y"]}.items():
        engine.params[name][...] = value
    h0 = np.random.default_rng(2).uniform(-0.5, 0.5, HIDDEN)
    chunk = ids[:SEQ_LEN + 1]
    _, grads, _ = baseline.loss_and_gradients(chunk[:-1], chunk[1:], h0)
    _, engine_grads, _ = charlm.window_gradients(engine, chunk[None, :-1], chunk[None, 1:], h0[None, None, :])
    pairs = {"W_xh": "rnn.weight_ih_l0", "W_hh": "rnn.weight_hh_l0", "b_h": "rnn.bias_ih_l0",
             "W_hy": "head.weight", "b_y": "head.bias"}
    return max(float(np.abs(grads[b] - SEQ_LEN * engine_grads[e]).max() / np.abs(grads[b]).max())
               for b, e in pairs.items())


# ============================================================================ measurements


def engine_trainer(vocab: CharVocab, ids: np.ndarray, dtype: str, batch_size: int = BATCH) -> charlm.NumpyCharLMTrainer:
    config = charlm.NumpyCharLMConfig(hidden_size=HIDDEN, bptt=SEQ_LEN, batch_size=batch_size, lr=LR,
                                      dtype=dtype, max_steps=1, sample_length=0)
    return charlm.NumpyCharLMTrainer(config, vocab, ids, ids[-1000:], log=lambda line: None)


def tokens_per_second(step, count: int, tokens_per_call: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        step()
    return count * tokens_per_call / (time.perf_counter() - start)


def compare_throughput(vocab: CharVocab, ids: np.ndarray, dtype: str) -> dict:
    """Median tokens/s of engine (batch 32 and batch 1) and baseline, repeats interleaved."""
    trainer = engine_trainer(vocab, ids, dtype)
    single = engine_trainer(vocab, ids, dtype, batch_size=1)
    baseline = BaselineReader(PerStepBaseline(len(vocab), HIDDEN, dtype), ids)
    for _ in range(5):  # warm-up: first calls allocate and fill caches
        trainer.train_step(), single.train_step(), baseline.train_one()
    engine, engine_b1, base = [], [], []
    for _ in range(ARGS.repeats):
        engine.append(tokens_per_second(trainer.train_step, ARGS.engine_steps, BATCH * SEQ_LEN))
        base.append(tokens_per_second(baseline.train_one, ARGS.baseline_sequences, SEQ_LEN))
        engine_b1.append(tokens_per_second(single.train_step, ARGS.baseline_sequences, SEQ_LEN))
    # Each engine repeat runs right next to a baseline repeat, so their ratio sees about the same
    # machine load; the median of those paired ratios is the speed-up least disturbed by others.
    paired = [e / b for e, b in zip(engine, base)]
    return {"dtype": dtype, "engine": engine, "engine_b1": engine_b1, "baseline": base,
            "ratio": statistics.median(engine) / statistics.median(base),
            "paired_ratio": statistics.median(paired), "best_ratio": max(engine) / max(base)}


def loss_run(text: str) -> charlm.NumpyCharLMResult:
    config = charlm.NumpyCharLMConfig(max_steps=ARGS.loss_steps, eval_interval=max(ARGS.loss_steps // 3, 1),
                                      log_interval=100, sample_length=200, dtype="float32", blas_threads=None)
    return charlm.train_numpy_charlm(text, config, log=lambda line: None)


def profile_engine(vocab: CharVocab, ids: np.ndarray, steps: int = 100) -> list[tuple[str, float, int]]:
    """(function, share of the profiled time, calls) for the functions with the most own time."""
    trainer = engine_trainer(vocab, ids, "float32")
    for _ in range(5):
        trainer.train_step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        trainer.train_step()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (calls, ncalls, own, cumulative, callers)
    total = sum(entry[2] for entry in stats.values())
    rows = sorted(((own, calls, key) for key, (calls, _, own, _, _) in stats.items()), reverse=True)[:10]
    return [(_function_label(key), own / total, calls // steps) for own, calls, key in rows]


def _function_label(key: tuple) -> str:
    filename, line, name = key
    if filename == "~":
        label = name.strip("<>")  # a C function, e.g. "method 'at' of 'numpy.ufunc' objects"
        if label == "method 'at' of 'numpy.ufunc' objects":
            label += " (np.add.at: the embedding gradient in RecurrentNetwork.backward)"
        return label
    path = Path(filename)
    try:
        path = path.resolve().relative_to(REPO_ROOT)
    except ValueError:
        path = Path(path.name)
    return f"{path}:{line} {name}"


# ===================================================================================== report


def machine_description() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
        "blas_config": blas.get("openblas configuration", ""),
        "blas_threads": current_blas_threads() or "unknown",
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def command_line() -> str:
    executable = Path(sys.executable)
    try:
        executable = executable.relative_to(Path.cwd())
    except ValueError:
        pass
    return shlex.join([str(executable), *sys.argv])


def _stats(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def render(machine: dict, gradient_check: float, results: list[dict], run: charlm.NumpyCharLMResult,
           profile: list[tuple[str, float, int]], seconds: float, load_after) -> str:
    progress = [r for r in run.history if "smoothed_loss" in r]
    evals = [r for r in run.history if "val_loss" in r]
    early = next((r for r in progress if r["step"] >= 100), progress[0])
    lines = [
        SECTION_START,
        "## NumPy char-LM trainer vs a per-step loop (`benchmarks/bench_numpy_charlm.py`)",
        "",
        f"Command: `{command_line()}` (from the repository root; {seconds:.0f} s).",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs ({machine['usable_cpus']} usable), "
        f"Python {machine['python']}, NumPy {machine['numpy']}, BLAS {machine['blas']} "
        f"({machine['blas_config']}), BLAS threads {machine['blas_threads']}; load average "
        f"{_load(machine['load_average'])} before and {_load(load_after)} after (a shared machine: "
        "other jobs ran at the same time).",
        "",
        f"Training throughput in characters per second on tinyshakespeare, hidden size {HIDDEN}, "
        f"sequence length {SEQ_LEN}, Adagrad lr {LR}, full training steps (forward, loss, backward, "
        f"clipping, update). Median (min–max) of {ARGS.repeats} repeats; engine repeats are "
        f"{ARGS.engine_steps} steps of {BATCH}x{SEQ_LEN} characters, baseline repeats {ARGS.baseline_sequences} "
        f"sequences of {SEQ_LEN}, interleaved.",
        "",
        "| dtype | engine, batch 32 | per-step baseline, batch 1 | speed-up (medians) | "
        "paired / best speed-up | engine, batch 1 |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['dtype']} | {_stats(r['engine'])} | {_stats(r['baseline'])} | "
                     f"**{r['ratio']:.1f}x** | {r['paired_ratio']:.1f}x / {r['best_ratio']:.1f}x | "
                     f"{_stats(r['engine_b1'])} |")
    lines += [
        "",
        "Speed-up (medians) = median engine / median baseline throughput; paired = median over repeats "
        "of engine / the baseline repeat timed next to it; best = fastest engine / fastest baseline repeat.",
        "",
        "The baseline is a min-char-rnn-style loop written in the benchmark (one-hot inputs, one "
        "matrix-vector product per step, clipping by value); its gradients match the engine's on the "
        f"same weights to a relative {gradient_check:.1e} (float64), so both do the same work per character.",
        "",
        f"Loss on tinyshakespeare ({run.config.dtype}, batch {run.config.batch_size}, bptt {run.config.bptt}, "
        f"{run.steps} steps = {run.tokens_trained:,} characters in {run.train_time:.1f} s of training, "
        f"{run.tokens_per_second:,.0f} characters/s). Validation = the whole held-out last 10% "
        "(111,538 predicted characters), nats/char:",
        "",
        "| step | validation loss | smoothed training loss |",
        "|---|---|---|",
    ]
    smoothed_at = {r["step"]: r["smoothed_loss"] for r in progress}
    for r in evals:
        lines.append(f"| {r['step']} | {r['val_loss']:.3f} | {_fmt(smoothed_at.get(r['step']))} |")
    lines += [
        "",
        f"(ln 65 = {math.log(65):.3f}; smoothed training loss {early['smoothed_loss']:.3f} at step "
        f"{early['step']}.) Sample after {run.steps} steps, temperature 1:",
        "",
        "```",
        run.samples[-1] if run.samples else "",
        "```",
        "",
        "Where the engine's float32 step spends its time (cProfile over 100 steps, own time per "
        "function; profiling inflates the share of small Python functions):",
        "",
        "| function | share | calls per step |",
        "|---|---|---|",
    ]
    for label, share, calls in profile:
        lines.append(f"| `{label}` | {share:.0%} | {calls} |")
    lines.append(SECTION_END)
    return "\n".join(lines) + "\n"


def _load(load) -> str:
    return "unknown" if load is None else " / ".join(f"{value:.1f}" for value in load)


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def write_section(section: str) -> None:
    """Replace this benchmark's section of BENCHMARKS.md (or add it), leaving the rest alone."""
    if not BENCHMARKS_FILE.exists():
        write_text_atomic(BENCHMARKS_FILE, "# rnnlab benchmarks\n\n" + section)
        return
    content = BENCHMARKS_FILE.read_text(encoding="utf-8")
    start, end = content.find(SECTION_START), content.find(SECTION_END)
    if start >= 0 and end > start:
        content = content[:start] + section.rstrip("\n") + content[end + len(SECTION_END):]
    else:
        content = content.rstrip("\n") + "\n\n" + section
    write_text_atomic(BENCHMARKS_FILE, content)


def main() -> int:
    began = time.perf_counter()
    machine = machine_description()
    text = read_text(ARGS.data)
    vocab = CharVocab.from_text(text)
    train_ids, _ = split_train_val(vocab.encode(text), 0.1)
    print(f"machine: {machine}")
    gradient_check = check_baseline_against_engine(len(vocab), train_ids)
    print(f"baseline vs engine gradients: max relative difference {gradient_check:.2e}")
    if not gradient_check < 1e-8:
        raise SystemExit("the baseline's gradients disagree with the engine's; not benchmarking")
    results = []
    for dtype in ("float32", "float64"):
        results.append(compare_throughput(vocab, train_ids, dtype))
        r = results[-1]
        print(f"{dtype}: engine batch 32 {_stats(r['engine'])} tokens/s, baseline {_stats(r['baseline'])}, "
              f"speed-up {r['ratio']:.1f}x (paired {r['paired_ratio']:.1f}x, best {r['best_ratio']:.1f}x); "
              f"engine batch 1 {_stats(r['engine_b1'])}")
    profile = profile_engine(vocab, train_ids)
    for label, share, calls in profile:
        print(f"  {share:6.1%}  {calls:5d}/step  {label}")
    run = loss_run(text)
    for record in run.history:
        print({key: round(value, 4) if isinstance(value, float) else value for key, value in record.items()})
    seconds = time.perf_counter() - began
    section = render(machine, gradient_check, results, run, profile, seconds,
                     os.getloadavg() if hasattr(os, "getloadavg") else None)
    print(section)
    if not ARGS.no_write:
        write_section(section)
        print(f"wrote the numpy-charlm section of {BENCHMARKS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
