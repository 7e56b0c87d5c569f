"""Full-page PNG screenshots of the HTML report, taken with a headless Chromium-family browser.

Usage::

    python -m customer_retention.report_screenshot [--report data/08_reporting/report.html]
        [--out data/08_reporting/screenshots] [--widths 1400 390]
    make report-screenshot

One PNG per width (``<report stem>-<width>.png``); the paths and pixel sizes are printed. No
browser is installed with the project: one is looked up as ``$CUSTOMER_RETENTION_CHROMIUM``
(a path or a command name), else ``chromium``, ``chromium-browser``, ``google-chrome``,
``google-chrome-stable``, ``headless_shell`` or ``chrome-headless-shell`` on PATH. Exit codes:
0 done; 1 the browser failed or the page logged console messages (the PNGs are still written);
2 no browser, or no report.

How the full-page height is obtained
------------------------------------
The browser is only driven through its command line (``--dump-dom``, ``--screenshot``), which
captures exactly the window, so the page height is measured first: a copy of the page with a
small script injected is loaded with ``--dump-dom --virtual-time-budget``; on the ``load`` event
(every image decoded, so ``height: auto`` images have their size) the script writes
``max(scrollHeight, offsetHeight)`` of ``<html>``/``<body>`` (and the scroll width) into
attributes of ``<html>``, and ``--dump-dom`` prints the DOM after the virtual-time budget, well
after ``load``. That is the layout height at that width, not an estimate from pixels (cropping
blank rows of a tall render would cut a page with a white footer, and a too-short render cannot
tell it is too short). The measuring window is ``width x 800``, so a page sized in ``vh`` is
measured at that viewport.

The page is then captured with ``--window-size=W,H``. Very tall captures are unreliable
(beyond about 16384 px they are reported to come out cut or blank), so a page taller than ``tile_height`` (8000 px) is
captured in tiles: tile *k* loads a copy of the page with ``body { transform:
translateY(-offset px) }`` added (a transform moves the painting, never the layout) and the
tiles are stacked with Pillow. Each tile's offset advances by the height the PNG really has,
and a viewport shorter than the window (some headless builds subtract browser UI) is measured
on the first tile and added to the next windows, so the stacked image is exact either way.
Caveat: ``position: fixed`` elements become relative to the transformed ``<body>`` in tiles
after the first (the report has none). Copies are written in a temporary folder next to the
output PNG (a ``<base>`` tag keeps relative links working; a snap-packaged Chromium cannot
read ``/tmp``), never next to the report.

What console errors are caught
------------------------------
The browser runs with ``--enable-logging=stderr --v=0`` and a throw-away ``--user-data-dir``
(without one ``headless_shell`` runs off the record and logs no console message at all).
Chromium then logs every message that reaches the page's console as a ``CONSOLE`` line
(``[...:INFO:CONSOLE(12)] "message", source: file:///... (12)``, or ``CONSOLE:12`` in newer
builds): ``console.log/info/warn/error`` calls, uncaught exceptions and unhandled promise
rejections (``"Uncaught TypeError: ..."``), and the messages Blink adds itself (CSP
violations, deprecations, mixed content, ...). For web pages Chromium logs them all at INFO
level, so their level cannot be told apart; the report has no scripts, so every such message
is returned as a console error (extension and ``chrome://`` sources excluded), plus any other
stderr line containing ``Uncaught``. Not caught reliably: ``Failed to load resource`` for a
missing image or stylesheet, which DevTools shows from network events but the log may not
carry (the report embeds everything, and its own tests check that); layout faults that raise nothing (overlap, overflow:
``Screenshot.content_width`` says when the content is wider than the window); browser noise on
stderr (D-Bus, GPU, sandbox warnings), which is ignored.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

ENV_VAR = "CUSTOMER_RETENTION_CHROMIUM"
CANDIDATES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "headless_shell",
    "chrome-headless-shell",
)
DEFAULT_REPORT = Path("data/08_reporting/report.html")
DEFAULT_OUT = Path("data/08_reporting/screenshots")
DEFAULT_WIDTHS = (1400, 390)
TILE_HEIGHT = 8000  # px per capture; pages taller than this are captured in tiles
PROBE_HEIGHT = 800  # viewport height of the measuring run
MAX_HEIGHT = 60000  # longer pages are cut (and flagged) rather than filling the memory
TIMEOUT = 120.0  # seconds per browser run
VIRTUAL_TIME_BUDGET = 5000  # ms of page time the browser fast-forwards before capturing

_HEIGHT_ATTR = "data-cr-page-height"
_WIDTH_ATTR = "data-cr-page-width"
_VIEWPORT_ATTR = "data-cr-viewport-width"
_PROBE = (
    "<script>addEventListener('load', function () {"
    " var r = document.documentElement, b = document.body || r;"
    " var h = Math.max(r.scrollHeight, r.offsetHeight, b.scrollHeight, b.offsetHeight);"
    " var w = Math.max(r.scrollWidth, b.scrollWidth);"
    f" r.setAttribute('{_HEIGHT_ATTR}', String(Math.ceil(h)));"
    f" r.setAttribute('{_WIDTH_ATTR}', String(Math.ceil(w)));"
    f" r.setAttribute('{_VIEWPORT_ATTR}', String(r.clientWidth));"
    " });</script>"
)
_MEASURED_HEIGHT = re.compile(rf'\b{_HEIGHT_ATTR}="(\d+)"')
_MEASURED_WIDTH = re.compile(rf'\b{_WIDTH_ATTR}="(\d+)"')
_MEASURED_VIEWPORT = re.compile(rf'\b{_VIEWPORT_ATTR}="(\d+)"')
# "[pid:tid:date:INFO:CONSOLE(12)] ..." (older builds) or "...:INFO:CONSOLE:12] ..." (newer).
_CONSOLE = re.compile(r":CONSOLE[(:]\s*-?\d*\)?\]")
_NOT_THE_PAGE = re.compile(r"source: (?:chrome-extension|chrome|devtools)://")


class ScreenshotError(RuntimeError):
    """The browser failed, timed out or produced no usable output."""


@dataclass(frozen=True)
class Screenshot:
    """One full-page PNG.

    ``height`` is the PNG's height: the page height measured by the browser (or the height
    asked for), at most ``MAX_HEIGHT`` (``truncated`` then says the page was longer).
    ``content_width`` is the page's scroll width (None when the height was given, so not
    measured); more than ``viewport_width`` means content is cut off at the right.
    ``viewport_width`` is the width the page was laid out at: ``width`` unless the browser has a
    narrowest window (headless Chromium lays out at no less than 500 px, less its scroll bar, so
    a 390 px capture shows the left 390 px of that layout). ``console_errors``
    are the console messages the page logged (see :func:`console_errors`), each once, in order,
    with the page's own address where a run loaded a copy of it.
    """

    path: Path
    width: int
    height: int
    page_height: int
    content_width: int | None
    tiles: int
    console_errors: tuple[str, ...]
    viewport_width: int | None = None

    @property
    def truncated(self) -> bool:
        return self.page_height > self.height


def find_browser(environ: Mapping[str, str] | None = None) -> str | None:
    """The path of a Chromium-family browser, or None.

    ``$CUSTOMER_RETENTION_CHROMIUM`` (a path or a command name) wins when set; when it names
    nothing executable the answer is None rather than some other browser. Otherwise the first
    of ``CANDIDATES`` found on ``environ['PATH']``.
    """
    environ = os.environ if environ is None else environ
    path = environ.get("PATH", os.defpath)
    chosen = environ.get(ENV_VAR, "").strip()
    if chosen:
        return shutil.which(chosen, path=path)
    for name in CANDIDATES:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def console_errors(stderr: str) -> list[str]:
    """The page's console messages in a browser's stderr log (see the module docstring), each
    without the log prefix (``[pid:tid:time:INFO:CONSOLE(12)] ``), so that the same message
    from several browser runs reads the same."""
    found = []
    for line in stderr.splitlines():
        line = line.strip()
        console = _CONSOLE.search(line)
        if console:
            if not _NOT_THE_PAGE.search(line):
                found.append(line[console.end() :].strip())
        elif "Uncaught" in line:
            found.append(line)
    return found


def screenshot(
    html_path: str | Path,
    out_png: str | Path,
    width: int = 1400,
    height: int | None = None,
    *,
    browser: str | None = None,
    timeout: float = TIMEOUT,
    tile_height: int = TILE_HEIGHT,
    max_height: int = MAX_HEIGHT,
) -> Screenshot:
    """Render ``html_path`` headless at ``width`` CSS px (device scale 1) and write the whole
    page as ``out_png``; ``height`` skips the measurement and captures exactly that many rows.

    ``browser`` defaults to :func:`find_browser`; each browser run is killed after ``timeout``
    seconds. Raises FileNotFoundError (no page, no browser) or :class:`ScreenshotError`.
    """
    html_path = Path(html_path).resolve()
    out_png = Path(out_png)
    if not html_path.is_file():
        raise FileNotFoundError(f"no page at {html_path}")
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError(no_browser_message())
    out_png.parent.mkdir(parents=True, exist_ok=True)
    page = html_path.read_bytes()
    messages: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tmp-screenshot-", dir=out_png.parent) as work:
        run = _Runner(browser, Path(work), timeout, messages, html_path)
        content_width = viewport_width = None
        if height is None:
            height, content_width, viewport_width = _measure(run, page, html_path, width)
        page_height = height
        height = min(height, max_height)
        tiles = _capture(run, page, html_path, width, height, tile_height)
        image = Image.new("RGB", (width, height), "white")
        for offset, tile in tiles:
            image.paste(tile, (0, offset))
        image.save(out_png)
    return Screenshot(
        path=out_png,
        width=width,
        height=height,
        page_height=page_height,
        content_width=content_width,
        tiles=len(tiles),
        console_errors=tuple(dict.fromkeys(messages)),
        viewport_width=viewport_width,
    )


class _Runner:
    """Runs the browser on copies of one page: fixed flags, a private profile, a timeout, and
    the console messages of every run collected into ``messages`` (a copy's address replaced
    by the page's)."""

    def __init__(self, browser: str, work: Path, timeout: float, messages: list[str], page: Path):
        self.browser, self.work, self.timeout, self.messages = browser, work, timeout, messages
        self.page_uri = page.as_uri()
        self.runs = 0

    def __call__(self, page: Path, window: tuple[int, int], *mode: str) -> str:
        self.runs += 1
        name = Path(self.browser).name
        headless = "--headless" if "headless" in name else "--headless=new"
        command = [
            self.browser,
            headless,
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            f"--user-data-dir={self.work / f'profile-{self.runs}'}",
            "--enable-logging=stderr",
            "--v=0",
            f"--window-size={window[0]},{window[1]}",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET}",
            *mode,
            page.as_uri(),
        ]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # the browser's helper processes share its group
        )
        try:
            stdout, stderr = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            process.communicate()
            raise ScreenshotError(
                f"{name} did not finish within {self.timeout:g} s ({' '.join(mode)})"
            ) from None
        self.messages.extend(
            message.replace(page.as_uri(), self.page_uri) for message in console_errors(stderr)
        )
        if process.returncode != 0:
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            raise ScreenshotError(f"{name} exited with {process.returncode}:\n{tail}")
        return stdout


def _kill(process: subprocess.Popen) -> None:
    """Kill the browser we started and its helpers (its own process group); the group is
    still ours since the leader has not been reaped yet."""
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except ProcessLookupError:
        pass


def _with(page: bytes, html_path: Path, extra: str) -> bytes:
    """``page`` with ``extra`` (and a ``<base>`` at the page's folder) added in its head:
    after ``<meta charset>`` (which must stay in the first 1024 bytes), else after ``<head>``,
    else after the doctype (inserting before it would switch to quirks mode)."""
    base = f'<base href="{html.escape(html_path.parent.as_uri() + "/")}">'
    block = (base + extra).encode()
    for pattern in (rb"<meta[^>]*charset[^>]*>", rb"<head\b[^>]*>", rb"<!doctype[^>]*>"):
        found = re.search(pattern, page, re.IGNORECASE)
        if found:
            return page[: found.end()] + block + page[found.end() :]
    return block + page


def _measure(run: _Runner, page: bytes, html_path: Path, width: int) -> tuple[int, int, int]:
    probe = run.work / "probe.html"
    probe.write_bytes(_with(page, html_path, _PROBE))
    dom = run(probe, (width, PROBE_HEIGHT), "--dump-dom")
    found, wide = _MEASURED_HEIGHT.search(dom), _MEASURED_WIDTH.search(dom)
    viewport = _MEASURED_VIEWPORT.search(dom)
    if not found:
        raise ScreenshotError(
            "could not measure the page: the DOM the browser printed has no "
            f"{_HEIGHT_ATTR} (was JavaScript disabled, or did the page not finish loading?)"
        )
    return (
        int(found.group(1)),
        int(wide.group(1)) if wide else width,
        int(viewport.group(1)) if viewport else width,
    )


def _capture(
    run: _Runner, page: bytes, html_path: Path, width: int, height: int, tile_height: int
) -> list[tuple[int, Image.Image]]:
    """[(offset, tile)] covering rows 0..height of the page (see the module docstring)."""
    tiles: list[tuple[int, Image.Image]] = []
    offset, lost = 0, 0  # lost: rows a window has more than its viewport
    while offset < height:
        window = min(height - offset, tile_height) + lost
        source = html_path
        if offset:
            source = run.work / f"tile-{offset}.html"
            shift = f"<style>body{{transform:translateY(-{offset}px)!important}}</style>"
            source.write_bytes(_with(page, html_path, shift))
        png = run.work / f"tile-{offset}.png"
        run(source, (width, window), f"--screenshot={png}")
        if not png.is_file():
            raise ScreenshotError(f"the browser wrote no screenshot at offset {offset} px")
        with Image.open(png) as shot:
            tile = shot.convert("RGB")
        if tile.width != width:
            raise ScreenshotError(f"the screenshot is {tile.width} px wide, not {width}")
        if not offset:
            lost = max(0, window - tile.height)
        rows = min(tile.height, height - offset)
        if rows <= 0:
            raise ScreenshotError(f"the browser captured no rows at offset {offset} px")
        tiles.append((offset, tile.crop((0, 0, width, rows))))
        offset += rows
    return tiles


def no_browser_message(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    chosen = environ.get(ENV_VAR, "").strip()
    if chosen:
        head = f"{ENV_VAR}={chosen} is not an executable browser."
    else:
        head = (
            f"No Chromium-family browser found: {ENV_VAR} is not set and none of "
            f"{', '.join(CANDIDATES)} is on PATH."
        )
    return (
        f"{head}\nInstall Chromium or Google Chrome, or point {ENV_VAR} at one, e.g.\n"
        f"  {ENV_VAR}=/path/to/chrome make report-screenshot"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Write one PNG per width; print path and size of each (stdout), problems on stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--widths", type=int, nargs="+", default=list(DEFAULT_WIDTHS))
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per browser run")
    args = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        sys.stderr.write(no_browser_message() + "\n")
        return 2
    if not args.report.is_file():
        sys.stderr.write(f"No report at {args.report}. Write one first: make run\n")
        return 2
    status = 0
    for width in args.widths:
        out = args.out / f"{args.report.stem}-{width}.png"
        try:
            shot = screenshot(args.report, out, width, browser=browser, timeout=args.timeout)
        except ScreenshotError as error:
            sys.stderr.write(f"{out}: {error}\n")
            status = 1
            continue
        size = out.stat().st_size / 1e6
        tiles = f", {shot.tiles} tiles" if shot.tiles > 1 else ""
        sys.stdout.write(f"{out}  {shot.width} x {shot.height} px  ({size:.1f} MB{tiles})\n")
        if shot.truncated:
            sys.stdout.write(f"  cut at {shot.height} px: the page is {shot.page_height} px\n")
        laid_out = max(shot.width, shot.viewport_width or 0)
        if laid_out > shot.width:
            sys.stdout.write(
                f"  the browser's narrowest layout is {laid_out} px: the page was laid out at "
                f"{laid_out} px and the PNG shows its left {shot.width} px\n"
            )
        if shot.content_width and shot.content_width > laid_out:
            sys.stdout.write(f"  content is {shot.content_width} px wide: cut off at the right\n")
        for line in shot.console_errors:
            sys.stderr.write(f"  console: {line}\n")
        if shot.console_errors:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
