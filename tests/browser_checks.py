"""A page as a real browser shows it: headless Chromium (Debian's package `chromium`), no DevTools client needed.

``browser_checks`` copies the page with a small probe script put first in its <head>: it records every script
error and every image that fails to load, and once the page has loaded writes what it found (each image's
naturalWidth, the errors, any address that is not inline, the page's width against the window's) into the DOM as
JSON, which `chromium --dump-dom` prints. The page itself is not changed.

Headless Chromium will not make a window narrower than 500 px; a narrower one (a phone's 400 px) is an iframe of that
width inside a wider window, the page in its ``srcdoc`` (so the wrapper may read what the probe wrote in it).
The probe opens every <details> before it measures, so that a table folded away is measured too.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM_PACKAGE = "chromium"  # Debian's package (apt-get install chromium); .ci/run installs it
SKIP_REASON = (f"needs headless Chromium: install Debian's package '{CHROMIUM_PACKAGE}' "
               f"(apt-get install {CHROMIUM_PACKAGE}); .ci/run does")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio")

PROBE = """<script>
window.__memgenErrors = [];
window.addEventListener("error", function (event) {
  var target = event.target || {};
  window.__memgenErrors.push(target.tagName ? "failed to load <" + target.tagName.toLowerCase() + ">"
                                             : String(event.message) + " at " + event.filename + ":" + event.lineno);
}, true);
window.addEventListener("load", function () {
  Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  var images = Array.prototype.slice.call(document.images);
  var addresses = Array.prototype.slice.call(document.querySelectorAll("[src],[href]")).map(function (node) {
    return node.getAttribute("src") || node.getAttribute("href");
  });
  var found = {
    images: images.map(function (img) { return {alt: img.alt, complete: img.complete, width: img.naturalWidth,
                                               shown: img.getBoundingClientRect().width,
                                               box: img.parentElement.getBoundingClientRect().width}; }),
    errors: window.__memgenErrors,
    external: addresses.filter(function (a) { return !/^(data:|#)/.test(a); }),
    tables: Array.prototype.slice.call(document.querySelectorAll("table")).map(function (table) {
      var heading = table.querySelector("th");
      return {width: table.getBoundingClientRect().width, box: table.parentElement.getBoundingClientRect().width,
              first: heading ? heading.textContent : ""}; }),
    pageWidth: document.documentElement.scrollWidth,
    windowWidth: window.innerWidth,
    headings: Array.prototype.slice.call(document.querySelectorAll("h2,h3")).map(function (h) {
      return h.textContent; })
  };
  var out = document.createElement("pre");
  out.id = "memgen-checks";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""


SMALLEST_WINDOW = 500  # px: headless Chromium's narrowest window
WRAPPER = """<!doctype html><html><head><meta charset=utf-8><style>body {{ margin: 0; }} iframe {{ border: 0; }}
</style></head><body><iframe id=page width={width} height={height} srcdoc="{page}"></iframe><script>
document.getElementById("page").addEventListener("load", function () {{
  var found = this.contentDocument.getElementById("memgen-checks");
  var out = document.createElement("pre");
  out.id = "memgen-checks";
  out.textContent = found ? found.textContent : "";
  document.body.appendChild(out);
}});
</script></body></html>"""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def with_probe(page: str) -> str:
    """The page with the probe first in its <head>, so that it hears the page's own scripts' errors."""
    head = re.search(r"<head[^>]*>", page)
    at = head.end() if head else 0
    return page[:at] + PROBE + page[at:]


def run_chromium(url: str, profile: Path, width: int, height: int, *extra: str, timeout: int = 120) -> str:
    binary = chromium()
    if binary is None:
        raise RuntimeError(SKIP_REASON)
    done = subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                           "--virtual-time-budget=5000", *extra, url],
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def in_frame(page: str, width: int, height: int) -> str:
    """The page in an iframe of this size (a window narrower than Chromium's narrowest)."""
    return WRAPPER.format(width=width, height=height, page=html.escape(page, quote=True))


def browser_checks(page_path: Path, work: Path, width: int = 1200, height: int = 900) -> dict:
    """What the probe found when Chromium loaded the page in a window of this size (an iframe of it when narrower
    than Chromium's narrowest window)."""
    work.mkdir(parents=True, exist_ok=True)
    probed = work / f"probed-{width}.html"
    page = with_probe(page_path.read_text())
    narrow = width < SMALLEST_WINDOW
    probed.write_text(in_frame(page, width, height) if narrow else page)
    window = SMALLEST_WINDOW if narrow else width
    dom = run_chromium(probed.as_uri(), work / "profile", window, height, "--dump-dom")
    found = re.search(r'<pre id="memgen-checks">(.*?)</pre>', dom, flags=re.S)
    if not found:
        raise AssertionError("the probe wrote nothing: the page did not finish loading\n" + dom[-1000:])
    return json.loads(html.unescape(found.group(1)))


def screenshot(page_path: Path, out: Path, width: int, height: int) -> Path:
    """A PNG of the page's top in a window of this size (narrower than Chromium's: in an iframe of this width, at
    the left of a 500 px window)."""
    url = page_path.resolve().as_uri()
    if width < SMALLEST_WINDOW:
        framed = out.with_suffix(".framed.html")
        framed.write_text(in_frame(page_path.read_text(), width, height))
        url, width = framed.resolve().as_uri(), SMALLEST_WINDOW
    run_chromium(url, out.parent / "profile", width, height, f"--screenshot={out}")
    return out
