"""The package's shape: no import cycles (imports inside functions count), small modules, rooms by name."""

import ast
from pathlib import Path

import memgen_cli

PACKAGE = Path(memgen_cli.__file__).parent
MAX_MODULE_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """memgen_cli modules that ``name`` imports anywhere in its body (top level or inside functions)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from pkg import sub` imports the submodule sub; `from mod import name` imports mod.
            targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_sees_function_level_imports_and_loops(tmp_path):
    # The check above must be able to fail: an import inside a function counts, and a loop is found.
    (tmp_path / "b.py").write_text("def f():\n    from memgen_cli.a import thing\n")
    modules = {"memgen_cli.a": None, "memgen_cli.b": None}
    assert imported_modules("memgen_cli.b", tmp_path / "b.py", modules) == {"memgen_cli.a"}
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in all_modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


# Rooms (top-level modules and subpackages) from the bottom up. A room may import only rooms below it: so the
# CLI points down to locate and report, they to the runner, the runner to the experiments, the experiments to the
# shared math and formats. Rooms on one level (linear and unet; locate and report) import neither each other.
LAYERS = [
    ("errors", "version"),
    ("yaml_files", "ledger"),
    ("config", "seeding", "pair_sums"),
    ("kde", "results_format", "experiment"),
    ("statistics",),
    ("imaging",),
    ("linear", "unet", "closedform", "evaluate"),
    ("runner",),
    ("locate", "report"),
    ("cli",),
    ("", "__main__"),  # the package's API (memgen_cli/__init__.py) and `python -m memgen_cli`
]
RANK = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that points sideways or up between rooms."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            here, there = room_of(module), room_of(target)
            if here != there and RANK[there] >= RANK[here]:
                found.append(f"{module} -> {target} ({here or 'memgen_cli'} may not import {there})")
    return found


def test_every_room_has_a_layer():
    rooms = {room_of(name) for name in all_modules()}
    assert rooms <= set(RANK), f"rooms without a layer in LAYERS: {sorted(rooms - set(RANK))}"


def test_imports_point_down_between_rooms():
    violations = layer_violations(import_graph())
    assert not violations, "imports that do not point down:\n" + "\n".join(violations)


def test_the_layer_check_fails_on_a_planted_loop_between_packages():
    # report and locate are peers: report importing locate (as figure_phase once did) must fail, and a runner
    # module importing the report (as sweep.py once did for its statistics) too.
    assert layer_violations({"memgen_cli.report.figures.figure_phase": {"memgen_cli.locate.search"},
                             "memgen_cli.locate.search": set()})
    assert layer_violations({"memgen_cli.runner.sweep": {"memgen_cli.report.stats"}, "memgen_cli.report.stats": set()})
    assert not layer_violations({"memgen_cli.cli.sweep": {"memgen_cli.runner.sweep"}, "memgen_cli.runner.sweep": set()})


# Inside the report, parts from the bottom up: the shared readers at report/ (reader.py, caption.py), then the
# analysis (computes the tables), the figures (draw them), the page (shows both). A part imports only parts below it.
REPORT_PARTS = ["", "analysis", "figures", "page"]


def report_part(module: str) -> str | None:
    """The report part a module belongs to ("" for report/'s own modules), or None outside the report."""
    parts = module.split(".")
    if parts[:2] != ["memgen_cli", "report"]:
        return None
    return parts[2] if len(parts) > 2 and parts[2] in REPORT_PARTS else ""


def report_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import inside the report that points sideways or up between its parts."""
    found = []
    for module, targets in sorted(graph.items()):
        here = report_part(module)
        for target in sorted(targets):
            there = report_part(target)
            if here is not None and there is not None and REPORT_PARTS.index(there) > REPORT_PARTS.index(here):
                found.append(f"{module} -> {target} (report/{here} may not import report/{there})")
    return found


def outside_packages(path: Path) -> set[str]:
    """The top-level names of every package a module imports anywhere in its body (matplotlib, numpy ...)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def reachable(graph: dict[str, set[str]], start: set[str]) -> set[str]:
    seen, todo = set(), list(start)
    while todo:
        if (module := todo.pop()) not in seen:
            seen.add(module)
            todo.extend(graph[module])
    return seen


def test_the_report_imports_down_from_the_page_to_the_analysis():
    violations = report_violations(import_graph())
    assert not violations, "report imports that do not point down:\n" + "\n".join(violations)


def test_the_analysis_never_imports_matplotlib():
    """Computing the tables draws nothing: no analysis module, nor any memgen module it reaches, imports it."""
    graph, modules = import_graph(), all_modules()
    analysis = {name for name in graph if report_part(name) == "analysis"}
    assert analysis, "no modules in report/analysis/"
    drawing = sorted(m for m in reachable(graph, analysis) if "matplotlib" in outside_packages(modules[m]))
    assert not drawing, f"the analysis reaches matplotlib through: {drawing}"


def test_the_report_checks_fail_on_planted_violations(tmp_path):
    # The analysis drawing, the figures reaching for the page, and the shared reader importing the analysis fail;
    # the page reading the analysis and the figures passes.
    assert report_violations({"memgen_cli.report.analysis.outputs": {"memgen_cli.report.figures.canvas"}})
    assert report_violations({"memgen_cli.report.analysis.load": {"memgen_cli.report.page.html_report"}})
    assert report_violations({"memgen_cli.report.figures.draw": {"memgen_cli.report.page.html_tables"}})
    assert report_violations({"memgen_cli.report.reader": {"memgen_cli.report.analysis.transitions"}})
    assert not report_violations({"memgen_cli.report.page.html_report": {"memgen_cli.report.analysis.outputs",
                                                                          "memgen_cli.report.figures.draw",
                                                                          "memgen_cli.report.reader"}})
    (tmp_path / "a.py").write_text("import numpy\n\ndef f():\n    from matplotlib.figure import Figure\n")
    assert outside_packages(tmp_path / "a.py") == {"numpy", "matplotlib"}
    assert reachable({"a": {"b"}, "b": {"c"}, "c": set(), "d": set()}, {"a"}) == {"a", "b", "c"}


def test_science_and_infrastructure_live_apart():
    """The math (kde, linear.model, unet's numpy metrics and data) knows nothing of files, configs or the CLI."""
    graph = import_graph()
    for pure in ("memgen_cli.kde", "memgen_cli.linear.model", "memgen_cli.imaging.metrics"):
        infrastructure = {m for m in graph[pure] if m.startswith(("memgen_cli.runner", "memgen_cli.report",
                                                                   "memgen_cli.cli", "memgen_cli.results_format"))}
        assert not infrastructure, (pure, infrastructure)
    for room in ("cli", "linear", "unet", "imaging", "statistics", "runner", "report", "locate"):
        assert (PACKAGE / room / "__init__.py").is_file(), room


def test_the_runner_locate_and_cli_call_the_experiment_interface_without_discovering_hooks():
    """Every capability has its default in Experiment: nothing asks an experiment whether it has one (a
    getattr/hasattr on an experiment would hide a missing member behind a silent default)."""
    found = []
    for room in ("runner", "locate", "cli"):
        for path in sorted((PACKAGE / room).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in ("getattr", "hasattr") and node.args
                        and "experiment" in ast.unparse(node.args[0]).lower()):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, found
