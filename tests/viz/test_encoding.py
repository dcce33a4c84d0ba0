"""8-bit activations per unit and base64 arrays: what the page decodes is what Python had."""

import base64

import numpy as np
import pytest

from rnnlab.errors import RnnlabError
from rnnlab.viz.encoding import pack, pack_units, quantize_units, unpack


def test_quantized_units_are_within_half_a_step_of_the_values():
    rng = np.random.default_rng(0)
    values = np.stack([rng.uniform(-1, 1, 500), rng.uniform(0, 0.01, 500),
                       rng.normal(0, 30, 500)], axis=1).astype(np.float32)       # (T, 3)
    q = quantize_units(values)
    assert q.codes.shape == (3, 500) and q.codes.dtype == np.uint8              # unit-major
    error = np.abs(q.dequantize() - values)
    spans = values.max(axis=0) - values.min(axis=0)
    assert (error <= spans / 510 * 1.0001 + 1e-7).all()
    # every unit uses the full 0..255 range of codes (its own min and max)
    assert q.codes.min(axis=1).tolist() == [0, 0, 0]
    assert q.codes.max(axis=1).tolist() == [255, 255, 255]


def test_a_constant_unit_decodes_exactly():
    values = np.full((10, 2), 0.25, dtype=np.float32)
    values[:, 1] = np.linspace(-1, 1, 10)
    q = quantize_units(values)
    assert q.step[0] == 0 and (q.dequantize()[:, 0] == 0.25).all()


def test_non_finite_activations_are_refused():
    with pytest.raises(RnnlabError, match="NaN"):
        quantize_units(np.array([[0.0], [np.nan]]))


def test_pack_is_little_endian_base64_of_the_typed_array():
    packed = pack(np.array([1, 258]), "u16")
    assert base64.b64decode(packed["b64"]) == bytes([1, 0, 2, 1])
    assert packed["length"] == 2 and packed["dtype"] == "u16"
    floats = np.array([0.5, -2.0, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(unpack(pack(floats, "f32")), floats)


def test_pack_units_holds_codes_lo_and_step():
    values = np.array([[0.0, 1.0], [1.0, 3.0]], dtype=np.float32)       # (T=2, H=2)
    packed = pack_units(values)
    assert (packed["units"], packed["steps"]) == (2, 2)
    assert unpack(packed["codes"]).tolist() == [0, 255, 0, 255]       # unit 0 then unit 1
    np.testing.assert_allclose(unpack(packed["lo"]), [0.0, 1.0])
    np.testing.assert_allclose(unpack(packed["step"]), [1 / 255, 2 / 255], rtol=1e-6)
