"""Screenshot of the demo for the README: serve it, search in headless Chromium, save a PNG.

    python -m demo.screenshot --catalog DIR [--preset disentangled-msd] [--track TEXT]
        [--slider genre] [--out docs/demo.png]

Needs the playwright package and Debian's chromium (`make browser`).
"""

import argparse
import socket
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def capture(url, out, track, slider=None, width=1400):
    """Search `url`'s app for the catalog track whose label contains `track`, weigh `slider`
    (a sub-space) alone, and save a full-page PNG at `out`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_role("tab", name="Catalog tracks").click()
            picker = page.locator("#query-tracks input")
            picker.click()
            picker.fill(track)
            page.keyboard.press("Enter")
            picker.blur()
            page.locator("#search-tracks").click()
            page.wait_for_selector(".result-card")
            if slider:
                for name, key in ((slider, "ArrowRight"), ("full", "ArrowLeft")):
                    page.locator(f"#slider-{name} input[type=range]").focus()
                    for _ in range(20):
                        page.keyboard.press(key)
                panel = page.locator("#map-by input")  # the map laid out by that sub-space
                panel.click()
                panel.fill(slider)
                page.keyboard.press("Enter")
                panel.blur()
                page.wait_for_timeout(3000)  # the re-rank and map (trigger_mode always_last) settle
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()
    return Path(out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m demo.screenshot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--preset", default="disentangled-msd")
    parser.add_argument("--track", help="text of the catalog track to search with (default: the first)")
    parser.add_argument("--slider", help="a sub-space slider to raise (default: the first sub-space)")
    parser.add_argument("--out", default="docs/demo.png")
    args = parser.parse_args(argv)
    import sdk
    from demo.app import build_app, launch

    catalog = sdk.Catalog.load(args.catalog)
    app = build_app(sdk.load(args.preset), catalog, args.catalog)
    url = launch(app, port=free_port(), block=False)
    try:
        track = args.track or app.engine.track_choices()[0][0]
        slider = args.slider or (app.engine.subspaces[0] if app.engine.subspaces else None)
        print(capture(url, args.out, track, slider))
    finally:
        app.close()


if __name__ == "__main__":
    main()
