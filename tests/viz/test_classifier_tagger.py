"""Classifier and tagger pages' data: exact per-token contributions, gold vs predicted tags."""

import numpy as np
import pytest
import torch

from rnnlab.data.tagging import TaggerVocab
from rnnlab.data.wordvocab import WordVocab
from rnnlab.models.classifier import RNNClassifier
from rnnlab.models.configs import ClassifierConfig
from rnnlab.models.tagger import Tagger, config_for
from rnnlab.tasks.classify import predict_logits
from rnnlab.viz.classifier import classifier_payload, explain_text
from rnnlab.viz.tagger import read_sentences, tagger_payload

TEXTS = ["a gorgeous witty film", "tedious and long , a bore", "film film film", "zzz unknown"]


def classifier(tmp_path, pooling, bidirectional=True, seed=0):
    torch.manual_seed(seed)
    vocab = WordVocab.build(TEXTS[:3])
    model = RNNClassifier(ClassifierConfig(vocab_size=len(vocab), labels=["neg", "pos", "meh"],
                                           cell="gru", embedding_size=6, hidden_size=5,
                                           bidirectional=bidirectional, pooling=pooling))
    model.vocab = vocab
    model.save_pretrained(tmp_path / f"clf-{pooling}")
    return RNNClassifier.from_pretrained(tmp_path / f"clf-{pooling}")


@pytest.mark.parametrize("pooling,bidirectional", [("mean", True), ("max", True),
                                                    ("attention", True), ("last", True),
                                                    ("last", False), ("attention", False)])
def test_contributions_add_up_to_the_logit_minus_the_bias(tmp_path, pooling, bidirectional):
    model = classifier(tmp_path, pooling, bidirectional)
    logits = predict_logits(model, [model.vocab.encode(t) for t in TEXTS]).double().numpy()
    for text, row in zip(TEXTS, logits):
        e = explain_text(model, text)
        assert e["contributions"].shape == (3, len(model.vocab.encode(text)))
        np.testing.assert_allclose(e["contributions"].sum(axis=1) + e["bias"], row, atol=1e-5)
        if pooling == "attention":
            assert e["attention"].sum() == pytest.approx(1.0) and (e["attention"] > 0).all()
        else:
            assert e["attention"] is None


def test_last_pooling_puts_everything_on_the_ends(tmp_path):
    e = explain_text(classifier(tmp_path, "last", bidirectional=True), "a gorgeous witty film")
    assert (e["contributions"][:, 1:-1] == 0).all()
    e = explain_text(classifier(tmp_path, "last", bidirectional=False), "a gorgeous witty film")
    assert (e["contributions"][:, :-1] == 0).all()


def test_classifier_payload_marks_unknown_words_and_predictions(tmp_path):
    model = classifier(tmp_path, "attention")
    payload = classifier_payload(model, TEXTS)
    example = payload["examples"][3]
    assert example["tokens"] == ["zzz", "unknown"] and example["known"] == [False, False]
    probs = torch.softmax(predict_logits(model, [model.vocab.encode(TEXTS[3])])[0], 0).numpy()
    assert example["predicted"] == int(np.argmax(probs))
    np.testing.assert_allclose(example["probs"], probs, atol=1e-5)
    low, high = payload["contribution_range"]
    assert high == pytest.approx(max(abs(v) for ex in payload["examples"]
                                     for row in ex["contributions"] for v in row), abs=1e-6)
    assert low == -high


CONLLU = """# sent_id = 1
1\tthe\tthe\tDET\t_\t_\t0\t_\t_\t_
2\tdog\tdog\tNOUN\t_\t_\t0\t_\t_\t_
3\truns\trun\tVERB\t_\t_\t0\t_\t_\t_

# sent_id = 2
1\ta\ta\tDET\t_\t_\t0\t_\t_\t_
2\tzebra\tzebra\tNOUN\t_\t_\t0\t_\t_\t_

"""


def tagger(tmp_path):
    torch.manual_seed(0)
    pairs = [(["the", "dog", "runs"], ["DET", "NOUN", "VERB"]), (["a", "cat"], ["DET", "NOUN"])]
    vocab = TaggerVocab.build(pairs)
    model = Tagger(config_for(vocab, word_embedding_size=4, char_embedding_size=3,
                              char_hidden_size=3, hidden_size=4), vocab)
    model.save_pretrained(tmp_path / "tagger")
    return Tagger.from_pretrained(tmp_path / "tagger")


def test_tagger_payload_compares_gold_with_the_models_predictions(tmp_path):
    model = tagger(tmp_path)
    path = tmp_path / "dev.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    sentences = read_sentences(CONLLU, str(path), "upos")
    assert sentences[1] == (["a", "zebra"], ["DET", "NOUN"])
    payload = tagger_payload(model, sentences)
    predicted = model.predict([["the", "dog", "runs"], ["a", "zebra"]])
    assert [s["predicted"] for s in payload["sentences"]] == predicted
    gold = [["DET", "NOUN", "VERB"], ["DET", "NOUN"]]
    errors = sum(g != p for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps))
    assert (payload["errors"], payload["scored"]) == (errors, 5)
    assert payload["sentences"][1]["oov"] == [False, True]
    assert all(0 < c <= 1 for s in payload["sentences"] for c in s["confidence"])


def test_plain_text_is_one_sentence_per_line_without_gold(tmp_path):
    sentences = read_sentences("the dog runs\n\n  a cat \n", None, "upos")
    assert sentences == [(["the", "dog", "runs"], None), (["a", "cat"], None)]
    payload = tagger_payload(tagger(tmp_path), sentences)
    assert payload["scored"] == 0 and payload["sentences"][0]["gold"] is None
