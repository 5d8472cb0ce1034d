"""JAX settings for a process that runs the integration metrics; applied by the caller, never at import.

- Compiled kernels are cached on disk (``~/.cache/scfm-bench/jax`` unless ``JAX_COMPILATION_CACHE_DIR``
  names another folder), so evaluate jobs after the first skip most compilation (~13 s per job).
- JAX's backend probing (TPU, CUDA) logs at INFO; those lines go to WARNING and up only.
- On one thread, XLA's CPU client runs its kernels on that thread (it would start a pool per core);
  this takes effect only before JAX's first computation in the process.
"""

import logging
import os
from pathlib import Path

import jax

DEFAULT_CACHE = Path("~/.cache/scfm-bench/jax")
PROBING_LOGGER = "jax._src.xla_bridge"
ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def configure_jax(threads: int) -> None:
    """Apply the settings above (idempotent) for a process that may use ``threads`` CPUs."""
    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        jax.config.update("jax_compilation_cache_dir", str(DEFAULT_CACHE.expanduser()))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    logging.getLogger(PROBING_LOGGER).setLevel(logging.WARNING)
    if threads == 1 and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = ONE_THREAD
