"""scib-metrics' own kBET with the two choices our metrics fix: exact diffusion neighbours and a
seeded ARPACK start (``metrics.diffusion``). The reference our values are compared with
(tests/test_metrics_scib.py, ``python -m benchmark.perf.scale``); the metrics never use it.

scib-metrics' ``diffusion_nn`` takes no argument for either, so inside :func:`same_definitions` its
module's ``nearest_neighbors.pynndescent`` and SciPy's ``eigsh`` are swapped for the duration; this
is the project's only patch of another library. :data:`UPSTREAM` pins the source of the module it
changes, and :func:`check_upstream` (called on entry and by a test) fails when scib-metrics changes it.
"""

import hashlib
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import scipy.sparse.linalg
from scib_metrics.utils import _diffusion_nn

from metrics.diffusion import arpack_start
from metrics.scib import exact_neighbors

UPSTREAM = "bea8c6e6816acaee75db7673b5a4d59a7c87a2f67aacf845491421eb85e9e3ee"  # scib-metrics 0.5.10
EIGSH = scipy.sparse.linalg.eigsh


def check_upstream() -> None:
    """Fail loudly when scib-metrics' diffusion-map module is not the one this patch was written for."""
    found = hashlib.sha256(inspect.getsource(_diffusion_nn).encode()).hexdigest()
    if found != UPSTREAM:
        raise RuntimeError(
            f"scib_metrics/utils/_diffusion_nn.py changed (sha256 {found}, expected {UPSTREAM}): check that "
            "it still calls nearest_neighbors.pynndescent and scipy.sparse.linalg.eigsh as patched in "
            "benchmark/perf/reference.py, then update UPSTREAM"
        )


def _seeded_eigsh(A, k: int = 6, **kwargs):
    kwargs["v0"] = arpack_start(A.shape[0]) if kwargs.get("v0") is None else kwargs["v0"]
    return EIGSH(A, k, **kwargs)


@contextmanager
def same_definitions() -> Iterator[None]:
    """Inside: scib-metrics' kBET finds diffusion neighbours exactly and seeds ARPACK's start."""
    check_upstream()
    exact = lambda X, n_neighbors, **_: exact_neighbors(X, n_neighbors)  # noqa: E731
    with (
        mock.patch.object(_diffusion_nn.nearest_neighbors, "pynndescent", exact),
        mock.patch.object(scipy.sparse.linalg, "eigsh", _seeded_eigsh),
    ):
        yield
