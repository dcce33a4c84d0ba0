"""BLAS thread control for NumPy code: a context manager that caps the threads, and a reader.

The reference engine's matrices are small (B*T x H), so extra BLAS threads barely help, and on a
busy machine they wait on each other (on a loaded 2-core machine the default OpenBLAS threads
made char-LM training ~10x slower than 1 thread). Torch-free: NumPy, ctypes and, when installed,
threadpoolctl.
"""

from __future__ import annotations

import contextlib
import ctypes
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def blas_thread_limit(threads: int | None):
    """Run the block with at most `threads` BLAS threads, then restore the previous number.

    Uses threadpoolctl when it is installed, else OpenBLAS's own get/set functions in the library
    bundled with NumPy's wheels; with neither (another BLAS, or threads=None) it changes nothing.
    """
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
        return
    openblas = _openblas_thread_functions()
    if openblas is None:
        yield
        return
    get_threads, set_threads = openblas
    previous = get_threads()
    set_threads(threads)
    try:
        yield
    finally:
        set_threads(previous)


def current_blas_threads() -> int | None:
    """The number of threads NumPy's OpenBLAS uses now, or None when it cannot be read."""
    openblas = _openblas_thread_functions()
    return openblas[0]() if openblas else None


def _openblas_thread_functions():
    """(get_num_threads, set_num_threads) of the OpenBLAS inside NumPy's wheel, or None."""
    package = Path(np.__file__).resolve().parent
    candidates = [*sorted((package.parent / "numpy.libs").glob("*openblas*")),
                  *sorted((package / ".dylibs").glob("*openblas*"))]
    # Symbol names differ between OpenBLAS builds: scipy-openblas (NumPy >= 2), 64-bit ints, plain.
    names = [("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
             ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
             ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
             ("openblas_get_num_threads", "openblas_set_num_threads")]
    for path in candidates:
        try:
            library = ctypes.CDLL(str(path))  # already loaded by NumPy: this returns the same copy
        except OSError:
            continue
        for get_name, set_name in names:
            get_threads, set_threads = getattr(library, get_name, None), getattr(library, set_name, None)
            if get_threads is not None and set_threads is not None:
                get_threads.restype, set_threads.argtypes = ctypes.c_int, [ctypes.c_int]
                return get_threads, set_threads
    return None
