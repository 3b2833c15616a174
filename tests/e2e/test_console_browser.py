"""The support console in a real headless browser (Playwright driving the system's Chromium).

The API service (with its console) runs in a thread over the embedded store, seeded with two
partners' tracks. Set TRACKSCAN_CONSOLE_SCREENSHOT=docs/console.png to write docs/results.md's
screenshot of a stuck track's page. Skips, saying why, where Playwright or Chromium is missing
(`make test` installs both: Playwright from requirements-dev.txt, Chromium with apt-get).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.console_fixtures import ALICE_KEY, CAROL_KEY, Catalogue, console_app, console_deps, seed
from trackscan.domain.tracks import TrackState

pytestmark = pytest.mark.e2e
CHROMIUM = os.environ.get("TRACKSCAN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)"
    )
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH: `apt-get install chromium` (make test does it where apt-get runs as root)")
    with playwright_api.sync_playwright() as playwright:
        # The system's Chromium: Playwright's own browser download needs a host this machine cannot reach.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, object, Catalogue]]:
    deps = console_deps(tmp_path / "home")
    catalogue = seed(deps, tmp_path / "ingest")
    server = make_server("127.0.0.1", 0, console_app(deps, tmp_path / "ingest"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", deps, catalogue
    server.shutdown()
    thread.join(timeout=10)


def _sign_in(browser, base: str, key: str):  # returns a Playwright page
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(f"{base}/console/")
    assert page.url.startswith(f"{base}/console/login")  # sent to the login first
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    return page


def test_console_lists_tracks_by_state_with_counts_when_staff_signs_in(browser, served):
    base, _, catalogue = served
    page = _sign_in(browser, base, ALICE_KEY)
    assert page.url == f"{base}/console/"
    assert page.inner_text("[data-state=FAILED] .count") == "2"
    page.click("[data-state=FAILED]")
    rows = page.locator("tbody tr").all_inner_texts()
    assert len(rows) == 2 and any("broken.mp3" in r for r in rows) and any("beta-secret-demo.wav" in r for r in rows)


def test_console_search_leads_to_the_track_page_with_why_and_its_timeline_chart(browser, served):
    base, _, catalogue = served
    page = _sign_in(browser, base, ALICE_KEY)
    page.fill("input[name=q]", "nocturne.flac")
    page.press("input[name=q]", "Enter")
    page.click(f"text={catalogue.stuck.track_id}")
    assert page.inner_text("h1").startswith("nocturne.flac")
    assert re.search(r"infer attempt 6 failed \d+ s ago: RetryableError: Triton unreachable", page.inner_text("#why"))
    assert page.locator("svg.timeline g.span").count() == 3 and page.locator("svg.timeline g.failure").count() == 1
    assert "INFERRING" in page.inner_text("#steps")
    screenshot = os.environ.get("TRACKSCAN_CONSOLE_SCREENSHOT")
    if screenshot:
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=screenshot, full_page=True)


def test_console_retry_button_sends_a_failed_track_through_the_pipeline_again(browser, served):
    base, deps, catalogue = served
    page = _sign_in(browser, base, ALICE_KEY)
    page.goto(f"{base}/console/tracks/{catalogue.failed.track_id}")
    assert "CORRUPT" in page.inner_text("#error")
    page.click("#retry")
    assert "was sent through the pipeline again" in page.inner_text(".flash")
    assert deps.tracks.get(catalogue.failed.track_id).state is TrackState.RECEIVED
    assert [m.source_uri for m in deps.publisher.drain()] == [catalogue.failed.source_uri]


def test_console_never_shows_another_partners_tracks_to_partner_scoped_staff(browser, served):
    base, _, catalogue = served
    page = _sign_in(browser, base, CAROL_KEY)
    page.goto(f"{base}/console/?partner=beta")
    listed = page.inner_text("main")
    assert "storm.ogg" in listed and "beta-secret-demo.wav" not in listed and "beta-storm-copy" not in listed
    page.fill("input[name=q]", "beta-secret-demo.wav")
    page.press("input[name=q]", "Enter")
    assert "No tracks." in page.inner_text("tbody")
    response = page.goto(f"{base}/console/tracks/{catalogue.beta_failed.track_id}")
    assert response.status == 404 and "TRUNCATED" not in page.content()
    page.goto(f"{base}/console/tracks/{catalogue.done.track_id}")
    assert "thunder.ogg" in page.inner_text("#similar") and "beta-storm-copy" not in page.content()
