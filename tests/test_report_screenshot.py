"""`make report-screenshot`: finding a browser, the no-browser message, the tiling and console
capture (against a stand-in browser, everywhere) and a real report in headless Chromium (only
where a Chromium-family browser is found; it needs a pipeline run, so it is slow)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from customer_retention import report_screenshot
from customer_retention.report_screenshot import (
    ENV_VAR,
    console_errors,
    find_browser,
    main,
    screenshot,
)

from .conftest import fresh_project

# A stand-in for Chromium's command line: --dump-dom prints the DOM with the measured size the
# injected probe would write; --screenshot paints the window, row y of the page in the colour
# (y % 256, y // 256, 77), shifted by the translateY of a tile copy. FAKE_* variables set the
# page height, the rows a viewport loses to browser UI and a console message (logged with the
# address of the copy it loaded, as Chromium would).
FAKE_BROWSER = f"""\
#!{sys.executable}
import os, re, sys, urllib.parse, urllib.request
from PIL import Image

args = sys.argv[1:]
options = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
page = open(urllib.request.url2pathname(urllib.parse.urlparse(args[-1]).path), "rb").read()
height = int(os.environ.get("FAKE_PAGE_HEIGHT", "5000"))
sys.stderr.write("[1:1:0101/000000.1:ERROR:bus.cc(407)] Failed to connect to the bus\\n")
if os.environ.get("FAKE_CONSOLE"):
    message = os.environ["FAKE_CONSOLE"]
    sys.stderr.write(
        f'[{{os.getpid()}}:1:0101/000000.1:INFO:CONSOLE(3)] "{{message}}", source: {{args[-1]}} (3)\\n'
    )
width, window = map(int, options["window-size"].split(","))
if "--dump-dom" in args:
    assert b"data-cr-page-height" in page and b"<base href=" in page
    sys.stdout.write(
        f'<html lang="en" data-cr-page-height="{{height}}" data-cr-page-width="{{width + 5}}">'
    )
    sys.exit(0)
shift = re.search(rb"translateY\\(-(\\d+)px\\)", page)
offset = int(shift.group(1)) if shift else 0
rows = window - int(os.environ.get("FAKE_VIEWPORT_LOSS", "0"))
column = bytearray()
for y in range(offset, offset + rows):
    column += bytes((y % 256, y // 256 % 256, 77)) if y < height else b"\\xff\\xff\\xff"
strip = Image.frombytes("RGB", (1, rows), bytes(column))
strip.resize((width, rows), Image.NEAREST).save(options["screenshot"])
"""


def _executable(folder: Path, name: str, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def no_browser(tmp_path, monkeypatch) -> Path:
    """An empty PATH and no CUSTOMER_RETENTION_CHROMIUM."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv(ENV_VAR, raising=False)
    return empty


@pytest.fixture
def fake_browser(tmp_path, monkeypatch) -> Path:
    path = _executable(tmp_path / "fake-bin", "fake-chrome", FAKE_BROWSER)
    monkeypatch.setenv(ENV_VAR, str(path))
    for name in ("FAKE_PAGE_HEIGHT", "FAKE_VIEWPORT_LOSS", "FAKE_CONSOLE"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def page(tmp_path) -> Path:
    path = tmp_path / "site" / "page.html"
    path.parent.mkdir()
    path.write_text(
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>t</title></head>'
        "<body><p>hello</p></body></html>\n",
        encoding="utf-8",
    )
    return path


# ----------------------------------------------------------------------------- everywhere
def test_the_lookup_honours_the_env_var_then_path_and_is_none_without_a_browser(
    tmp_path, no_browser, monkeypatch
):
    assert find_browser() is None
    on_path = _executable(tmp_path / "bin", "google-chrome")
    _executable(tmp_path / "bin", "headless_shell")
    monkeypatch.setenv("PATH", f"{no_browser}{os.pathsep}{tmp_path / 'bin'}")
    assert find_browser() == str(on_path)  # the first candidate found, in CANDIDATES order
    chromium = _executable(tmp_path / "bin", "chromium")
    assert find_browser() == str(chromium)

    elsewhere = _executable(tmp_path / "opt", "my-chrome")
    monkeypatch.setenv(ENV_VAR, str(elsewhere))
    assert find_browser() == str(elsewhere)  # the env var wins over PATH
    monkeypatch.setenv(ENV_VAR, "my-chrome")  # a command name is looked up on PATH
    assert find_browser() is None
    monkeypatch.setenv("PATH", str(tmp_path / "opt"))
    assert find_browser() == str(elsewhere)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))  # points at nothing: no fallback
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert find_browser() is None
    assert find_browser({"PATH": str(tmp_path / "bin")}) == str(chromium)


def test_the_cli_exits_2_and_says_how_to_point_at_a_browser(tmp_path, no_browser, capsys):
    out = tmp_path / "shots"
    assert main(["--report", str(tmp_path / "report.html"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No Chromium-family browser found" in err
    assert f"{ENV_VAR}=/path/to/chrome make report-screenshot" in err
    assert not out.exists()


def test_the_cli_names_a_wrong_env_var(tmp_path, no_browser, monkeypatch, capsys):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope"))
    assert main(["--report", str(tmp_path / "report.html")]) == 2
    assert f"{ENV_VAR}={tmp_path / 'nope'} is not an executable browser" in capsys.readouterr().err


def test_console_lines_are_found_in_both_log_formats_and_noise_is_not():
    log = "\n".join(
        [
            "[1:1:0101/000000.1:ERROR:bus.cc(407)] Failed to connect to the bus",
            '[1:1:0101/000000.2:INFO:CONSOLE(12)] "boom", source: file:///r.html (12)',
            '[1:1:0101/000000.3:INFO:CONSOLE:7] "Uncaught TypeError: x", source: file:///r (7)',
            '[1:1:0101/000000.4:INFO:CONSOLE(1)] "ext", source: chrome-extension://abc/b.js (1)',
            "Uncaught SyntaxError: Unexpected token",
            "[1:1:0101/000000.5:WARNING:sandbox.cc(1)] Missing expected syscall",
        ]
    )
    assert console_errors(log) == [
        '"boom", source: file:///r.html (12)',
        '"Uncaught TypeError: x", source: file:///r (7)',
        "Uncaught SyntaxError: Unexpected token",
    ]


def _assert_page_rows(png: Path, height: int) -> None:
    """Every row of the PNG is the stand-in page's row at that height (exact stacking)."""
    pixels = np.asarray(Image.open(png).convert("RGB"))
    assert pixels.shape[0] == height
    rows = np.arange(height)
    expected = np.stack([rows % 256, rows // 256 % 256, np.full(height, 77)], axis=1)
    np.testing.assert_array_equal(pixels[:, 0, :], expected)
    np.testing.assert_array_equal(pixels[:, -1, :], expected)


@pytest.mark.parametrize(("page_height", "loss", "tiles"), [(2500, 0, 1), (20000, 87, 3)])
def test_tiles_are_stacked_into_one_exact_full_page_image(
    tmp_path, page, fake_browser, monkeypatch, page_height, loss, tiles
):
    monkeypatch.setenv("FAKE_PAGE_HEIGHT", str(page_height))
    monkeypatch.setenv("FAKE_VIEWPORT_LOSS", str(loss))
    shot = screenshot(page, tmp_path / "out" / "page.png", width=300)
    assert (shot.width, shot.height, shot.page_height) == (300, page_height, page_height)
    assert shot.tiles == tiles
    assert shot.content_width == 305 and not shot.truncated and shot.console_errors == ()
    _assert_page_rows(shot.path, page_height)
    assert [p.name for p in shot.path.parent.iterdir()] == ["page.png"]  # no work files left
    assert page.read_text(encoding="utf-8").count("<base") == 0  # the page is never changed

    # A message logged by every run (measure + tiles, most on copies) is reported once, with
    # the page's own address.
    monkeypatch.setenv("FAKE_CONSOLE", "Uncaught TypeError: y")
    again = screenshot(page, tmp_path / "out" / "page.png", width=300)
    assert again.console_errors == (f'"Uncaught TypeError: y", source: {page.as_uri()} (3)',)


def test_a_given_height_is_captured_as_is_and_long_pages_are_cut(
    tmp_path, page, fake_browser, monkeypatch
):
    monkeypatch.setenv("FAKE_PAGE_HEIGHT", "9000")
    shot = screenshot(page, tmp_path / "given.png", width=200, height=1234)
    assert (shot.height, shot.content_width, shot.tiles) == (1234, None, 1)
    _assert_page_rows(shot.path, 1234)
    cut = screenshot(page, tmp_path / "cut.png", width=200, tile_height=4000, max_height=5000)
    assert (cut.height, cut.page_height, cut.truncated, cut.tiles) == (5000, 9000, True, 2)
    _assert_page_rows(cut.path, 5000)


def test_the_cli_writes_one_png_per_width_and_flags_console_errors(
    tmp_path, page, fake_browser, monkeypatch, capsys
):
    monkeypatch.setenv("FAKE_PAGE_HEIGHT", "1500")
    out = tmp_path / "shots"
    assert main(["--report", str(page), "--out", str(out), "--widths", "640", "320"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{out / 'page-640.png'}  640 x 1500 px")
    assert lines[1] == "  content is 645 px wide: cut off at the right"
    assert lines[2].startswith(f"{out / 'page-320.png'}  320 x 1500 px")
    assert Image.open(out / "page-320.png").size == (320, 1500)

    monkeypatch.setenv("FAKE_CONSOLE", "Uncaught ReferenceError: x is not defined")
    assert main(["--report", str(page), "--out", str(out), "--widths", "640"]) == 1
    message = f'"Uncaught ReferenceError: x is not defined", source: {page.as_uri()} (3)'
    assert capsys.readouterr().err == f"  console: {message}\n"  # once, though logged twice

    assert main(["--report", str(tmp_path / "none.html"), "--out", str(out)]) == 2
    assert "No report at" in capsys.readouterr().err


def test_a_failing_or_hanging_browser_is_reported(tmp_path, page, monkeypatch):
    failing = _executable(tmp_path / "bin", "bad-chrome", "#!/bin/sh\necho oops >&2\nexit 3\n")
    with pytest.raises(report_screenshot.ScreenshotError, match=r"exited with 3:\noops"):
        screenshot(page, tmp_path / "x.png", browser=str(failing))
    hanging = _executable(tmp_path / "bin", "slow-chrome", "#!/bin/sh\nsleep 30\n")
    with pytest.raises(report_screenshot.ScreenshotError, match="did not finish within 0.5 s"):
        screenshot(page, tmp_path / "x.png", browser=str(hanging), timeout=0.5)


# ----------------------------------------------------------------------------- real browser
@pytest.fixture(scope="module")
def browser() -> str:
    found = find_browser()
    if found is None:
        pytest.skip(f"no Chromium-family browser ({ENV_VAR} or chromium etc. on PATH)")
    return found


@pytest.fixture(scope="module")
def report(browser, tmp_path_factory) -> Path:
    """The report of a fresh project (600 demo customers), as test_report_run.py makes it;
    after ``browser`` so nothing runs where the test skips."""
    from .pipelines.reporting.test_report_run import run

    project = fresh_project(tmp_path_factory.mktemp("screenshot"))
    run(project)
    return project / "data" / "08_reporting" / "report.html"


@pytest.mark.slow
def test_the_report_lays_out_in_headless_chromium(browser, report, tmp_path):
    shot = screenshot(report, tmp_path / "report-1400.png", width=1400, browser=browser)
    assert shot.path.is_file()
    with Image.open(shot.path) as image:
        assert image.size == (1400, shot.height)
        assert shot.height > 3000, "the page did not lay out to its full height"
        colours = image.convert("RGB").reduce(4).getcolors(maxcolors=1 << 24)
    assert len(colours) > 50, f"blank screenshot: {len(colours)} colours"
    assert shot.console_errors == ()
    assert not shot.truncated
