"""Section 1.1: sequence data, variable lengths and the four task types, with rnnlab.

1. Order matters. "I love machine learning" and "machine learning I love" hold the same words:
   a bag-of-words (mean of the word embeddings) cannot tell them apart, a recurrent encoder can.
2. Variable lengths, exactly. The chapter's three sequences (1, 3 and 5 tokens) go into one
   padded (B, T) batch. `RecurrentEncoder` packs the batch using the true lengths, so every
   sequence gets the same final state as when it runs alone and padded outputs are exact
   zeros, for every cell and for bidirectional layers. Running the padded batch WITHOUT
   lengths shows what goes wrong otherwise: short sequences read the padding.
3. The four task types of the chapter's table, each as the rnnlab model that implements it,
   with the shapes that flow through it.

Tensors are batch-first: ids (B, T), features (B, T, D).

    python examples/s1_1_sequence_data.py
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections import Counter

import torch
from torch import nn

from rnnlab.data.padding import pad_sequences
from rnnlab.data.wordvocab import WordVocab
from rnnlab.nn.encoder import RecurrentEncoder

SENTENCE_1 = ["I", "love", "machine", "learning"]
SENTENCE_2 = ["machine", "learning", "I", "love"]
SEQUENCES = [["Hello"], ["How", "are", "you"], ["The", "quick", "brown", "fox", "jumps"]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="accepted for uniformity; this example is always tiny "
                             "(also RNNLAB_EXAMPLES_TINY=1)")
    parser.add_argument("--out", metavar="DIR", help="unused: this example writes no files")
    args = parser.parse_args(argv)
    args.tiny = args.tiny or os.environ.get("RNNLAB_EXAMPLES_TINY", "") not in ("", "0")
    return args


def order_matters(vocab: WordVocab, embedding: nn.Embedding) -> None:
    print("== 1. order matters ==")
    same_bag = Counter(SENTENCE_1) == Counter(SENTENCE_2)
    print(f"  {' '.join(SENTENCE_1)!r} and {' '.join(SENTENCE_2)!r}: same words: {same_bag}")
    ids = torch.tensor([vocab.encode(" ".join(s)) for s in (SENTENCE_1, SENTENCE_2)])  # (2, 4)
    x = embedding(ids)                                                    # (2, 4, E)
    bag = x.mean(dim=1)                                                   # (2, E)
    encoder = RecurrentEncoder(x.shape[2], 8, cell="rnn_tanh").double()
    _, h_n = encoder(x)                                                   # (1, 2, 8)
    print(f"  bag of words (mean embedding): ‖difference‖ = {(bag[0] - bag[1]).norm():.2e}")
    print(f"  RNN final state h_T:           ‖difference‖ = {(h_n[0, 0] - h_n[0, 1]).norm():.2e}")
    print()


def exact_padding(vocab: WordVocab, embedding: nn.Embedding) -> None:
    print("== 2. variable lengths in one padded batch ==")
    ids, lengths = pad_sequences([vocab.encode(" ".join(s)) for s in SEQUENCES], vocab.pad_id)
    print(f"  lengths {lengths.tolist()}, padded ids (B, T) = {tuple(ids.shape)}:")
    for row in ids.tolist():
        print("   ", row)
    x = embedding(ids)                                                    # (3, 5, E)
    print("  cell      directions  batch vs alone  padded outputs  without lengths (short seqs)")
    for cell in ("rnn_tanh", "lstm", "gru"):
        for bidirectional in (False, True):
            torch.manual_seed(1)
            encoder = RecurrentEncoder(x.shape[2], 6, cell=cell, num_layers=2,
                                       bidirectional=bidirectional).double()
            outputs, state = encoder(x, lengths)                          # (3, 5, 6·dirs)
            h_n = state[0] if isinstance(state, tuple) else state         # (2·dirs, 3, 6)
            batch_vs_alone = 0.0
            padded = 0.0
            for b, length in enumerate(lengths.tolist()):
                alone_out, alone_state = encoder(x[b:b + 1, :length])     # no padding at all
                alone_h = alone_state[0] if isinstance(alone_state, tuple) else alone_state
                batch_vs_alone = max(batch_vs_alone,
                                     (outputs[b, :length] - alone_out[0]).abs().max().item(),
                                     (h_n[:, b] - alone_h[:, 0]).abs().max().item())
                if length < ids.shape[1]:
                    padded = max(padded, outputs[b, length:].abs().max().item())
            _, naive_state = encoder(x)                                   # padding read as input
            naive_h = naive_state[0] if isinstance(naive_state, tuple) else naive_state
            naive = (naive_h[:, :2] - h_n[:, :2]).abs().max().item()      # the two short ones
            print(f"  {cell:<9} {2 if bidirectional else 1:>10}  {batch_vs_alone:>14.1e}  "
                  f"{padded:>14.1e}  {naive:>28.2e}")
    print("  With lengths, padding never changes a result (max |difference| ~ 1e-16 in float64);"
          "\n  without them the final states of the 1- and 3-token sequences are taken after "
          "reading padding.")
    print()


def task_types() -> None:
    from rnnlab.data.vocab import CharVocab
    from rnnlab.models.classifier import ClassifierConfig, RNNClassifier
    from rnnlab.models.lm import CharLM, CharLMConfig
    from rnnlab.data.tagging import TaggerVocab, make_batch
    from rnnlab.models.tagger import Tagger, config_for

    print("== 3. the four task types, as rnnlab models ==")
    torch.manual_seed(0)
    chars = CharVocab.from_text("to be or not to be")
    lm = CharLM(CharLMConfig(vocab_size=len(chars), cell="gru", embedding_size=8,
                             hidden_size=16, num_layers=1)).eval()
    lm.vocab = chars
    logits, state = lm(torch.as_tensor(chars.encode("to"), dtype=torch.long)[None])
    text = lm.generate("to", 12, seed=0)
    print(f"  one-to-many, generation:              CharLM (rnnlab.models.lm): prime ids (1, 2) "
          f"-> logits {tuple(logits.shape)}, then one step per new character -> {len(text)} "
          "characters (untrained, so gibberish)")

    classifier = RNNClassifier(ClassifierConfig(vocab_size=20, labels=["neg", "pos"],
                                                cell="rnn_tanh", embedding_size=8, hidden_size=16,
                                                bidirectional=False, pooling="last")).eval()
    ids, lengths = pad_sequences([[3, 4, 5], [6, 7, 8, 9, 10], [11]])
    print(f"  many-to-one, classification:          RNNClassifier (rnnlab.models.classifier): ids "
          f"{tuple(ids.shape)} -> logits {tuple(classifier(ids, lengths).shape)}")

    sentences = [(["The", "fox", "jumps"], ["DET", "NOUN", "VERB"]), (["Hello"], ["INTJ"])]
    vocab = TaggerVocab.build(sentences)
    tagger = Tagger(config_for(vocab, word_embedding_size=8, char_embedding_size=4,
                               char_hidden_size=4, hidden_size=8, num_layers=1), vocab).eval()
    batch = make_batch(vocab, [forms for forms, _ in sentences])
    print(f"  many-to-many synchronous, tagging:    Tagger (rnnlab.models.tagger): words "
          f"{tuple(batch.word_ids.shape)} -> tag logits {tuple(tagger(batch).shape)}")

    if importlib.util.find_spec("rnnlab.models.seq2seq") is not None:
        print("  many-to-many asynchronous, seq2seq:   rnnlab.models.seq2seq: an encoder reads "
              "N source tokens, a decoder writes M target tokens")
    else:
        print("  many-to-many asynchronous, seq2seq:   not in this rnnlab yet "
              "(chapter 2's topic)")


def main(argv: list[str] | None = None) -> int:
    parse_args(argv)
    torch.manual_seed(0)
    words = [" ".join(s) for s in [SENTENCE_1, SENTENCE_2, *SEQUENCES]]
    vocab = WordVocab.build(words, lowercase=False)
    embedding = nn.Embedding(len(vocab), 5, padding_idx=vocab.pad_id).double()
    with torch.no_grad():
        order_matters(vocab, embedding)
        exact_padding(vocab, embedding)
        task_types()
    return 0


if __name__ == "__main__":
    sys.exit(main())
