"""Image requests: seed plans and size fitting (no model needed)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from genai_tui.engine.images.diffusion_params import (
    MAX_SEED,
    ImageRequest,
    fit_size,
    sampler_name,
    scheduler_class,
    seed_plan,
    validate,
)
from genai_tui.engine.core.errors import ImageRequestError


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
    with pytest.raises(ImageRequestError) as err:  # below the smallest side: one choice
        validate(ImageRequest("x", width=63))
    assert err.value.hint == "Use 64."
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


def test_with_field_reads_what_a_person_types(tmp_path: Path) -> None:
    from genai_tui.engine.images.diffusion_params import with_field

    r = ImageRequest("x")
    assert (with_field(r, "size", "768 x 512").width, with_field(r, "size", "640").height) == (
        768, 640)
    assert with_field(r, "seed", "-1").seed is None and with_field(r, "seed", "42").seed == 42
    assert with_field(r, "guidance", "6.5").guidance == 6.5
    init = tmp_path / "i.png"
    init.write_bytes(b"")
    assert with_field(r, "init", str(init)).init_image == init
    assert with_field(r.replace(init_image=init), "init", "").init_image is None
    for field, text, message in (("steps", "many", "not a valid steps"),
                                 ("size", "100x64", "not a multiple of 8"),
                                 ("strength", "1.5", "outside 0..1"),
                                 ("variations", "0", "outside 1..64")):  # fmt: skip
        req = r.replace(init_image=init) if field == "strength" else r
        with pytest.raises(ImageRequestError, match=message):
            with_field(req, field, text)
