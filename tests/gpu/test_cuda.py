"""The GPU path: training, resuming and sampling on CUDA, bf16 autocast where supported.

Behind the `gpu` marker (deselected by default; `pytest -m gpu`), and skipped without a CUDA
device. benchmarks/gpu_check.sh runs these and a throughput comparison when a GPU is lent.
"""

import pytest
import torch

from rnnlab.decoding import SamplingOptions
from rnnlab.models.lm import CharLM
from rnnlab.tasks.lm import train_char_lm

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog.\n" * 200, encoding="utf-8")
    return path


def quiet(message):
    pass


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_char_lm_trains_resumes_and_samples_on_cuda(tmp_path, corpus, precision):
    model = dict(cell="lstm", num_layers=2, hidden_size=64, embedding_size=16)
    train = dict(batch_size=16, bptt=32, max_steps=40, decay_steps=40, eval_interval=20,
                 precision=precision, sample_length=20)
    full = train_char_lm(data=str(corpus), out=tmp_path / "run", model=model, train=train,
                         device="cuda", progress_bar=False, log=quiet)
    assert full.step == 40 and full.scores["loss"] < 2.0
    resumed = train_char_lm(resume=tmp_path / "run", overrides={"max_steps": 44}, device="cuda",
                            progress_bar=False, log=quiet)
    assert resumed.step == 44
    lm = CharLM.from_pretrained(tmp_path / "run").to("cuda")
    text = lm.generate("the ", 50, SamplingOptions(temperature=0.5), seed=0)
    assert text == lm.generate("the ", 50, SamplingOptions(temperature=0.5), seed=0)
    assert set(text) <= set(lm.vocab.chars)


def test_cuda_and_cpu_give_the_same_logits(tmp_path, corpus):
    train_char_lm(data=str(corpus), out=tmp_path / "run", model=dict(hidden_size=32, embedding_size=8),
                  train=dict(batch_size=8, bptt=16, max_steps=5, precision="fp32", sample_length=0),
                  device="cuda", progress_bar=False, log=quiet)
    cpu = CharLM.from_pretrained(tmp_path / "run").double()
    gpu = CharLM.from_pretrained(tmp_path / "run").double().to("cuda")
    ids = torch.randint(0, cpu.config.vocab_size, (3, 40))
    expected, _ = cpu(ids)
    actual, _ = gpu(ids.to("cuda"))
    torch.testing.assert_close(actual.cpu(), expected, rtol=1e-9, atol=1e-9)
