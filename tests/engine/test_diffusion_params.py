"""Image requests: seed plans and size fitting (no model needed)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from genai_tui.engine.diffusion_params import (
    MAX_SEED,
    ImageRequest,
    fit_size,
    sampler_name,
    scheduler_class,
    seed_plan,
    validate,
)
from genai_tui.engine.errors import ImageRequestError


def test_seed_modes() -> None:
    req = ImageRequest("x", variations=3, seed=10)
    assert seed_plan(req.replace(seed_mode="increment")) == [10, 11, 12]
    assert seed_plan(req.replace(seed_mode="fixed")) == [10, 10, 10]
    rnd = seed_plan(req.replace(seed_mode="random"), random.Random(1))
    assert len(set(rnd)) == 3 and all(0 <= s <= MAX_SEED for s in rnd)
    # No seed: a random base, still incremented; recorded because the plan is returned.
    base = seed_plan(req.replace(seed=None), random.Random(2))
    assert base[1] == base[0] + 1 or base[0] == MAX_SEED
    assert seed_plan(req.replace(seed=MAX_SEED, variations=2)) == [MAX_SEED, 0]


def test_size_errors_suggest_a_size() -> None:
    with pytest.raises(ImageRequestError, match="not a multiple of 8") as err:
        validate(ImageRequest("x", width=500))
    assert err.value.hint == "Use 496 or 504."
    with pytest.raises(ImageRequestError, match="too many pixels"):
        validate(ImageRequest("x", width=4096, height=4096))
    with pytest.raises(ImageRequestError, match="leaves no step"):
        validate(ImageRequest("x", steps=2, strength=0.2, init_image=Path(__file__)))


def test_fit_size_and_sampler_names() -> None:
    assert fit_size(1920, 1080) == (1024, 576)
    assert fit_size(100, 70) == (96, 64)
    assert sampler_name("EulerAncestralDiscreteScheduler") == "Euler a"
    assert scheduler_class("DPM++ 2M") == "DPMSolverMultistepScheduler"
    assert scheduler_class("SomeNewScheduler") == "SomeNewScheduler"
