"""The README's Python example runs as written and prints what it says (examples are under test too)."""

import re
import shutil
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(monkeypatch, capsys, tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) == 1, "the README has one Python example"
    shutil.copytree(ROOT / "configs", tmp_path / "configs")  # it names configs/ and results/ relative to the clone
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    folder = tmp_path / "results" / "readme-example"
    summary = pd.read_csv(folder / "summary.csv")
    assert out[0] == f"linear {len(pd.read_csv(folder / 'trials.csv'))} trials" == "linear 40 trials"
    printed = summary[["n", "p_delta_positive", "p_generalizer_delta_positive"]].to_string(index=False)
    assert "\n".join(out[1:4]) == printed  # the folder's own numbers, as written
    assert out[4].split() == ["n_star", "n_star_status"] and (folder / "transitions.csv").is_file()
    sign, h2 = out[-1].split()
    assert sign in ("-1", "1") and 0.0 < float(h2) <= 1.0
