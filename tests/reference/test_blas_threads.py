"""BLAS thread control: the limit applies inside the block and the old number comes back after."""

import pytest

from rnnlab.reference.blas_threads import blas_thread_limit, current_blas_threads


def test_blas_thread_limit_applies_inside_and_restores_after():
    before = current_blas_threads()
    if before is None:
        pytest.skip("NumPy's BLAS is not a bundled OpenBLAS; the limit is a no-op there")
    with blas_thread_limit(1):
        assert current_blas_threads() == 1
    assert current_blas_threads() == before
    with blas_thread_limit(None):
        assert current_blas_threads() == before
