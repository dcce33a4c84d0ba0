"""Translation on Multi30k (German -> English): BLEU within a training-time budget on CPU.

Trains `rnnlab translate train`'s default model (subwords learned on the training side, a
bidirectional GRU encoder, a GRU decoder with Luong "general" attention, tied target
embedding) on ../shared/data/multi30k/train.{de,en}.gz (29,000 pairs) for --budget seconds of
training (evaluation excluded; the issue's limit is 20 minutes), and reports on val (1,014
pairs), with sacreBLEU on detokenised output against the raw references:

  * the BLEU-against-training-time curve (greedy BLEU at every evaluation),
  * greedy vs beam search (beam 5) with the best weights (chosen by greedy dev BLEU),
  * the same model without attention (a fixed encoder summary as context) trained for the
    shorter --contrast-budget, next to the attention model's BLEU at the same training time,
  * decoding speed: sentences per second, greedy and beam 5, batched and one sentence at a time.

Before training, a 40-step check times 1 and 2 torch threads on this machine and trains with
the faster (on 2 cores shared with other programs, one thread is often faster; README).

Usage (from the repository root, under the shared lock):
    flock /tmp/rnnlab-bench.lock .venv/bin/python benchmarks/bench_translate.py --runs-dir /tmp/mt
    .venv/bin/python benchmarks/bench_translate.py --budget 30 --contrast-budget 10 --no-write
Writes its section of BENCHMARKS.md, benchmarks/results/translate.json and translate_bleu.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import (ROOT, SHARED_DATA, command_line, machine_description, markdown_table,  # noqa: E402
                    write_section)

from rnnlab.data.parallel import read_parallel  # noqa: E402
from rnnlab.models.seq2seq import Translator  # noqa: E402
from rnnlab.tasks.translate import corpus_scores, train_translator, translate_texts  # noqa: E402
from rnnlab.train.metrics import read_metrics  # noqa: E402

SECTION = "translate"
RESULTS = ROOT / "benchmarks" / "results"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=SHARED_DATA / "multi30k")
    p.add_argument("--budget", type=float, default=1200.0,
                   help="seconds of training of the attention model (evaluation excluded)")
    p.add_argument("--contrast-budget", type=float, default=300.0,
                   help="seconds of training of the model without attention")
    p.add_argument("--eval-interval", type=int, default=200)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: time 1 and 2)")
    p.add_argument("--speed-sentences", type=int, default=200,
                   help="val sentences for the one-at-a-time decoding speed")
    p.add_argument("--runs-dir", type=Path,
                   help="keep the trained runs here (default: a temporary folder, removed)")
    p.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    return p.parse_args(argv)


def files(data_dir: Path) -> dict:
    return dict(source_train=str(data_dir / "train.de.gz"), target_train=str(data_dir / "train.en.gz"),
                source_dev=str(data_dir / "val.de.gz"), target_dev=str(data_dir / "val.en.gz"))


def quiet(message: str) -> None:
    print(message, flush=True)


def time_threads(data: dict, folder: Path) -> tuple[int, dict]:
    """Seconds for 40 training steps with 1 and with 2 threads (after 5 warm-up steps)."""
    seconds = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        result = train_translator(**data, out=folder / f"threads{threads}",
                                  train_options=dict(max_steps=45, eval_interval=10_000),
                                  progress_bar=False, log=lambda _: None)
        records = [r for r in read_metrics(result.run_dir / "metrics.jsonl") if "train_loss" in r]
        at = {r["step"]: r["train_time"] for r in records}
        seconds[threads] = at[max(at)] - at[min(s for s in at if s >= 5)]
        print(f"threads {threads}: {seconds[threads]:.1f} s for steps {min(s for s in at if s >= 5)}"
              f"-{max(at)}", flush=True)
    best = min(seconds, key=seconds.get)
    torch.set_num_threads(best)
    return best, seconds


def decode_scores(run: Path, text, beam: int, batch_size: int = 64) -> dict:
    model = Translator.from_pretrained(run)
    started = time.perf_counter()
    outputs = translate_texts(model, text.source, beam=beam, batch_size=batch_size)
    seconds = time.perf_counter() - started
    scores = corpus_scores([o.text for o in outputs], text.references)
    return {"beam": beam, "bleu": scores.bleu, "chrf": scores.chrf, "seconds": seconds,
            "sentences_per_s": len(outputs) / seconds, "detail": scores.bleu_detail,
            "bleu_signature": scores.bleu_signature, "chrf_signature": scores.chrf_signature,
            "examples": [(text.source[i], outputs[i].text, text.references[i]) for i in (0, 1, 2)]}


def single_sentence_speed(run: Path, sources: list[str], beam: int) -> float:
    model = Translator.from_pretrained(run)
    started = time.perf_counter()
    for source in sources:
        translate_texts(model, [source], beam=beam)
    return len(sources) / (time.perf_counter() - started)


def curve(run: Path) -> list[dict]:
    return [{"step": r["step"], "train_time": r["train_time"], "bleu": r["dev_bleu"],
             "chrf": r["dev_chrf"], "loss": r["dev_loss"]}
            for r in read_metrics(run / "metrics.jsonl") if "dev_bleu" in r]


def bleu_at(points: list[dict], seconds: float) -> dict | None:
    """The last evaluation at or before `seconds` of training."""
    before = [p for p in points if p["train_time"] <= seconds + 1e-6]
    return before[-1] if before else None


def plot(points: dict[str, list[dict]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, series in points.items():
        ax.plot([p["train_time"] / 60 for p in series], [p["bleu"] for p in series], "o-",
                label=label, markersize=3)
    ax.axhline(30, color="grey", linestyle=":", label="target 30")
    ax.set_xlabel("training time (minutes, evaluation excluded)")
    ax.set_ylabel("val BLEU (greedy, sacreBLEU)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not (args.data_dir / "train.de.gz").is_file():
        print(f"{args.data_dir} has no Multi30k files; nothing to do", file=sys.stderr)
        return 1
    data = files(args.data_dir)
    dev = read_parallel(args.data_dir / "val.de.gz", args.data_dir / "val.en.gz")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-translate-") as temporary:
        folder = args.runs_dir or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        if args.threads:
            threads, thread_seconds = args.threads, {}
            torch.set_num_threads(threads)
        else:
            threads, thread_seconds = time_threads(data, folder)
        print(f"training with {threads} thread(s)", flush=True)

        run = folder / "attention"
        result = train_translator(**data, out=run, log=quiet, progress_bar=False,
                                  train_options=dict(max_time=args.budget,
                                                     eval_interval=args.eval_interval))
        config = json.loads((run / "config.json").read_text())
        attention_curve = curve(run)
        greedy = decode_scores(run, dev, beam=1)
        beam = decode_scores(run, dev, beam=5)
        print(f"greedy {greedy['bleu']:.2f}, beam 5 {beam['bleu']:.2f}", flush=True)
        speed_sources = dev.source[:args.speed_sentences]
        single = {b: single_sentence_speed(run, speed_sources, b) for b in (1, 5)}

        contrast_run = folder / "no-attention"
        contrast = train_translator(**data, out=contrast_run, log=quiet, progress_bar=False,
                                    model=dict(attention="none"),
                                    train_options=dict(max_time=args.contrast_budget,
                                                       eval_interval=args.eval_interval))
        contrast_curve = curve(contrast_run)
        contrast_greedy = decode_scores(contrast_run, dev, beam=1)
        contrast_beam = decode_scores(contrast_run, dev, beam=5)
        same_time = bleu_at(attention_curve, contrast.train_time)
        parameters = Translator.from_pretrained(run).num_parameters()
        contrast_parameters = Translator.from_pretrained(contrast_run).num_parameters()

    wall = time.time() - started
    results = {
        "machine": machine_description(), "command": command_line(), "threads": threads,
        "thread_check_seconds": thread_seconds, "wall_seconds": wall,
        "attention": {"config": config, "parameters": parameters, "steps": result.step,
                      "epochs": result.epochs, "train_time": result.train_time,
                      "best_step": result.best_step, "curve": attention_curve,
                      "greedy": greedy, "beam5": beam,
                      "single_sentence_per_s": {"greedy": single[1], "beam5": single[5]}},
        "no_attention": {"parameters": contrast_parameters, "steps": contrast.step,
                         "epochs": contrast.epochs, "train_time": contrast.train_time,
                         "curve": contrast_curve, "greedy": contrast_greedy,
                         "beam5": contrast_beam, "attention_model_at_same_time": same_time},
    }
    print(json.dumps({k: v for k, v in results.items() if k != "attention"}, indent=1)[:2000])
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "translate.json").write_text(json.dumps(results, indent=1, ensure_ascii=False),
                                                encoding="utf-8")
        plot({"attention (general)": attention_curve, "no attention": contrast_curve},
             RESULTS / "translate_bleu.png")
        write_section(SECTION, report(results))
    return 0


def report(r: dict) -> str:
    a, n = r["attention"], r["no_attention"]
    model = a["config"]["model"]
    vocab = a["config"]["vocab"]
    train = a["config"]["train"]
    target_met = "met" if a["beam5"]["bleu"] >= 30 else "NOT met"
    rows = [[f"{p['train_time'] / 60:.1f}", p["step"], f"{p['bleu']:.2f}", f"{p['chrf']:.2f}",
             f"{p['loss']:.3f}"] for p in a["curve"]]
    same = n["attention_model_at_same_time"]
    lines = [
        "## Translation: Multi30k German → English (`rnnlab translate`)",
        "",
        f"Command: `flock /tmp/rnnlab-bench.lock {r['command']}`  ",
        f"Machine: {r['machine']}; trained with {r['threads']} torch thread(s)"
        + (f" (40-step check: " + ", ".join(f"{t} thread(s) {s:.1f} s" for t, s in
                                            r["thread_check_seconds"].items()) + ")"
           if r["thread_check_seconds"] else "")
        + f"; whole benchmark {r['wall_seconds'] / 60:.1f} min of wall time. Other engineers' "
          "tests may have shared the two cores during this run (the lock only serialises "
          "benchmarks).",
        "",
        f"Model (the defaults): bidirectional {model['cell']} encoder {model['num_layers']}×"
        f"{model['hidden_size']}, {model['cell']} decoder {model['decoder_layers']}×"
        f"{model['decoder_hidden_size'] or 2 * model['hidden_size']}, {model['attention']} "
        f"attention (Luong), context concatenation, embeddings {model['embedding_size']} "
        f"(target tied to the output layer), dropout {model['dropout']}; "
        f"{a['parameters']:,} parameters. SentencePiece unigram subwords learned on the "
        f"training side: {vocab['source_size']:,} German, {vocab['target_size']:,} English. "
        f"Batches of {train['batch_size']} pairs, AdamW lr {train['lr']} (warm-up "
        f"{train['warmup_steps']} steps, cosine over the time budget), label smoothing "
        f"{train['label_smoothing']}, clip {train['clip_norm']}.",
        "",
        f"**Val BLEU after {a['train_time'] / 60:.1f} min of training "
        f"({a['steps']:,} steps, {a['epochs']:.2f} epochs): beam 5 {a['beam5']['bleu']:.2f}, "
        f"greedy {a['greedy']['bleu']:.2f}** (best weights, step {a['best_step']}; target ≥ 30: "
        f"{target_met}). chrF: beam 5 {a['beam5']['chrf']:.2f}, greedy {a['greedy']['chrf']:.2f}. "
        "The best weights are chosen by greedy BLEU on this same val set (there is no separate "
        "test set in shared/), so the figure is slightly optimistic.",
        "",
        f"- beam 5: `{a['beam5']['detail']}`",
        f"- greedy: `{a['greedy']['detail']}`",
        f"- BLEU signature `{a['beam5']['bleu_signature']}`; chrF signature "
        f"`{a['beam5']['chrf_signature']}`",
        "",
        "BLEU (greedy) against training time (also `benchmarks/results/translate_bleu.png`):",
        "",
        markdown_table(["train min", "step", "BLEU", "chrF", "val loss (nats/subword)"], rows),
        "",
        f"**Without attention** (`--attention none`: the decoder's context is the encoder's "
        f"final states at every step; {n['parameters']:,} parameters), {n['train_time'] / 60:.1f} "
        f"min of training ({n['epochs']:.2f} epochs): greedy {n['greedy']['bleu']:.2f}, beam 5 "
        f"{n['beam5']['bleu']:.2f} BLEU"
        + (f"; the attention model at {same['train_time'] / 60:.1f} min had greedy "
           f"{same['bleu']:.2f}." if same else "."),
        "",
        "Decoding speed on val (sentences per second, best weights, "
        f"{r['threads']} thread(s)):",
        "",
        markdown_table(["search", "batched (64)", "one sentence at a time"], [
            ["greedy", f"{a['greedy']['sentences_per_s']:.1f}",
             f"{a['single_sentence_per_s']['greedy']:.1f}"],
            ["beam 5", f"{a['beam5']['sentences_per_s']:.1f}",
             f"{a['single_sentence_per_s']['beam5']:.1f}"]]),
        "",
        "Beam 5 also decodes greedily to compare (`keep_greedy`, ~20% of its time), so it "
        "never returns a hypothesis the model scores below the greedy one.",
        "",
        "Examples (beam 5): " + "; ".join(f"*{s}* → {h} (ref: {ref})"
                                          for s, h, ref in a["beam5"]["examples"]),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
