"""Settings that stay: each image model's last size, steps, guidance, sampler, seed mode,
variations and strength, kept in the database across restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from genai_tui.engine.core.store import Store
from genai_tui.engine.engine import Engine
from genai_tui.engine.images.diffusion_params import ImageRequest


def test_each_model_keeps_its_own_settings_across_a_restart(make_settings) -> None:
    settings = make_settings()
    engine = Engine(settings)
    studio = engine.images
    defaults = studio.request_defaults("a fox")
    assert studio.request_defaults("a fox", model="sd-one") == defaults  # nothing kept yet
    studio.memory.remember("sd-one", defaults.replace(
        width=768, height=512, steps=9, guidance=4.5, scheduler="DDIMScheduler",
        seed_mode="random", variations=2, seed=1234, strength=0.4))  # fmt: skip
    studio.memory.remember("sdxl-two", defaults.replace(width=1024, height=1024, steps=30))
    asyncio.run(engine.aclose())

    reopened = Engine(settings)  # the same database, opened again
    try:
        one = reopened.images.request_defaults("a fox", model="sd-one")
        assert (one.width, one.height, one.steps, one.guidance, one.scheduler, one.seed_mode,
                one.variations, one.strength) == (768, 512, 9, 4.5, "DDIMScheduler", "random",
                                                  2, 0.4)  # fmt: skip
        assert one.seed is None and one.prompt == "a fox"  # the seed is not a setting
        two = reopened.images.request_defaults("x", model="sdxl-two")
        assert (two.width, two.height, two.steps, two.variations) == (1024, 1024, 30,
                                                                      defaults.variations)
        # A flag (a change given) wins over what was kept; another model gets the defaults.
        assert reopened.images.request_defaults("x", model="sd-one", steps=3).steps == 3
        assert reopened.images.request_defaults("x", model="other") == defaults.replace(
            prompt="x")
    finally:
        asyncio.run(reopened.aclose())


def test_an_img2img_size_is_not_kept_and_bad_rows_are_ignored(tmp_path: Path) -> None:
    from genai_tui.engine.images.studio_memory import StudioMemory

    store = Store(tmp_path / "db.sqlite3")
    memory = StudioMemory(store)
    init = tmp_path / "init.png"
    memory.remember("m", ImageRequest("p", width=512, height=768, steps=20))
    memory.remember("m", ImageRequest("p", width=1024, height=1024, steps=12,
                                      init_image=init, strength=0.3))  # fmt: skip
    kept = memory.recall("m")
    assert (kept["width"], kept["height"], kept["steps"], kept["strength"]) == (512, 768, 12, 0.3)
    # A row another version wrote (wrong types, out of range) gives the defaults, no error.
    store.save_studio_settings("m", {"width": "wide", "steps": 9999, "seed_mode": "odd"})
    assert memory.recall("m") == {}
    store.save_studio_settings("m", {"steps": 7, "strength": 5.0, "colour": "red"})
    assert memory.recall("m") == {"steps": 7}
    store.close()
