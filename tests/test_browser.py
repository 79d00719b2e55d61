"""The dashboard in a real browser: `streamlit run app.py` on a free loopback port, Debian's
Chromium driven by Playwright (no browser download), every page opened, one input changed per
page, a screenshot of each under tests/artifacts/, and no exception text or console error.

Needs `/usr/bin/chromium` (`apt-get install chromium`) and `pip install playwright`; `.ci/run`
installs both and sets PLANNER_REQUIRE_BROWSER=1, so in CI a missing browser fails the test
instead of skipping it.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
REQUIRED = os.environ.get("PLANNER_REQUIRE_BROWSER") == "1"


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def server():
    why = _missing()
    if why:
        if REQUIRED:
            pytest.fail(why)
        pytest.skip(why)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + (proc.stdout.read() if proc.stdout else ""))
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


BUSY = '[data-testid="stStatusWidget"], [data-testid="stSpinner"]'


def _settle(page, timeout_s: float = 90.0) -> None:
    """Wait until Streamlit has finished running the script (no 'Running…' status widget, and no
    cached function's spinner drawn over the page)."""
    page.wait_for_timeout(500)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if page.locator(BUSY).count() == 0:
            page.wait_for_timeout(300)
            if page.locator(BUSY).count() == 0:
                return
        page.wait_for_timeout(250)
    raise AssertionError("the page kept running")


def _choose(page, label: str, option: str) -> None:
    box = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True)).first
    box.click()
    page.keyboard.type(option)  # long lists are virtualised: filter, then pick
    page.get_by_role("option", name=option, exact=True).first.click()


def _number(page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True).first
    field.fill(value)
    field.press("Enter")


PAGES = [  # (name in the navigation, page title, one input to change, text that must then show)
    ("Plan", "Plan a deployment", lambda page: _choose(page, "TP", "2"), "GPUs per replica"),
    ("Compare", "Compare deployments", lambda page: _number(page, "Concurrent users", "64"), "At 64 concurrent users"),
    ("Workload & fleet", "Workload & fleet", lambda page: _number(page, "TTFT target (ms)", "1500"), "Recommended"),
    ("Calibration", "Calibration", lambda page: _choose(page, "Look at one profile", "H100-SXM--trtllm--fp8--v0.13"), "predicted against measured"),
]


@pytest.mark.parametrize(("nav", "title", "change", "expect"), PAGES, ids=[p[0] for p in PAGES])
def test_each_page_in_chromium(server, browser, nav, title, change, expect):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 2600})  # tall: Streamlit scrolls inside its own container
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.goto(server)  # as a user arrives, then the page's link in the navigation
    page.get_by_role("heading", name="Plan a deployment").first.wait_for(timeout=90_000)
    _settle(page)
    if nav != "Plan":
        page.get_by_role("link", name=nav, exact=True).click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=90_000)
    _settle(page)
    change(page)
    _settle(page)
    page.get_by_text(expect).first.wait_for(timeout=90_000)
    page.screenshot(path=str(ARTIFACTS / f"{nav.split()[0].lower()}.png"), full_page=True)
    text = page.inner_text("body")
    assert page.locator('[data-testid="stException"]').count() == 0, text[:2000]
    assert "Traceback" not in text and "nan" not in text.split(), text[:2000]
    assert not problems, problems
    page.close()
