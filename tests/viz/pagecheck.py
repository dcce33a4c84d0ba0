"""Helpers of the browser tests: the colour scales as docs/viz.md states them, activations
computed without rnnlab.viz, and reading colours off a page."""

import math
import re

import numpy as np
import torch

from rnnlab.cli import main

# docs/viz.md, "Colour scales"
NEG, POS, SEQ = (67, 147, 195), (214, 96, 77), (128, 125, 186)


def mix(end, t):
    return tuple(math.floor(255 + t * (e - 255) + 0.5) for e in end)


def diverging(v, bound):
    t = max(-1.0, min(1.0, v / bound))
    return mix(POS, t) if t >= 0 else mix(NEG, -t)


def sequential(v, lo, hi):
    return mix(SEQ, max(0.0, min(1.0, (v - lo) / (hi - lo))))


def rgb(text):
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def build(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@torch.no_grad()
def layer_outputs(model, ids):
    """h of every layer from torch's own nn.GRU, one single-layer module per layer."""
    x = model.embedding(torch.as_tensor(ids)).unsqueeze(0)
    outputs = []
    for layer in range(model.config.num_layers):
        gru = torch.nn.GRU(x.shape[2], model.config.hidden_size, batch_first=True)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(gru, f"{name}_l0").copy_(model.state_dict()[f"encoder.rnn.{name}_l{layer}"])
        x, _ = gru(x)
        outputs.append(x[0].numpy())
    return outputs


def update_gate(model, layer, inputs, h):
    """z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz): rows H..2H of PyTorch's GRU layout."""
    H = model.config.hidden_size
    w = {k: model.state_dict()[f"encoder.rnn.{k}_l{layer}"].numpy()[H:2 * H]
         for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    h_prev = np.concatenate([np.zeros((1, H)), h[:-1]])
    a = inputs @ w["weight_ih"].T + w["bias_ih"] + h_prev @ w["weight_hh"].T + w["bias_hh"]
    return 1 / (1 + np.exp(-a))


def inside_quotes(text):
    """1 after an opening quote, 0 after its closing quote (counted here, not imported)."""
    return np.array([text[:t + 1].count('"') % 2 for t in range(len(text))], dtype=float)


def open_page(tab, path):
    requests = []
    tab.on("request", lambda request: requests.append(request.url))
    tab.goto(path.resolve().as_uri())
    tab.wait_for_selector("#main > .controls")
    return requests


def colours(tab, indices, prefix="ch-"):
    return [rgb(c) for c in tab.evaluate(
        "([ids, prefix]) => ids.map(i => getComputedStyle(document.getElementById(prefix + i))"
        ".backgroundColor)", [list(indices), prefix])]


TRANSPARENT = "rgba(0, 0, 0, 0)"


def background(tab, index):
    return tab.evaluate("i => getComputedStyle(document.getElementById('ch-' + i)).backgroundColor",
                        index)


def assert_close_colours(actual, expected, tolerance=2):
    worst = max(max(abs(a - e) for a, e in zip(x, y)) for x, y in zip(actual, expected))
    assert worst <= tolerance, f"colour off by {worst}"
