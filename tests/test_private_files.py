"""Private files on a shared box: the data dir and its folders 0700, the database (and
the -wal/-shm SQLite makes), exports and gallery PNGs 0600, whatever the umask; and
`genai-tui doctor` naming anything wider, with the chmod that fixes it."""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from genai_tui.cli import main
from genai_tui.engine.core.export import export_conversation
from genai_tui.engine.core.files import create_private, open_private, private_dir, replacing
from genai_tui.engine.core.store import Store
from genai_tui.engine.images.diffusion_params import ImageRequest
from genai_tui.engine.images.gallery import Gallery

KEY = "sk-doctor-SECRET-5151"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common 022: files would be 0644 and folders 0755 if nothing asked otherwise.
    Each test also checks the umask is left as it was (downloads into the shared Hugging
    Face cache keep their usual modes)."""
    old = os.umask(0o022)
    yield
    assert os.umask(old) == 0o022


def test_private_dir_makes_missing_parents_0700_and_leaves_existing_ones(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    deep = shared / "a" / "b" / "c"
    assert private_dir(deep) == deep
    for folder in (deep, deep.parent, deep.parent.parent):
        assert mode(folder) == 0o700, folder
    assert mode(shared) == 0o755  # not ours to change
    assert private_dir(deep) == deep  # already there: fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        private_dir(tmp_path / "file")


def test_open_private_creates_0600_and_never_follows_a_planted_link(tmp_path: Path) -> None:
    log = tmp_path / "genai-tui.log"
    with open_private(log, "a") as f:
        f.write("one\n")
    with open_private(log, "a") as f:
        f.write("two\n")
    assert log.read_text() == "one\ntwo\n" and mode(log) == 0o600
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "planted").symlink_to(victim)
    with pytest.raises(OSError) as caught:
        open_private(tmp_path / "planted", "w")
    assert caught.value.errno == errno.ELOOP
    assert victim.read_text() == "keep"
    assert create_private(tmp_path / "new") and mode(tmp_path / "new") == 0o600
    assert not create_private(tmp_path / "planted")  # something is there: left alone
    assert victim.read_text() == "keep"


def test_replacing_writes_0600_and_replaces_a_link_rather_than_its_target(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    victim.chmod(0o644)
    out = tmp_path / "out.md"
    out.symlink_to(victim)
    with replacing(out) as f:
        f.write(b"new")
    assert not out.is_symlink() and out.read_bytes() == b"new" and mode(out) == 0o600
    assert victim.read_text() == "keep" and mode(victim) == 0o644
    with pytest.raises(RuntimeError), replacing(out) as f:
        f.write(b"half")
        raise RuntimeError("failed half-way")
    assert out.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.md", "victim"]


def test_the_database_and_the_files_sqlite_makes_beside_it_are_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Store(Path(":memory:")).close()  # in memory (the headless chat): no file anywhere
    assert list(tmp_path.iterdir()) == []
    data = tmp_path / "data"
    store = Store(data / "genai-tui.sqlite3")
    try:
        conv = store.create_conversation("private", model="m")
        store.add_message(conv.id, "user", "hello")
        db = data / "genai-tui.sqlite3"
        wal, shm = db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")
        assert wal.exists() and shm.exists()  # WAL mode, connection open
        assert [mode(p) for p in (data, db, wal, shm)] == [0o700, 0o600, 0o600, 0o600]
    finally:
        store.close()


def test_exports_are_0600_in_a_0700_folder_and_replace_earlier_ones(tmp_path: Path) -> None:
    store = Store(tmp_path / "data" / "db.sqlite3")
    try:
        conv = store.create_conversation("Secret plans", model="m")
        store.add_message(conv.id, "user", "the plan")
        conv = store.conversation(conv.id)
        folder = tmp_path / "data" / "exports"
        md, js = export_conversation(conv, store.messages(conv.id), folder)
        assert mode(folder) == 0o700 and mode(md) == 0o600 and mode(js) == 0o600
        md.chmod(0o644)  # an earlier export, made before this fix
        md2, _ = export_conversation(conv, store.messages(conv.id), folder)
        assert md2 == md and mode(md) == 0o600 and "the plan" in md.read_text()
        assert sorted(p.name for p in folder.iterdir()) == sorted([md.name, js.name])
    finally:
        store.close()


def test_gallery_pngs_are_0600_in_a_0700_folder(tmp_path: Path) -> None:
    store = Store(tmp_path / "data" / "db.sqlite3")
    try:
        gallery = Gallery(store, tmp_path / "data" / "images")
        request = ImageRequest("a fox", width=64, height=48, steps=2, seed=1)
        saved = gallery.save(Image.new("RGB", (64, 48), (1, 2, 3)), request, seed=1, model="m")
        assert mode(gallery.folder) == 0o700 and mode(saved.path) == 0o600
        with Image.open(saved.path) as png:
            assert png.size == (64, 48)
        assert [p.name for p in gallery.folder.iterdir()] == [saved.path.name]
    finally:
        store.close()


# -- doctor --------------------------------------------------------------------------------


def doctor(data: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The warnings `genai-tui doctor` prints, run through the CLI's main."""
    assert main(["--data-dir", str(data), "--models-dir", str(data.parent / "models"),
                 "doctor"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    return [re.split(r"\s{2,}", ln, maxsplit=1)[1] for ln in out.splitlines()
            if ln.startswith("warning ")]  # fmt: skip


def fill_data_dir(data: Path) -> None:
    """What a session leaves: the database, an export, an image, the log."""
    store = Store(data / "genai-tui.sqlite3")
    conv = store.create_conversation("c", model="m")
    export_conversation(store.conversation(conv.id), [], data / "exports")
    Gallery(store, data / "images").save(
        Image.new("RGB", (8, 8)), ImageRequest("p", width=64, height=64), seed=1, model="m"
    )
    store.close()
    with open_private(data / "genai-tui.log", "a") as log:
        log.write("--- a failure\n")


def test_doctor_is_quiet_about_what_genai_tui_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Path(os.environ["GENAI_TUI_CONFIG"])
    from genai_tui.config import ProviderSettings, load_settings
    from genai_tui.engine.chat.providers import save_provider

    save_provider(load_settings(), ProviderSettings(name="c", base_url="http://c", api_key=KEY))
    data = tmp_path / "data"
    fill_data_dir(data)
    assert config.exists() and doctor(data, capsys) == []


def test_doctor_names_every_file_open_to_others_and_its_chmod_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Path(os.environ["GENAI_TUI_CONFIG"])
    config.write_text(f'[[providers]]\nname = "c"\nbase_url = "http://c"\napi_key = "{KEY}"\n')
    config.chmod(0o644)
    data = tmp_path / "data dir"  # a space: the commands are quoted
    fill_data_dir(data)
    db = data / "genai-tui.sqlite3"
    pictures = private_dir(data / "exports" / "c-1_files")  # an export's pictures
    (pictures / "p.png").write_bytes(b"png")
    opened = [data, data / "exports", data / "images", db, data / "genai-tui.log"]
    opened += list((data / "exports").iterdir()) + list((data / "images").iterdir())
    for path in opened:
        path.chmod(0o755 if path.is_dir() else 0o644)

    warnings = doctor(data, capsys)
    assert all(KEY not in w for w in warnings)
    q = f"'{data}'"
    assert warnings == [
        f"config file {config} holds API keys and can be read or changed by other users "
        f"(mode 0644): chmod 600 {config}",
        f"data dir {data} is open to other users (mode 0755): chmod 700 {q}",
        f"exports {data}/exports is open to other users (mode 0755): chmod 700 {q[:-1]}/exports'",
        f"images {data}/images is open to other users (mode 0755): chmod 700 {q[:-1]}/images'",
        f"database {db} is open to other users (mode 0644): chmod 600 {q[:-1]}/genai-tui.sqlite3'",
        f"log {data}/genai-tui.log is open to other users (mode 0644): "
        f"chmod 600 {q[:-1]}/genai-tui.log'",
        f"4 files or folders in {data}/exports are open to other users: "
        f"chmod -R go= {q[:-1]}/exports'",
        f"1 files or folders in {data}/images are open to other users: "
        f"chmod -R go= {q[:-1]}/images'",
    ]
    for warning in warnings:  # the advice, run as given, is enough
        subprocess.run(warning.split(": ", 1)[1], shell=True, check=True)
    assert doctor(data, capsys) == []


def test_doctor_warns_about_a_config_file_others_can_change_even_without_keys(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = Path(os.environ["GENAI_TUI_CONFIG"])
    config.write_text('theme = "nord"\n')
    config.chmod(0o644)  # readable, no keys in it: fine
    assert doctor(tmp_path / "data", capsys) == []
    config.chmod(0o666)
    (warning,) = doctor(tmp_path / "data", capsys)
    assert "can be changed by other users" in warning and warning.endswith(f"chmod 600 {config}")
