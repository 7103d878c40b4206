"""House rules: the engine is headless, and heavy libraries load only when a model does."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import genai_tui

PACKAGE = Path(genai_tui.__file__).parent
ENGINE_FILES = sorted((PACKAGE / "engine").rglob("*.py"))
CLI_FILES = sorted((PACKAGE / "cli").rglob("*.py"))
# Engine sub-packages, lowest first: each may import only those before it.
LAYERS = ("core", "gpu", "models", ("chat", "images"), "create")
UI = ("textual", "genai_tui.screens", "genai_tui.widgets", "genai_tui.app", "textual_image")
HEAVY = ("torch", "diffusers", "transformers", "llama_cpp")


def _imports(tree: ast.AST) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def _is(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def _module_level_imports(tree: ast.Module) -> list[tuple[str, int]]:
    """Imports that run at import time: not in functions, not under `if TYPE_CHECKING`."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        found += _imports(node)
    return found


def run_python(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_there_are_engine_modules() -> None:
    names = {str(f.relative_to(PACKAGE / "engine")) for f in ENGINE_FILES}
    assert {"engine.py", "chat/local.py", "core/store.py", "models/gguf_info.py"} <= names
    assert "images/studio.py" in names and "gpu/residency.py" in names


def _layer(name: str) -> int | None:
    for rank, layer in enumerate(LAYERS):
        if name in (layer if isinstance(layer, tuple) else (layer,)):
            return rank
    return None


def test_engine_sub_packages_import_one_way() -> None:
    """core <- gpu <- models <- chat, images <- create; nothing imports the Engine facade.
    Anywhere in the file, TYPE_CHECKING blocks included, so there is no cycle to hide."""
    offenders = []
    for path in ENGINE_FILES:
        parts = path.relative_to(PACKAGE / "engine").parts
        if len(parts) < 2:
            continue
        mine = _layer(parts[0])
        assert mine is not None, f"{parts[0]} is not a known engine sub-package"
        for name, line in _imports(ast.parse(path.read_text(), str(path))):
            if not name.startswith("genai_tui.engine."):
                continue
            target = name.split(".")[2]
            theirs = _layer(target)
            if target != parts[0] and (theirs is None or theirs >= mine):
                offenders.append(f"{'/'.join(parts)}:{line} imports {name}")
    assert offenders == []


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("genai_tui"):
                    private = [a.name for a in node.names if a.name.startswith("_")]
                    if private and private != ["__version__"]:
                        offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {private}")
    assert offenders == []


def test_modules_stay_small() -> None:
    big = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert big == {}


def test_engine_source_never_imports_the_ui() -> None:
    """Anywhere in the file, even inside a function."""
    offenders = []
    for path in ENGINE_FILES:
        for name, line in _imports(ast.parse(path.read_text(), str(path))):
            if _is(name, UI):
                offenders.append(f"{path.relative_to(PACKAGE)}:{line} imports {name}")
    assert offenders == []


def test_engine_and_config_import_heavy_libraries_lazily() -> None:
    offenders = []
    for path in [*ENGINE_FILES, *CLI_FILES, PACKAGE / "config.py"]:
        tree = ast.parse(path.read_text(), str(path))
        for name, line in _module_level_imports(tree):
            if _is(name, HEAVY):
                offenders.append(f"{path.relative_to(PACKAGE)}:{line} imports {name} at module level")
    assert offenders == []


def test_importing_every_engine_module_loads_no_ui_and_nothing_heavy() -> None:
    loaded = run_python(
        """
        import importlib, json, pkgutil, sys
        import genai_tui.engine as engine
        for info in pkgutil.walk_packages(engine.__path__, "genai_tui.engine."):
            importlib.import_module(info.name)
        import genai_tui.config
        print(json.dumps({"modules": sorted(sys.modules)}))
        """
    )["modules"]
    assert "genai_tui.engine.engine" in loaded and "genai_tui.engine.chat.local" in loaded
    assert [m for m in loaded if _is(m, UI + HEAVY)] == []


def test_help_imports_only_the_standard_library() -> None:
    """`genai-tui --help` must be instant: the CLI module imports nothing heavy (or anything
    outside the standard library) until a command needs it."""
    loaded = run_python(
        """
        import json, sys
        from genai_tui.cli import main
        try:
            main(["--help"])
        except SystemExit as exc:
            assert exc.code == 0
        print()
        print(json.dumps({"modules": sorted(sys.modules)}))
        """
    )["modules"]
    assert [m for m in loaded if _is(m, UI + HEAVY)] == []
    third_party = sorted(
        {m.split(".")[0] for m in loaded}
        - set(sys.stdlib_module_names)
        - {"genai_tui", "__main__", "_distutils_hack", "sitecustomize", "usercustomize"}
    )
    assert third_party == []
    # Nor the slow parts of the standard library (asyncio pulls in ssl: ~60 ms).
    assert [m for m in loaded if _is(m, ("asyncio", "ssl", "concurrent"))] == []


def test_listing_models_does_not_load_llama_cpp(tmp_path: Path) -> None:
    loaded = run_python(
        f"""
        import contextlib, io, json, sys
        from genai_tui.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["--data-dir", {str(tmp_path)!r}, "models", "--json"]) == 0
        print(json.dumps({{"modules": sorted(sys.modules)}}))
        """
    )["modules"]
    assert [m for m in loaded if _is(m, UI + HEAVY)] == []


def test_module_entry_point_help() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "genai_tui", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: genai-tui")
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "genai_tui.cli" in imported
    assert [m for m in imported if _is(m, UI + HEAVY)] == []


def _lines(paths: list[Path]) -> list[tuple[str, int, str]]:
    return [
        (str(p.relative_to(PACKAGE)), n, line)
        for p in paths
        for n, line in enumerate(p.read_text().splitlines(), 1)
    ]


def test_screens_and_widgets_go_through_the_engine_facade() -> None:
    """No store calls, no peeking into the engine's __dict__, no getattr on the App."""
    ui = [*(PACKAGE / "screens").rglob("*.py"), *(PACKAGE / "widgets").rglob("*.py"),
          PACKAGE / "app.py"]  # fmt: skip
    pattern = re.compile(r"engine\.store\b|self\.store\b|__dict__|getattr\(self\.app\b")
    assert [f"{f}:{n}" for f, n, line in _lines(ui) if pattern.search(line)] == []


def test_sql_lives_in_the_core_store_only() -> None:
    sql = re.compile(r"\b(SELECT .+ FROM|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")
    outside = [p for p in PACKAGE.rglob("*.py") if "core" not in p.relative_to(PACKAGE).parts]
    assert [f"{f}:{n}" for f, n, line in _lines(outside) if sql.search(line)] == []


def test_every_type_ignore_in_the_engine_names_its_code_and_a_reason() -> None:
    bare = re.compile(r"type:\s*ignore(?!\[[\w-]+(, *[\w-]+)*\]\s+#\s*\S)")
    assert [f"{f}:{n}" for f, n, line in _lines(ENGINE_FILES) if bare.search(line)] == []


def test_store_internals_stay_in_core() -> None:
    private = re.compile(r"\bstore\._\w+")
    outside = [p for p in PACKAGE.rglob("*.py") if "core" not in p.relative_to(PACKAGE).parts]
    assert [f"{f}:{n}" for f, n, line in _lines(outside) if private.search(line)] == []


def test_the_tui_first_frame_loads_no_picture_libraries(tmp_path: Path) -> None:
    """The first frame waits for nothing but Textual and the chat screen: textual-image
    (and PIL, numpy under it) load when a picture is first shown (issue 14)."""
    loaded = run_python(
        f"""
        import asyncio, json, sys
        from genai_tui.cli import _probe_terminal_graphics
        from genai_tui.app import GenaiApp
        from genai_tui.config import load_settings

        _probe_terminal_graphics().join()  # what the CLI does before the TUI starts

        async def main():
            settings = load_settings(None, data_dir={str(tmp_path)!r},
                                     models_dir={str(tmp_path / "models")!r})
            app = GenaiApp(settings)
            async with app.run_test() as pilot:
                await pilot.pause()
                assert type(app.screen).__name__ == "ChatScreen"
                return sorted(sys.modules)

        print(json.dumps({{"modules": asyncio.run(main())}}))
        """
    )["modules"]
    assert [m for m in loaded if _is(m, ("textual_image", "PIL", "numpy") + HEAVY)] == []
