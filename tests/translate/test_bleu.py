"""BLEU and chrF come from sacreBLEU: the same figures as its own command line, and BLEU as
the definition gives it (Papineni et al. 2002) on strings worked through here."""

import json
import math
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from rnnlab.tasks.translate import corpus_scores

HYPOTHESES = ["The cat sat on the mat.", "A dog, running fast!", "Zwei Männer (im Park)",
              "nothing matches here at all"]
REFERENCES = ["The cat is on the mat.", "A dog runs fast!", "Two men in the park",
              "a completely different sentence"]


def sacrebleu_command() -> list[str]:
    script = Path(sys.executable).with_name("sacrebleu")
    found = str(script) if script.is_file() else shutil.which("sacrebleu")
    if found is None:
        pytest.skip("the sacrebleu command is not installed")
    return [found]


def test_scores_equal_the_sacrebleu_command_line(tmp_path):
    hypotheses, references = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hypotheses.write_text("".join(h + "\n" for h in HYPOTHESES), encoding="utf-8")
    references.write_text("".join(r + "\n" for r in REFERENCES), encoding="utf-8")
    output = subprocess.run(sacrebleu_command() + [str(references), "-i", str(hypotheses),
                                                   "-m", "bleu", "chrf", "-w", "6"],
                            capture_output=True, text=True, check=True).stdout
    bleu, chrf = json.loads(output)
    ours = corpus_scores(HYPOTHESES, REFERENCES)
    assert ours.bleu == pytest.approx(bleu["score"], abs=1e-6)
    assert ours.chrf == pytest.approx(chrf["score"], abs=1e-6)
    assert ours.bleu_signature == bleu["signature"]
    assert ours.chrf_signature == chrf["signature"]
    assert ours.bleu_signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|")


def hand_bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU-4 from its definition: clipped n-gram counts summed over the corpus, their
    geometric mean, and the brevity penalty. For lower-case words without punctuation,
    sacreBLEU's 13a tokenisation is a split on spaces."""
    matches, totals = [0] * 4, [0] * 4
    hyp_length = ref_length = 0
    for hypothesis, reference in zip(hypotheses, references):
        h, r = hypothesis.split(), reference.split()
        hyp_length, ref_length = hyp_length + len(h), ref_length + len(r)
        for n in range(1, 5):
            h_grams = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            r_grams = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
            matches[n - 1] += sum(min(c, r_grams[g]) for g, c in h_grams.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    brevity = min(0.0, 1 - ref_length / hyp_length)
    return 100 * math.exp(brevity + log_precision)


def test_bleu_follows_its_definition_on_fixed_strings():
    hypotheses = ["the cat sat on the mat", "there is a dog in the garden today"]
    references = ["the cat is on the mat", "there is a big dog in the garden today"]
    # Counted by hand, sentence 1 + sentence 2 (clipped matches / hypothesis n-grams):
    #   1-grams 5/6 + 8/8 = 13/14    2-grams 3/5 + 6/7 = 9/12
    #   3-grams 1/4 + 4/6 = 5/10     4-grams 0/3 + 2/5 = 2/8
    #   hypothesis length 14, reference length 15: brevity penalty exp(1 - 15/14)
    expected = 100 * math.exp(1 - 15 / 14) * (13 / 14 * 9 / 12 * 5 / 10 * 2 / 8) ** 0.25
    assert hand_bleu(hypotheses, references) == pytest.approx(expected, abs=1e-9)
    assert corpus_scores(hypotheses, references).bleu == pytest.approx(expected, abs=1e-9)
    # hypotheses shorter than the references: the brevity penalty applies
    short = ["the cat sat", "there is a dog in the garden"]
    assert corpus_scores(short, references).bleu == pytest.approx(hand_bleu(short, references),
                                                                  abs=1e-9)
    # a perfect corpus scores 100
    assert corpus_scores(references, references).bleu == pytest.approx(100.0)
