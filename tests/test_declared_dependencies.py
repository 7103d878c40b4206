"""Every third-party module the package imports is declared in pyproject.toml (a missing
one installs by luck, through another package, until that package changes); the tests'
own imports are declared in the `test` extra."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _dist(requirement: str) -> str:
    """The normalized distribution name of a requirement string (PEP 503)."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group(1)).lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _imports(folder: Path) -> dict[str, set[str]]:
    """Top-level module names imported anywhere in the files (inside functions too), and
    where: absolute imports only (relative ones are the package's own)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(
                    f"{path.relative_to(ROOT)}:{node.lineno}"
                )
    return found


def _undeclared(imports: dict[str, set[str]], declared: set[str], own: set[str]) -> list[str]:
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, where in sorted(imports.items()):
        if module in sys.stdlib_module_names or module in own:
            continue
        dists = {_dist(d) for d in providers.get(module, [])} or {_dist(module)} & declared
        first = sorted(where)[0]
        if not dists:
            problems.append(f"{module} ({first}): no installed distribution provides it")
        elif not dists & declared:
            problems.append(f"{module} ({first}): from {', '.join(sorted(dists))}, undeclared")
    return problems


def test_the_package_declares_what_it_imports() -> None:
    project = _project()
    declared = {_dist(r) for r in project["dependencies"]}
    # An optional feature's package (the upscale extra) may be imported, where it is
    # used, inside a function that says what to install when it is missing.
    declared |= {_dist(r) for extra, reqs in project["optional-dependencies"].items()
                 if extra not in ("test", "demo") for r in reqs}  # fmt: skip
    assert _undeclared(_imports(ROOT / "genai_tui"), declared, {"genai_tui"}) == []


def test_the_tests_declare_what_they_import() -> None:
    project = _project()
    declared = {_dist(r) for r in project["dependencies"]}
    declared |= {_dist(r) for extra in ("test", "upscale")
                 for r in project["optional-dependencies"][extra]}  # fmt: skip
    own = {"genai_tui", "tests"} | {p.stem for p in (ROOT / "tests").rglob("*.py")}
    assert _undeclared(_imports(ROOT / "tests"), declared, own) == []


@pytest.mark.parametrize(
    ("requirement", "name"),
    [("huggingface_hub>=2.0", "huggingface-hub"), ("tomli-w>=1.0", "tomli-w"),
     ("llama-cpp-python>=0.3.8", "llama-cpp-python"), ("Pillow", "pillow")],
)  # fmt: skip
def test_requirement_names_are_normalized(requirement: str, name: str) -> None:
    assert _dist(requirement) == name
