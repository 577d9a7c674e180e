"""The CI workflow shipped for users runs what this project's own CI runs (.ci/run), on the promised Pythons."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def make_targets(commands: str) -> list[str]:
    return re.findall(r"^\s*make\s+([\w-]+)", commands, flags=re.MULTILINE)


def test_workflow_runs_the_targets_of_ci_run_on_python_310_and_312():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert {"push", "pull_request"} <= set(triggers)
    test_job = workflow["jobs"]["test"]
    assert test_job["strategy"]["matrix"]["python-version"] == ["3.10", "3.12"]
    assert test_job["runs-on"].startswith("ubuntu")
    job_targets = make_targets("\n".join(step.get("run", "") for step in test_job["steps"]))
    ci_targets = make_targets((ROOT / ".ci" / "run").read_text())
    assert ci_targets == ["lint", "test"] and job_targets == ci_targets
    reproduce = workflow["jobs"]["reproduce-quick"]
    assert make_targets("\n".join(step.get("run", "") for step in reproduce["steps"])) == ["reproduce-quick"]
    assert "whl/cpu" in workflow["env"]["PIP_EXTRA_INDEX_URL"]  # never the multi-GB CUDA build


def test_every_make_target_the_workflow_names_exists():
    makefile = (ROOT / "Makefile").read_text()
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    for target in set(make_targets(workflow)):
        assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.MULTILINE), target


def test_ci_installs_chromium_before_the_tests_so_the_browser_test_runs():
    """The report's browser test skips without Chromium (naming the package); CI must not let it skip."""
    from browser_checks import CHROMIUM_PACKAGE

    run = (ROOT / ".ci" / "run").read_text()
    install = run.index(f"apt-get install -y -qq --no-install-recommends {CHROMIUM_PACKAGE}")
    assert "command -v chromium" in run and install < run.index("make test")
    steps = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())["jobs"]["test"]["steps"]
    runs = [step.get("run", "") for step in steps]
    chromium_step = next(k for k, text in enumerate(runs) if "chromium" in text)
    assert chromium_step < next(k for k, text in enumerate(runs) if "make test" in text)
