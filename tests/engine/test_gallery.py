"""The gallery: PNGs with A1111 parameters in the data dir, rows in the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from genai_tui.engine.images.diffusion_params import ImageRequest
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.images.gallery import Gallery
from genai_tui.engine.images.png_params import read_parameters
from genai_tui.engine.core.store import Store


@pytest.fixture
def gallery(tmp_path: Path):
    store = Store(tmp_path / "db.sqlite3")
    yield Gallery(store, tmp_path / "images")
    store.close()


def picture(colour=(10, 20, 30), size=(64, 48)) -> Image.Image:
    return Image.new("RGB", size, colour)


REQ = ImageRequest("a fox, in snow\nsecond line", negative_prompt="blurry, dark", width=64,
                   height=48, steps=12, guidance=6.5, variations=4, seed=100)  # fmt: skip


def test_save_writes_a_png_other_tools_read(gallery: Gallery) -> None:
    img = gallery.save(picture(), REQ, seed=101, model="tiny-sd", model_hash="0123456789",
                       scheduler="EulerAncestralDiscreteScheduler", duration_s=1.5)  # fmt: skip
    assert img.path.parent == gallery.folder and img.path.suffix == ".png"
    assert read_parameters(img.path) == (
        "a fox, in snow\nsecond line\nNegative prompt: blurry, dark\n"
        "Steps: 12, Sampler: Euler a, CFG scale: 6.5, Seed: 101, Size: 64x48, "
        "Model hash: 0123456789, Model: tiny-sd"
    )
    assert not list(gallery.folder.glob("*.part"))
    assert (img.seed, img.width, img.height, img.steps, img.guidance) == (101, 64, 48, 12, 6.5)
    assert img.params["seed_mode"] == "increment" and img.params["model_hash"] == "0123456789"
    assert img.duration_s == 1.5


def test_list_search_and_delete(gallery: Gallery) -> None:
    a = gallery.save(picture(), REQ, seed=1, model="tiny-sd")
    b = gallery.save(picture(), REQ.replace(prompt="a whale"), seed=2, model="other")
    assert [i.id for i in gallery.images()] == [b.id, a.id]  # newest first
    assert [i.id for i in gallery.images("whale")] == [b.id]
    assert [i.id for i in gallery.images("tiny")] == [a.id]
    gallery.delete(a.id)
    assert not a.path.exists() and gallery.count() == 1
    b.path.unlink()  # a file removed behind our back: deleting the entry still works
    gallery.delete(b.id)
    assert gallery.count() == 0
    with pytest.raises(GenaiError, match="No image"):
        gallery.image(a.id)


def test_same_second_same_seed_gets_distinct_files(gallery: Gallery) -> None:
    paths = {gallery.save(picture(), REQ, seed=5, model="m").path for _ in range(3)}
    assert len(paths) == 3


def test_recall_parameters_from_a_row_and_from_a_file(gallery: Gallery) -> None:
    img = gallery.save(picture(), REQ, seed=42, model="m", scheduler="DDIMScheduler")
    again = img.request()
    assert (again.prompt, again.negative_prompt, again.seed, again.seed_mode) == (
        REQ.prompt, REQ.negative_prompt, 42, "fixed")
    assert (again.width, again.height, again.steps, again.guidance, again.scheduler) == (
        64, 48, 12, 6.5, "DDIMScheduler")
    assert img.request(seed=43).seed == 43
    from_file = Gallery.request_from_file(img.path)
    assert from_file == again


def test_img2img_rows_keep_strength_and_init(gallery: Gallery, tmp_path: Path) -> None:
    init = tmp_path / "init.png"
    picture().save(init)
    img = gallery.save(picture(), REQ.replace(init_image=init, strength=0.4), seed=1, model="m")
    assert img.strength == 0.4 and img.init_image == str(init)
    assert "Denoising strength: 0.4" in (read_parameters(img.path) or "")
    assert img.request().init_image == init and img.request().strength == 0.4


def test_recall_from_a_png_without_parameters_says_so(tmp_path: Path) -> None:
    plain = tmp_path / "photo.png"
    picture().save(plain)
    with pytest.raises(GenaiError, match="holds no generation parameters"):
        Gallery.request_from_file(plain)


def test_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "images"
    blocker.write_text("a file where the folder should be")
    store = Store(tmp_path / "db.sqlite3")
    with pytest.raises(GenaiError, match="Could not save the image") as err:
        Gallery(store, blocker).save(picture(), REQ, seed=1, model="m")
    assert "writable" in err.value.hint
    store.close()
