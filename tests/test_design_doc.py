"""docs/design.md names only what exists: every module of its map is there and every module is in its map, and
every file, module, function, class or member it names in backticks is defined (read from the source, nothing
imported)."""

import ast
import re
from functools import lru_cache
from pathlib import Path

import memgen_cli
from memgen_cli.results_format import MEMGEN_FILES

PACKAGE = Path(memgen_cli.__file__).parent
ROOT = PACKAGE.parent
DESIGN = ROOT / "docs" / "design.md"
# Backticked names that are not memgen's: config keys, and what outside libraries call things.
CONFIG_SECTIONS = {"grid", "options"}
OUTSIDE = {"scipy", "SeedSequence", "UNet2DModel"}


def room_map(text: str) -> list[Path]:
    """The .py files the map (the first code block) lists, each under the room its line belongs to: a room is a
    line's first word ending in / (two spaces in for a subpackage, four for one inside it, as report/analysis/);
    an entry two, four or six spaces in closes the rooms as deep as it or deeper."""
    block = text.split("```")[1]
    found, rooms = [], []
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        head = line.split()[0] if line.strip() else ""
        if indent in (2, 4, 6):  # an entry: modules, or a room
            rooms = rooms[: indent // 2 - 1] + ([head.rstrip("/")] if head.endswith("/") else [])
        found += [PACKAGE.joinpath(*rooms, name) for name in re.findall(r"\b([a-z_]+(?:_\*)?\.py)\b", line)]
    return found


def test_the_map_lists_every_module_and_only_modules_that_exist():
    listed = room_map(DESIGN.read_text())
    missing = [str(p.relative_to(ROOT)) for p in listed if not list(p.parent.glob(p.name))]
    assert not missing, f"docs/design.md's map names modules that do not exist: {missing}"
    covered = {match for p in listed for match in p.parent.glob(p.name)}
    unlisted = [str(p.relative_to(ROOT)) for p in sorted(PACKAGE.rglob("*.py"))
                if p.name not in ("__init__.py", "__main__.py") and p not in covered]
    assert not unlisted, f"modules missing from docs/design.md's map: {unlisted}"


@lru_cache(maxsize=None)
def definitions(path: Path) -> dict[str, set[str]]:
    """A module's top-level names, each with the names defined in its body (a class's members)."""
    names: dict[str, set[str]] = {}
    for node in ast.parse(path.read_text()).body:
        for name in assigned(node):
            names.setdefault(name, set())
        if isinstance(node, ast.ClassDef):
            names[node.name] = {name for child in node.body for name in assigned(child)}
    return names


def assigned(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for target in node.targets for t in ast.walk(target) if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def module_file(parts: list[str]) -> Path | None:
    for candidate in (PACKAGE.joinpath(*parts).with_suffix(".py"), PACKAGE.joinpath(*parts) / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def defined(name: str) -> bool:
    """A dotted name (``runner.plan.plan_tasks``, ``LinearExperiment.cells``) or a bare one (``store_for``)."""
    parts = name.removeprefix("memgen_cli.").split(".")
    for cut in range(len(parts), 0, -1):  # the longest prefix that is a module, then names inside it
        if (path := module_file(parts[:cut])) is not None:
            return member_of(definitions(path), parts[cut:])
    modules = [definitions(path) for path in PACKAGE.rglob("*.py")]
    return (any(member_of(names, parts) for names in modules)  # a name inside a module not named
            or (len(parts) == 1 and any(parts[0] in members for names in modules for members in names.values())))


def member_of(names: dict[str, set[str]], rest: list[str]) -> bool:
    if not rest:
        return True
    if rest[0] not in names:
        return False
    return len(rest) == 1 or (len(rest) == 2 and rest[1] in names[rest[0]])


def test_every_name_in_backticks_exists():
    wrong = []
    for token in re.findall(r"`([^`\s]+)`", DESIGN.read_text()):
        if token in MEMGEN_FILES:  # a results folder's file (analysis.json)
            continue
        if token.endswith((".py", ".yaml", "/")):
            if not any((base / token).exists() for base in (ROOT, PACKAGE)) and not list(PACKAGE.rglob(token)):
                wrong.append(token)
        elif re.fullmatch(r"[A-Za-z_]\w*(\.\w+)*", token) and ("." in token or "_" in token or token[0].isupper()):
            first = token.split(".")[0]
            if first in OUTSIDE or (first in CONFIG_SECTIONS and module_file([first]) is None):
                continue
            if not defined(token):
                wrong.append(token)
    assert not wrong, f"docs/design.md names what memgen does not define: {wrong}"


def test_the_check_fails_on_a_name_that_is_not_there():
    assert defined("runner.plan.plan_tasks") and defined("LinearExperiment.cells") and defined("store_for")
    assert defined("trials_per_task") and not defined("trials_per_cell")  # a bare name: a class member will do
    assert not defined("runner.plan.plan_every_task") and not defined("LinearExperiment.cell")
    assert not defined("runner.sweep.run_sweep.inner")
    missing = room_map("```\n  runner/   x\n    nowhere.py   y\n```")
    assert missing == [PACKAGE / "runner" / "nowhere.py"] and not missing[0].exists()
    nested = room_map("```\n  report/   x\n    page/   y\n      nowhere.py   z\n    here.py\n  top.py\n```")
    assert nested == [PACKAGE / "report" / "page" / "nowhere.py", PACKAGE / "report" / "here.py", PACKAGE / "top.py"]
