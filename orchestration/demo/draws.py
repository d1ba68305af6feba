"""Random draws shared by the simulation steps (numpy, vectorised)."""

from __future__ import annotations

import numpy as np


def categorical(weights, u: np.ndarray) -> np.ndarray:
    """Index of each uniform ``u`` in the cumulative (normalised) ``weights``."""
    cumulative = np.cumsum(np.asarray(weights, np.float64))
    cumulative /= cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, u, side="right"), len(cumulative) - 1)


def lognormal_ms(rng: np.random.Generator, n: int, median_ms: float, sigma: float) -> np.ndarray:
    return np.exp(np.log(median_ms) + sigma * rng.standard_normal(n))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
