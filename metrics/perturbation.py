"""Perturbation-response metrics: how close predicted cells come to the observed perturbed cells.

- ``squared_pearson``: scGen's "R² of mean expression", the squared Pearson correlation over genes of
  the predicted and observed mean expression (``scipy.stats.linregress(x, y).rvalue ** 2``).
- ``delta_pearson``: Pearson correlation over genes of the predicted and observed mean shift from the
  control cells; 0 when the predicted shift is constant (the *no change* prediction), where the
  correlation is undefined.
- ``energy_distance``: Székely's energy distance 2·E‖X − Y‖ − E‖X − X′‖ − E‖Y − Y′‖ between two sets of
  cells (Euclidean, all pairs including each cell with itself, so a set has distance 0 to itself).
- ``scaled_to_references``: a value placed on the scale where *no change* is 0 and *observed* is 1.
"""

import numpy as np
from scipy.spatial.distance import cdist

CONSTANT = 1e-12  # a vector whose spread is below this is constant


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need two vectors of the same length >= 2, got {len(x)} and {len(y)}")
    if np.ptp(x) < CONSTANT or np.ptp(y) < CONSTANT:
        return np.nan
    return float(np.corrcoef(x, y)[0, 1])


def squared_pearson(predicted_mean: np.ndarray, observed_mean: np.ndarray) -> float:
    """scGen's R²: squared Pearson correlation of two mean-expression vectors (NaN if either is constant)."""
    return _pearson(predicted_mean, observed_mean) ** 2


def delta_pearson(predicted_mean: np.ndarray, observed_mean: np.ndarray, control_mean: np.ndarray) -> float:
    """Pearson correlation of the predicted and observed shifts from ``control_mean``; a constant
    predicted shift (no change, or the same change for every gene) correlates with nothing: 0."""
    predicted_delta = np.asarray(predicted_mean) - control_mean
    if np.ptp(predicted_delta) < CONSTANT:
        return 0.0
    return _pearson(predicted_delta, np.asarray(observed_mean) - control_mean)


def energy_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Energy distance between the rows of ``a`` and of ``b`` (cells x dimensions), >= 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    between = cdist(a, b).mean()
    return float(2 * between - cdist(a, a).mean() - cdist(b, b).mean())


def scaled_to_references(value: float, no_change: float, observed: float) -> float:
    """``value`` on the scale where ``no_change`` is 0 and ``observed`` is 1 (either direction: for a
    distance, observed is 0 and no change is larger). Raises when the two references coincide."""
    gap = observed - no_change
    if not np.isfinite(gap) or abs(gap) < CONSTANT:
        raise ValueError(f"the references coincide (no change {no_change}, observed {observed}): nothing to scale by")
    return float((value - no_change) / gap)
