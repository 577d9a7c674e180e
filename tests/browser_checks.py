"""A page as a real browser shows it: headless Chromium (Debian's package `chromium`), no DevTools client needed.

``browser_checks`` copies the page with a small probe script put first in its <head>: it records every script
error and every image that fails to load, and once the page has loaded writes what it found (each image's
naturalWidth, the errors, any address that is not inline, the page's width against the window's) into the DOM as
JSON, which `chromium --dump-dom` prints. The page itself is not changed.
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


def browser_checks(page_path: Path, work: Path, width: int = 1200, height: int = 900) -> dict:
    """What the probe found when Chromium loaded the page in a window of this size."""
    work.mkdir(parents=True, exist_ok=True)
    probed = work / f"probed-{width}.html"
    probed.write_text(with_probe(page_path.read_text()))
    dom = run_chromium(probed.as_uri(), work / "profile", width, height, "--dump-dom")
    found = re.search(r'<pre id="memgen-checks">(.*?)</pre>', dom, flags=re.S)
    if not found:
        raise AssertionError("the probe wrote nothing: the page did not finish loading\n" + dom[-1000:])
    return json.loads(html.unescape(found.group(1)))


def screenshot(page_path: Path, out: Path, width: int, height: int) -> Path:
    run_chromium(page_path.resolve().as_uri(), out.parent / "profile", width, height, f"--screenshot={out}")
    return out
