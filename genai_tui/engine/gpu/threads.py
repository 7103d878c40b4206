"""CPU thread budgets, chosen so a generating model and the UI loop share the cores.

llama.cpp's threads spin while they wait for each other, so giving them every
core starves the event loop (and a second backend): generation gets one core
fewer than the machine has. Torch reads OMP_NUM_THREADS when it is first
imported, so the same budget is put there before any lazy import.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def generation_threads(requested: int = 0) -> int:
    """Threads for token generation: `requested`, else cores - 1 (at least 1)."""
    if requested > 0:
        return requested
    return max(1, usable_cores() - 1)


def batch_threads(requested: int = 0) -> int:
    """Threads for prompt processing: the same budget as generation.

    All cores would be a little faster on an idle machine, but with any other
    load on the box the spinning threads collapse (time to first token was seen
    10-50x slower on 2 busy cores).
    """
    return generation_threads(requested)


def limit_library_threads(requested: int = 0) -> None:
    """Cap OpenMP/BLAS pools (torch, numpy) unless the user already set them."""
    n = str(generation_threads(requested))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, n)
