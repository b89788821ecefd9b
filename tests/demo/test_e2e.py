"""The demo in a real browser: headless Debian Chromium driven by Playwright (marker e2e).

Runs on one backend (jax, or KERAS_BACKEND unset); `make test` installs Chromium and Playwright
(`make browser`), so in CI ($CI set) a missing one fails instead of skipping.
"""

import os
import socket
import time
from pathlib import Path

import pytest

from demo.app import build_app, launch
from demo.engine import FULL

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CARD_IDS = "() => Array.from(document.querySelectorAll('.result-card')).map(e => e.dataset.id)"
CARD_SCORES = "() => Array.from(document.querySelectorAll('.result-card')).map(e => e.dataset.id + ' ' + e.dataset.score)"

pytestmark = pytest.mark.e2e


def browser_or_skip():
    """Playwright's sync API; skip (fail in CI) when the browser or package is missing."""
    if os.environ.get("KERAS_BACKEND", "jax") != "jax":
        pytest.skip("the e2e test runs on the jax backend only (the UI is the same on every backend)")
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason, sync_playwright = "playwright is not installed (make browser)", None
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (make browser installs Debian chromium)"
    if reason:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)
    return sync_playwright


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(demo_catalog):
    model, catalog, directory = demo_catalog
    app = build_app(model, catalog, directory, map_method="pca", k=5)
    url = launch(app, port=free_port(), block=False)
    yield app, url
    app.close()


def test_search_rerank_feedback_and_a_bad_file_in_chromium(served, tmp_path):
    sync_playwright = browser_or_skip()
    app, url = served
    started = time.time()
    bad = tmp_path / "broken.wav"
    bad.write_text("this is not audio")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(20_000)
            page.goto(url)
            # A catalog track, searched.
            page.get_by_role("tab", name="Catalog tracks").click()
            picker = page.locator("#query-tracks input")
            picker.click()
            picker.fill("Tone 200")
            page.keyboard.press("Enter")
            page.locator("#query-tracks").get_by_text("Tone 200 Hz (Low Tones)").first.wait_for()
            picker.blur()  # closes the option list
            page.locator("#search-tracks").click()
            page.wait_for_function(f"() => ({CARD_IDS})().length === 5")
            first = page.evaluate(CARD_IDS)
            assert "tone0.wav" not in first and "Tone 200 Hz" in page.locator("#status").inner_text()
            assert page.locator(".result-card audio").count() == 5
            src = page.locator(".result-card audio").first.get_attribute("src")
            assert page.request.get(url.rstrip("/") + src).ok  # the catalog's audio is served, nothing else
            beside = src.rsplit("/", 1)[0] + "/manifest.jsonl"
            assert page.request.get(url.rstrip("/") + beside).status == 403
            # Sliders: the low sub-space alone; the ranking is the engine's for those weights.
            for name, key in (("low", "ArrowRight"), (FULL, "ArrowLeft")):
                page.locator(f"#slider-{name} input[type=range]").focus()
                for _ in range(20):
                    page.keyboard.press(key)
            query = app.engine.make_query("tone0.wav")
            hits = app.engine.rank(query, {"low": 1.0, "high": 0.0, FULL: 0.0})
            final = [f"{h['id']} {h['score']:.5f}" for h in hits]  # scores: these weights, not a step on the way
            page.wait_for_function(f"want => ({CARD_SCORES})().join() === want.join()", arg=final)
            expected = [h["id"] for h in hits]
            # Feedback: "less like this" on the top result re-ranks without it.
            page.locator(".result").first.locator(".thumb-down").click()
            page.wait_for_function(f"ids => ({CARD_IDS})().length && ({CARD_IDS})().join() !== ids.join()",
                                   arg=expected)
            after = page.evaluate(CARD_IDS)
            assert expected[0] not in after and "1 disliked" in page.locator("#status").inner_text()
            # A bad file: a clear message, no traceback.
            page.get_by_role("tab", name="Audio clip").click()
            page.locator("#query-audio input[type=file]").set_input_files(str(bad))
            page.locator("#search-clip").click()
            page.wait_for_function("() => document.querySelector('#status').innerText.includes('Could not search')")
            message = page.locator("#status").inner_text()
            assert "broken.wav" in message and "could not read it as audio" in message and "Traceback" not in message
            shot = tmp_path / "demo.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    assert time.time() - started < 60
