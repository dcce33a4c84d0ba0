"""Simple text features and the "interpretable cells" search: which units track them?

Karpathy, Johnson & Fei-Fei (2015) found, by looking, LSTM cells that switch on inside quotes or
count the position in a line. Here the search is computed: every unit of every layer and
quantity (h, c, gates) is correlated (Pearson r over the characters of the text) with each
feature below, and the units are ranked by |r|.

Each feature describes the state *after reading* character t, which is what the unit's value at
t can know:

    quotes    1 from an opening quote up to (not including) its closing quote: after reading
              the opening `"` the text is inside a quotation, after reading the closing one it
              is not. Straight quotes " toggle; curly “ opens and ” closes.
    column    the position of character t in its line, 0 for the first character after a
              line break (a counter, not a flag).
    word      1 where character t is a letter or digit (str.isalnum): inside a word.
    newline   1 where character t is a line break: the state just after a newline.

Torch-free: NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURES: dict[str, str] = {
    "quotes": "inside quotes",
    "column": "position in the line",
    "word": "inside a word",
    "newline": "just after a newline",
}


def inside_quotes(text: str) -> np.ndarray:
    """(T,) 1.0 after reading an opening quote and before reading its closing quote."""
    out = np.zeros(len(text), dtype=np.float64)
    inside = False
    for t, ch in enumerate(text):
        if ch == '"':
            inside = not inside
        elif ch == "\u201c":
            inside = True
        elif ch == "\u201d":
            inside = False
        out[t] = inside
    return out


def column(text: str) -> np.ndarray:
    """(T,) the 0-based position of each character in its line."""
    out = np.zeros(len(text), dtype=np.float64)
    position = 0
    for t, ch in enumerate(text):
        out[t] = position
        position = 0 if ch == "\n" else position + 1
    return out


def text_features(text: str) -> dict[str, np.ndarray]:
    """{feature name: (T,) float64} for the features of FEATURES."""
    return {
        "quotes": inside_quotes(text),
        "column": column(text),
        "word": np.array([ch.isalnum() for ch in text], dtype=np.float64),
        "newline": np.array([ch == "\n" for ch in text], dtype=np.float64),
    }


def correlations(values: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson r of each column of values (T, U) with feature (T,); 0 where either is constant
    (a constant has no linear relation to anything)."""
    values = np.asarray(values, dtype=np.float64)
    feature = np.asarray(feature, dtype=np.float64)
    centred = values - values.mean(axis=0)
    f = feature - feature.mean()
    denominator = np.sqrt((centred ** 2).sum(axis=0) * (f ** 2).sum())
    numerator = f @ centred
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)
    return np.clip(r, -1.0, 1.0)


@dataclass(frozen=True)
class RankedUnit:
    feature: str
    quantity: str      # "h", "c", or a gate name
    layer: int         # 0-based
    unit: int          # 0-based
    r: float

    def describe(self) -> str:
        return f"layer {self.layer + 1} {self.quantity} unit {self.unit}: r = {self.r:+.3f}"


def rank_units(activations: dict[tuple[str, int], np.ndarray], text: str,
               top: int = 10) -> dict[str, list[RankedUnit]]:
    """For each feature, the `top` units with the largest |r| over all quantities and layers.

    activations: {(quantity, layer): (T, H)}; ties keep the order of the dictionary.
    Features that are constant over the text (no quotes at all, say) rank nothing.
    """
    features = text_features(text)
    ranking: dict[str, list[RankedUnit]] = {}
    for name, feature in features.items():
        if len(feature) == 0 or np.ptp(feature) == 0:
            ranking[name] = []
            continue
        candidates: list[RankedUnit] = []
        for (quantity, layer), values in activations.items():
            r = correlations(values, feature)
            best = np.argsort(-np.abs(r), kind="stable")[:top]
            candidates += [RankedUnit(name, quantity, layer, int(u), float(r[u])) for u in best]
        candidates.sort(key=lambda unit: -abs(unit.r))
        ranking[name] = candidates[:top]
    return ranking
