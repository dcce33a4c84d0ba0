#!/usr/bin/env bash
# The checks that need a GPU, as one short script for when a GPU machine is lent (a few minutes):
#   1. the `gpu` tests (training, resume and sampling on CUDA; CPU/GPU parity; bf16 autocast);
#   2. training throughput of the default char LM and of an LSTM 2x512 on CUDA vs this CPU;
#   3. minGRU/minLSTM against nn.GRU/nn.LSTM at BPTT 128, 512 and 2,048 on the GPU (issue 13:
#      does the ratio grow with length where the hardware is parallel?), written to the
#      "parallel-scan-gpu" section of BENCHMARKS.md.
# Usage: bash benchmarks/gpu_check.sh   (from the repository root, after `make setup`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total --format=csv || true
$PY -m pytest -q -p no:cacheprovider -m gpu tests/gpu
$PY - <<'PY'
import time, torch
from rnnlab.models.lm import CharLM, CharLMConfig
from rnnlab.train.precision import autocast, resolve_precision

def tokens_per_second(device, cell, hidden, batch=64, bptt=128, steps=20):
    torch.manual_seed(0)
    model = CharLM(CharLMConfig(vocab_size=65, cell=cell, hidden_size=hidden, embedding_size=128,
                                num_layers=2)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    precision = resolve_precision("auto", torch.device(device))
    x = torch.randint(0, 65, (batch, bptt + 1), device=device)
    def step():
        with autocast(precision, torch.device(device)):
            logits, _ = model(x[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
        optimizer.zero_grad(); loss.backward(); optimizer.step()
    step(); step()
    if device == "cuda": torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps): step()
    if device == "cuda": torch.cuda.synchronize()
    return batch * bptt * steps / (time.perf_counter() - start), precision

for cell, hidden in (("gru", 256), ("lstm", 512)):
    gpu, precision = tokens_per_second("cuda", cell, hidden)
    cpu, _ = tokens_per_second("cpu", cell, hidden, steps=3)
    print(f"{cell} 2x{hidden}, batch 64 x BPTT 128: cuda ({precision}) {gpu:,.0f} tokens/s, "
          f"cpu {cpu:,.0f} tokens/s ({gpu / cpu:.1f}x)")
PY
$PY benchmarks/bench_parallel_scan.py --device cuda --skip-scan --skip-quality --section parallel-scan-gpu
