"""Compact binary arrays for the page: base64 typed arrays and 8-bit activations per unit.

A 20,000-character text through a 1,024-unit layer is 20 million activations per quantity.
As JSON numbers that would be ~200 MB; as float32 base64 ~110 MB. The page therefore stores
each unit's activations as 8-bit codes with that unit's own range:

    code = round((v - lo_u) / (hi_u - lo_u) · 255),     v ≈ lo_u + code · (hi_u - lo_u) / 255

so the error is at most (hi_u - lo_u) / 510 — under 0.4 % of the unit's range, well below what a
shade of colour can show — and a quantity costs one byte per unit and character (27 MB of base64
for the case above). Codes are stored unit-major, (H, T): the T values the page needs to shade
the text by one unit are one contiguous slice.

Torch-free: NumPy in, strings out.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from rnnlab.errors import RnnlabError

# dtype name in the page -> NumPy dtype (little-endian, as JavaScript's typed arrays read them)
DTYPES = {"u8": np.dtype("u1"), "u16": np.dtype("<u2"), "f32": np.dtype("<f4")}
LEVELS = 255


def pack(array: np.ndarray, dtype: str) -> dict:
    """{"dtype", "length", "b64"}: a flat typed array the page decodes with atob."""
    if dtype not in DTYPES:
        raise RnnlabError(f"unknown packed dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    flat = np.ascontiguousarray(np.asarray(array).reshape(-1), dtype=DTYPES[dtype])
    return {"dtype": dtype, "length": int(flat.size),
            "b64": base64.b64encode(flat.tobytes()).decode("ascii")}


def unpack(packed: dict) -> np.ndarray:
    """The inverse of `pack` (for tests and the server)."""
    data = base64.b64decode(packed["b64"])
    return np.frombuffer(data, dtype=DTYPES[packed["dtype"]]).copy()


@dataclass
class QuantizedUnits:
    """8-bit codes (H, T) with per-unit lo (H,) and step (H,) = (hi - lo) / 255."""

    codes: np.ndarray      # (H, T) uint8
    lo: np.ndarray         # (H,) float32
    step: np.ndarray       # (H,) float32, 0 for a constant unit

    def dequantize(self) -> np.ndarray:
        """(T, H) float32 values as the page reads them."""
        return (self.lo[:, None] + self.codes.astype(np.float32) * self.step[:, None]).T

    def max_error(self) -> np.ndarray:
        """(H,) the largest possible |v - dequantized v| per unit: half a step."""
        return self.step / 2


def quantize_units(values: np.ndarray) -> QuantizedUnits:
    """values (T, H) float -> QuantizedUnits (see the module docstring)."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise RnnlabError(f"activations must be (T, H), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise RnnlabError("activations hold NaN or infinite values; the model's weights are "
                          "not usable (was the run stopped by a NaN loss?)")
    lo = values.min(axis=0)
    hi = values.max(axis=0)
    step = ((hi - lo) / LEVELS).astype(np.float32)
    safe = np.where(step > 0, step, 1.0)
    codes = np.rint((values - lo) / safe).clip(0, LEVELS).astype(np.uint8)   # (T, H)
    return QuantizedUnits(np.ascontiguousarray(codes.T), lo.astype(np.float32), step)


def pack_units(values: np.ndarray) -> dict:
    """The page's form of one (quantity, layer): codes, lo and step, each packed."""
    q = quantize_units(values)
    return {"codes": pack(q.codes, "u8"), "lo": pack(q.lo, "f32"), "step": pack(q.step, "f32"),
            "units": int(q.codes.shape[0]), "steps": int(q.codes.shape[1])}
