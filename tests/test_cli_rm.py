"""`genai-tui rm NAME`: a whole name or nothing, a list when several match, and --store
searches that store only. Through the real CLI main, on real small GGUF files."""

from __future__ import annotations

from pathlib import Path

import pytest
from ggufs import write_gguf

from genai_tui.cli import main


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, Path]:
    """A models dir and an LM Studio store with overlapping names."""
    models = tmp_path / "models"
    lms = tmp_path / "home" / ".lmstudio" / "models"
    files = {
        "alpha": models / "alpha.gguf",
        "zeta": models / "zeta.gguf",
        "team-q4": models / "team" / "llama-7b" / "llama-7b-Q4_K_M.gguf",
        "team-q8": models / "team" / "llama-7b" / "llama-7b-Q8_0.gguf",
        "other-q4": models / "other" / "llama-7b-Q4_K_M.gguf",
        "lms-alpha": lms / "pub" / "repo" / "alpha.gguf",
        "lms-beta": lms / "pub" / "repo" / "beta.gguf",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_gguf(path, "llama")
    return files


@pytest.fixture
def base(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), "--models-dir", str(tmp_path / "models")]


def rm(base: list[str], capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main([*base, "rm", *args, "--yes"])
    out, err = capsys.readouterr()
    return rc, out, err


def left(stores: dict[str, Path]) -> set[str]:
    return {k for k, p in stores.items() if p.exists()}


@pytest.mark.parametrize("ref", ["alph", "lpha", "llama", "7b", "Q4_K", "llama-7b-Q4", "a"])
def test_part_of_a_word_matches_nothing(stores, base, capsys, ref: str) -> None:
    rc, out, err = rm(base, capsys, ref)
    assert rc == 1 and out == ""
    assert f"No model on disk is named '{ref}'" in err and "genai-tui models" in err
    assert left(stores) == set(stores)


def test_several_matches_are_listed_and_nothing_is_deleted(stores, base, capsys) -> None:
    rc, out, err = rm(base, capsys, "llama-7b")  # a folder holding two models
    assert rc == 1 and out == ""
    assert "'llama-7b' matches 2 models on disk; nothing was deleted." in err
    assert "Name one of them exactly:" in err
    assert f"\n  team/llama-7b/llama-7b-Q4_K_M.gguf  (models dir: {stores['team-q4']})" in err
    assert f"\n  team/llama-7b/llama-7b-Q8_0.gguf  (models dir: {stores['team-q8']})" in err

    rc, _, err = rm(base, capsys, "llama-7b-Q4_K_M")  # one file name in two folders
    assert rc == 1 and "matches 2 models" in err
    assert "team/llama-7b/llama-7b-Q4_K_M.gguf" in err and "other/llama-7b-Q4_K_M.gguf" in err

    rc, _, err = rm(base, capsys, "alpha")  # in two stores
    assert rc == 1 and "matches 2 models" in err
    assert "alpha.gguf  (models dir: " in err and "pub/repo/alpha.gguf  (LM Studio: " in err
    assert left(stores) == set(stores)


@pytest.mark.parametrize(
    ("ref", "gone"),
    [
        ("team/llama-7b/llama-7b-Q4_K_M.gguf", "team-q4"),  # the exact name
        ("TEAM/LLAMA-7B/llama-7b-q8_0.GGUF", "team-q8"),  # the name in another case
        ("llama-7b/llama-7b-Q8_0", "team-q8"),  # whole parts, without .gguf
        ("other/llama-7b-Q4_K_M.gguf", "other-q4"),
        ("zeta", "zeta"),
        ("ZETA.gguf", "zeta"),
    ],
)
def test_a_whole_name_deletes_that_model_only(stores, base, capsys, ref: str, gone: str) -> None:
    rc, out, err = rm(base, capsys, ref)
    assert rc == 0, err
    assert out.startswith("Deleted ")
    assert left(stores) == set(stores) - {gone}


def test_the_exact_name_wins_over_parts(stores, base, capsys) -> None:
    """`alpha.gguf` is one model's whole name, and the last part of another's."""
    rc, _, err = rm(base, capsys, "alpha.gguf")
    assert rc == 0, err
    assert left(stores) == set(stores) - {"alpha"}


def test_a_path_names_its_model(stores, base, capsys) -> None:
    rc, _, err = rm(base, capsys, str(stores["other-q4"]))
    assert rc == 0, err
    assert left(stores) == set(stores) - {"other-q4"}


def test_store_never_falls_back_to_the_other_stores(stores, base, capsys) -> None:
    rc, out, err = rm(base, capsys, "zeta", "--store", "LM Studio")
    assert rc == 1 and out == ""
    assert "No model in the store \"LM Studio\" is named 'zeta'" in err
    assert left(stores) == set(stores)  # the models dir's zeta is not touched

    rc, _, err = rm(base, capsys, "alpha", "--store", "LM Studio")
    assert rc == 0, err
    assert left(stores) == set(stores) - {"lms-alpha"}
    rc, _, err = rm(base, capsys, "alpha", "--store", "LM Studio")
    assert rc == 1 and 'in the store "LM Studio"' in err
    assert stores["alpha"].exists()


def test_store_names_are_checked(stores, base, capsys) -> None:
    rc, _, err = rm(base, capsys, "beta", "--store", "lmstudio")
    assert rc == 1 and "There is no store named 'lmstudio'" in err
    assert '"LM Studio"' in err and '"models dir"' in err and '"Ollama"' in err
    assert left(stores) == set(stores)
    rc, _, err = rm(base, capsys, "beta", "--store", "lm studio")  # any case
    assert rc == 0, err
    assert left(stores) == set(stores) - {"lms-beta"}


def test_an_empty_name_matches_nothing(stores, base, capsys) -> None:
    for ref in ("", "/", " "):
        rc, _, err = rm(base, capsys, ref)
        assert rc == 1 and "No model name given" in err
    assert left(stores) == set(stores)
