"""memgen report: one self-contained HTML page per set of folders (linear, U-Net, locate, with failed tasks),
written from the folders' own analysis and figures, checked as text and in a real browser (headless Chromium)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from browser_checks import SKIP_REASON, browser_checks, chromium, screenshot
from cli_helpers import assert_one_line_error, invoke
from memgen_cli.report.page.html_tables import number
from results_factory import write_linear_results
from test_unet_memorization import FALLING, RISING, write_unet_folder
from tiny import CLOSEDFORM_SWEEP

LINEAR_SWEEP = """model: linear
seed: 1
trials: 20
grid:
  n: {start: 2, stop: 200, num: 7, spacing: log}
  d: [4, 8]
  N: [300]
"""


def _swept(root: Path, model: str, text: str, *options: str) -> Path:
    """A real `memgen sweep` folder of ``text``'s config: config.yaml and manifest.json as a run writes them."""
    config = root / "sweep.yaml"
    config.write_text(text)
    result = invoke("sweep", model, config, "--out", root / model, *options)
    assert result.exit_code == 0, result.output
    return root / model


@pytest.fixture(scope="module")
def linear_folder(tmp_path_factory) -> Path:
    return _swept(tmp_path_factory.mktemp("linear"), "linear", LINEAR_SWEEP, "--workers", "1", "--quiet")


@pytest.fixture(scope="module")
def closedform_folder(tmp_path_factory) -> Path:
    """A real closed-form sweep: its n* undetermined, with the long reasons that once stretched the tables."""
    return _swept(tmp_path_factory.mktemp("closedform"), "closedform", CLOSEDFORM_SWEEP, "--executor", "serial", "-q")


@pytest.fixture(scope="module")
def unet_folder(tmp_path_factory) -> Path:
    return write_unet_folder(tmp_path_factory.mktemp("unet") / "unet", FALLING, RISING, curves=True)


@pytest.fixture(scope="module")
def locate_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("locate")
    d = np.array([4, 8, 16, 32])
    rows = [{"d": int(k), "covariance": cov, "n_star": a * k ** b, "n_star_lo": a * k ** b / 1.1,
             "n_star_hi": a * k ** b * 1.1, "status": "converged", "trials": 160}
            for cov, a, b in (("BBt", 1.6, 1.1), ("BtB", 0.8, 1.3)) for k in d]
    pd.DataFrame(rows).to_csv(folder / "nstar.csv", index=False)
    (folder / "config.yaml").write_text("model: linear\nseed: 0\ngrid: {n: [2, 500], d: [4, 8, 16, 32]}\n")
    return folder


def images(page: str) -> list[tuple[str, bytes]]:
    """(mime type, decoded bytes) of every embedded image."""
    return [(mime, base64.b64decode(data)) for mime, data in re.findall(r"src='data:([^;]+);base64,([^']+)'", page)]


def assert_self_contained(page: str) -> None:
    assert "<script" not in page.lower()  # the page needs no script
    assert not re.search(r"""(src|href)=['"]?(https?:|//)""", page)  # nor the network
    text = re.sub(r"<img[^>]*>", "", page)
    assert not re.search(r"\bnan\b", text, flags=re.I)  # a missing number reads '–', never 'nan'


def test_a_linear_folder_on_one_page(linear_folder):
    result = invoke("report", linear_folder, "--bootstrap", "200")
    assert result.exit_code == 0, result.output
    page_path = linear_folder / "report.html"
    assert f"wrote {page_path}" in " ".join(result.output.split())
    page = page_path.read_text()
    assert_self_contained(page)
    embedded = images(page)
    assert len(embedded) == 5 and all(m == "image/png" and b.startswith(b"\x89PNG") for m, b in embedded)
    for name in ("p_delta_positive", "hellinger", "errors_vs_p", "transition", "criteria"):
        assert f"id='fig-{name}'" in page
    # The run in short: what differs from the defaults (N = 300, 20 trials, seed 1) and what is swept.
    assert "Linear model: N = 300, seed = 1, 20 trials per cell" in page
    assert "300 (default 10000)" in page and "swept: d" in page
    # The transition table is the folder's transitions.csv, each estimate with its interval.
    table = pd.read_csv(linear_folder / "transitions.csv")
    for row in table.to_dict("records"):
        if row["n_star_status"] == "crossed":
            assert f"{number(row['n_star'])} <span class=ci>[" in page
        assert f">{row['verdict']}</span>" in page
    # Provenance: the manifest's commit, versions and the run's command line.
    manifest = json.loads((linear_folder / "manifest.json").read_text())
    assert manifest["packages"]["numpy"] in page
    assert html.escape(" ".join(manifest["runs"][0]["argv"]), quote=True) in page
    assert str(manifest["git"]["commit"] or "unknown") in page
    assert "none (no failed.json)" in page


def test_new_verdict_columns_show_up_without_a_change(linear_folder, tmp_path):
    """The table is written from the CSV's columns: a verdict another analysis adds is shown, coloured, with its
    reason, and an estimate with _lo/_hi gets its interval."""
    invoke("analyze", linear_folder, "--bootstrap", "200")
    table = pd.read_csv(linear_folder / "transitions.csv")
    table["discrimination_verdict"] = ["discriminates", "cannot discriminate"]
    table["discrimination_verdict_reason"] = ["reference models separate", "<references overlap>"]
    table["reference_n_star"], table["reference_n_star_lo"], table["reference_n_star_hi"] = 12.5, 10.0, 15.0
    table.to_csv(linear_folder / "transitions.csv", index=False)
    record = json.loads((linear_folder / "analysis.json").read_text())  # as that analysis would record its table
    record["table_sha256"]["transitions.csv"] = hashlib.sha256((linear_folder / "transitions.csv").read_bytes()
                                                               ).hexdigest()
    (linear_folder / "analysis.json").write_text(json.dumps(record))
    result = invoke("report", linear_folder, "--bootstrap", "200", "--out", tmp_path / "page.html")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "page.html").read_text()
    key_table = page.split("<h3>Transition</h3>")[1].split("<details>")[0]  # before 'every column'
    assert "discrimination_verdict" in key_table and "reference_n_star" not in key_table
    assert "<span class='verdict good'>discriminates</span>" in key_table
    assert "<span class='verdict bad'>cannot discriminate</span>" in key_table
    assert "&lt;references overlap&gt;" in page and "<references overlap>" not in page  # escaped
    assert "12.5 <span class=ci>[10, 15]</span>" in page


@pytest.mark.slow  # a U-Net folder's analysis, figures and page end to end
def test_a_unet_folder_with_memorization_and_training_curves(unet_folder, tmp_path):
    result = invoke("report", unet_folder, "--bootstrap", "200", "--out", tmp_path / "unet.html")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "unet.html").read_text()
    assert_self_contained(page)
    # P, errors, transition, memorized fraction, beside P, training curves, training times
    assert len(images(page)) == 7
    assert "<h3>Memorization</h3>" in page and "n_mem [95% CI]" in page
    # The same analysis, from analyze (report --out stores none in the folder)
    assert invoke("analyze", unet_folder, "--bootstrap", "200", "--out", tmp_path / "tables").exit_code == 0
    groups = pd.read_csv(tmp_path / "tables" / "memorization.csv")
    assert f"{number(groups['n_mem'].iloc[0])} <span class=ci>[" in page
    assert "<h3>Training curves</h3>" in page and "every checkpoint (12 rows)" in page


@pytest.mark.slow  # two folders' analyses, figures and page end to end
def test_a_locate_folder_and_several_folders_on_one_page(locate_folder, unet_folder, tmp_path):
    out = tmp_path / "both.html"
    result = invoke("report", locate_folder, unet_folder, "--bootstrap", "200", "--out", out)
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert_self_contained(page)
    assert "<a href='#folder-0'>" in page and "<a href='#folder-1'>" in page
    assert "id='fig-phase_diagram'" in page and "n* per combination" in page
    assert "b [95% CI]" in page and "1.1 <span class=ci>[" in page  # b of the BBt law, with its interval
    assert not (locate_folder / "report.html").exists()  # --out: nowhere else


def test_failed_tasks_are_listed_and_escaped(tmp_path):
    folder = write_linear_results(tmp_path / "failed", [4, 8, 16, 32, 64], trials=20)
    failed = [{"task": "c0001-t000", "cell": {"n": 128, "d": 16}, "error": "MemoryError: <d = 16>",
               "log": "logs/c0001-t000.log"},
              {"task": "c0002-t000", "cell": {"n": 256, "d": 16}, "error": "killed", "log": "logs/c0002-t000.log"}]
    (folder / "failed.json").write_text(json.dumps(failed))
    result = invoke("report", folder, "--bootstrap", "100", "--image-format", "svg")
    assert result.exit_code == 0, result.output
    page = (folder / "report.html").read_text()
    assert "2 task(s) failed" in page and "c0002-t000" in page and "logs/c0001-t000.log" in page
    assert "MemoryError: &lt;d = 16&gt;" in page
    assert {mime for mime, _ in images(page)} == {"image/svg+xml"}
    assert "no readable manifest.json" in page


@pytest.mark.parametrize("args, fragments", [
    (["--dpi", "10"], ["--dpi", "72"]),
    (["--image-format", "gif"], ["--image-format"]),
    (["--bootstrap", "5"], ["--bootstrap", ">= 100"]),
])
def test_bad_options_are_one_line(linear_folder, tmp_path, args, fragments):
    assert_one_line_error(invoke("report", linear_folder, "--out", tmp_path / "x.html", *args), *fragments)
    assert not (tmp_path / "x.html").exists()


def test_a_bad_folder_is_one_line_and_writes_nothing(linear_folder, tmp_path):
    out = tmp_path / "page.html"
    assert_one_line_error(invoke("report", linear_folder, tmp_path / "nowhere", "--out", out), "nowhere",
                          "no such folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(invoke("report", empty, "--out", out), "summary.csv")
    assert not out.exists()  # the page is built whole before it is written


# ----------------------------------------------------------------------------------------------
# In a real browser


@pytest.mark.slow  # starts Chromium (about 12 s of CPU)
@pytest.mark.skipif(chromium() is None, reason=SKIP_REASON)
def test_the_page_in_headless_chromium(linear_folder, unet_folder, locate_folder, tmp_path):
    """Every image decodes, no script error, nothing from the network, and in a narrow window the page stays as
    wide as the window (tables and two-column figures scroll inside their boxes, one-column figures shrink)."""
    page = tmp_path / "all.html"
    result = invoke("report", linear_folder, unet_folder, locate_folder, "--bootstrap", "200", "--out", page)
    assert result.exit_code == 0, result.output
    for width in (1200, 420):
        found = browser_checks(page, tmp_path / f"chromium-{width}", width=width)
        assert len(found["images"]) == 5 + 7 + 1, width
        for image in found["images"]:
            assert image["complete"] and image["width"] > 0, (width, image)
            # shown whole, or (a two-column figure in a narrow window) at a readable 600 px in a box that scrolls
            assert 0 < image["shown"] <= max(found["windowWidth"], 600), (width, image)
            assert image["box"] <= found["windowWidth"], (width, image)
        assert found["errors"] == [] and found["external"] == [], (width, found)
        assert found["pageWidth"] <= found["windowWidth"], (width, found["pageWidth"], found["windowWidth"])
        assert found["headings"].count("Provenance") == 3
    shot = screenshot(page, tmp_path / "narrow.png", 420, 900)
    assert shot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.skipif(chromium() is None, reason=SKIP_REASON)
def test_the_browser_check_sees_a_broken_page(tmp_path):
    """The check above can fail: a broken image, a script error and an address on the network are all seen."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><html><head><title>x</title></head><body>"
                    "<img alt=broken src='data:image/png;base64,AAAA'><script>notDefined();</script>"
                    "<img alt=far src='https://example.invalid/x.png'></body></html>")
    found = browser_checks(page, tmp_path / "chromium")
    assert [image["width"] for image in found["images"]] == [0, 0]
    assert any("notDefined" in error for error in found["errors"])
    assert found["external"] == ["https://example.invalid/x.png"]


def test_a_closed_form_folder_on_one_page(closedform_folder, tmp_path):
    """The third model's folder: its memorization table, the references on its P figure, its title in captions."""
    result = invoke("report", closedform_folder, "--bootstrap", "200", "--out", tmp_path / "cf.html")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "cf.html").read_text()
    assert_self_contained(page)
    figures = re.findall(r"id='fig-([^']*)'", page)
    assert {"p_delta_positive", "memorized_fraction", "memorization_vs_p"} <= set(figures), figures
    assert len(images(page)) == len(figures)
    assert "Closed-form model" in page and "<h3>Memorization</h3>" in page
    assert "an ideal generalizer" in page  # the references' band, said under the P(Δ > 0) figure
    # Long statuses are numbered notes under their table, not its cells; each figure note is said once.
    transition = page.split("<h3>Transition</h3>")[1].split("<details>")[0]
    assert "<sup class=nref>[1]</sup>" in transition and "<ol class=tnotes><li>undetermined: " in transition
    for note in re.findall(r"<ul class=notes>(.*?)</ul>", page.split("<h3>Figures</h3>")[1]):
        for item in re.findall(r"<li>(.*?)</li>", note):
            assert page.count(f"<li>{item}</li>") <= 2, item  # under its figure (and, at most, the folder's notes)


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason=SKIP_REASON)
def test_pages_fit_a_wide_and_a_phone_window(closedform_folder, linear_folder, tmp_path):
    """Issue 37. At 1280 px every table fits its column (long texts are notes under it) and every figure is shown at
    its drawn width, neither stretched nor shrunk; at 400 px nothing makes the page scroll sideways (a table may
    scroll inside its own box) and the figures scale down to the window."""
    for name, folder in (("closedform", closedform_folder), ("linear", linear_folder)):
        page = tmp_path / f"{name}.html"
        result = invoke("report", folder, "--bootstrap", "200", "--out", page)
        assert result.exit_code == 0, result.output
        wide = browser_checks(page, tmp_path / f"{name}-1280", width=1280, height=2000)
        assert wide["windowWidth"] == 1280 and wide["errors"] == []
        assert len(wide["tables"]) >= 4 and len(wide["images"]) >= 5, (name, wide)
        for table in wide["tables"]:
            assert table["width"] <= min(table["box"], wide["windowWidth"]), (name, table)
        for image in wide["images"]:
            assert image["shown"] == image["width"] > 0, (name, image)  # drawn width, not stretched or shrunk
        assert wide["pageWidth"] <= wide["windowWidth"], name
        narrow = browser_checks(page, tmp_path / f"{name}-400", width=400, height=2000)
        assert narrow["windowWidth"] == 400 and narrow["errors"] == []
        assert narrow["pageWidth"] <= 400, (name, narrow["pageWidth"])  # no sideways scrolling
        for image in narrow["images"]:
            assert image["shown"] <= 400 - 16 and image["box"] <= 400, (name, image)
        for table in narrow["tables"]:
            assert table["box"] <= 400, (name, table)  # a wide table scrolls inside its box
