"""The README's Python example runs as written (examples are under test too)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks, "the README has a Python example"
    monkeypatch.chdir(ROOT)  # the example names configs/ relative to the repository
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert "delta_positive" in capsys.readouterr().out
