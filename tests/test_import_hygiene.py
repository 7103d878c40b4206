"""House rules: the engine is headless, and heavy libraries load only when a model does."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import genai_tui

PACKAGE = Path(genai_tui.__file__).parent
ENGINE_FILES = sorted((PACKAGE / "engine").glob("*.py"))
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
    names = {f.stem for f in ENGINE_FILES}
    assert {"engine", "llm_local", "store", "gguf_info"} <= names


def test_engine_source_never_imports_the_ui() -> None:
    """Anywhere in the file, even inside a function."""
    offenders = []
    for path in ENGINE_FILES:
        for name, line in _imports(ast.parse(path.read_text(), str(path))):
            if _is(name, UI):
                offenders.append(f"{path.name}:{line} imports {name}")
    assert offenders == []


def test_engine_and_config_import_heavy_libraries_lazily() -> None:
    offenders = []
    for path in [*ENGINE_FILES, PACKAGE / "config.py", PACKAGE / "cli.py"]:
        tree = ast.parse(path.read_text(), str(path))
        for name, line in _module_level_imports(tree):
            if _is(name, HEAVY):
                offenders.append(f"{path.name}:{line} imports {name} at module level")
    assert offenders == []


def test_importing_every_engine_module_loads_no_ui_and_nothing_heavy() -> None:
    loaded = run_python(
        """
        import importlib, json, pkgutil, sys
        import genai_tui.engine as engine
        for info in pkgutil.iter_modules(engine.__path__):
            importlib.import_module(f"genai_tui.engine.{info.name}")
        import genai_tui.config
        print(json.dumps({"modules": sorted(sys.modules)}))
        """
    )["modules"]
    assert "genai_tui.engine.engine" in loaded and "genai_tui.engine.llm_local" in loaded
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
