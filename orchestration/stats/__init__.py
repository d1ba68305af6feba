"""Statistics: speed vs. conversion, arrival forecasts, staffing, experiments, rep outliers."""

from __future__ import annotations

import ctypes
import glob
import os
from contextlib import contextmanager


@contextmanager
def single_threaded_blas():
    """Run numpy's OpenBLAS on one thread inside the block.

    The model matrices here are small (thousands of rows, tens of columns), and on a machine whose
    few cores are busy (DuckDB, other runs) OpenBLAS's threads fight over them: a rep fixed-effects
    fit measured 16x slower with the default thread count than with one thread. A no-op where
    numpy is not linked against the bundled OpenBLAS."""
    import numpy

    setter = None
    for path in glob.glob(os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs", "*openblas*")):
        lib = ctypes.CDLL(path)
        setter = next((getattr(lib, n) for n in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads")
                       if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads")
                       if hasattr(lib, n)), None)
        break
    if setter is None or getter is None:
        yield
        return
    before = getter()
    setter(1)
    try:
        yield
    finally:
        setter(before)
