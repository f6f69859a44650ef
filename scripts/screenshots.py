"""Screenshots of the console for docs/console.md, from a running demo-like setup.

Builds the browser tests' world (both sandboxes seeded with linked payment requests, a first pass with a
Kingdee outage, the console served by ferry serve's service with an Engine), opens it in headless
Chromium and saves small PNGs to docs/img/console-*.png: in Chinese, as users see the console by
default, plus the overview in English (console-overview-en.png). Run from the checkout:

    PYTHONPATH=src .venv/bin/python scripts/screenshots.py [--chromium /usr/bin/chromium]

Chinese needs a CJK font for Chromium: on Debian, ``apt-get install fonts-noto-cjk``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "console"))

from world import OPERATOR, build  # noqa: E402

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
#: the docs' limit per image
MAX_BYTES = 150_000


def _has_cjk_font() -> bool:
    import subprocess

    try:
        found = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(found.strip())


def _shot(page: Any, path: Path) -> None:
    """The viewport, cut shorter from the bottom until the PNG is under the docs' limit (Chinese text
    compresses less well than Latin)."""
    from playwright.sync_api import Error

    size = page.viewport_size
    height = size["height"]
    try:
        page.screenshot(path=str(path))
    except Error:  # Chromium now and then fails a capture on a busy machine; a second one works
        page.wait_for_timeout(500)
        page.screenshot(path=str(path))
    while path.stat().st_size > MAX_BYTES and height > 300:
        height = int(height * 0.85)
        page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": size["width"], "height": height})


def _overview(page: Any, path: Path) -> None:
    page.wait_for_selector("[data-chart-ready]")
    page.wait_for_timeout(600)  # the chart's entry animation
    _shot(page, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument(
        "--lang", choices=("en", "zh"), default="zh", help="zh needs a CJK font (Debian: fonts-noto-cjk)"
    )
    args = parser.parse_args()
    if args.lang == "zh" and not _has_cjk_font():
        sys.exit(
            "no CJK font: Chinese would show as boxes; apt-get install fonts-noto-cjk (or pass --lang en)"
        )
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        world = build(Path(tmp), instances=24)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
                page = browser.new_context(viewport={"width": 1200, "height": 760}).new_page()
                page.goto(world.url + "/login")
                page.fill('input[name="name"]', "王会计" if args.lang == "zh" else "wang.kj")
                page.fill('input[name="password"]', OPERATOR)
                page.click('section.login button[type="submit"]')
                if args.lang == "en":
                    page.goto(world.url + "/lang/en")
                _overview(page, args.out / "console-overview.png")
                mismatch = world.plan.by_kind("mismatch")[0]
                record = world.ledger.search(str(mismatch.bill_number))[0]
                for name, path in (
                    ("records-unresolved", "/records?status=unresolved"),
                    ("trace", f"/records/{record.id}"),
                    ("dead-letters", "/dead-letters"),
                    ("runs", "/runs"),
                ):
                    page.goto(world.url + path)
                    _shot(page, args.out / f"console-{name}.png")
                page.goto(world.url + "/records?status=failed")
                page.select_option('select[name="scope"]', "all")
                page.click('button[data-action="retry"]')
                _shot(page, args.out / "console-confirm.png")
                run = world.ledger.list_runs(world.scheme.id, limit=5)
                dispatch = next(r for r in run if r.kind == "dispatch")
                page.goto(world.url + f"/runs/{dispatch.id}")
                _shot(page, args.out / "console-run.png")
                if args.lang == "zh":  # and one in English, for readers without Chinese
                    page.goto(world.url + "/lang/en")
                    page.goto(world.url + "/")
                    _overview(page, args.out / "console-overview-en.png")
                browser.close()
        finally:
            world.close()
    for png in sorted(args.out.glob("console-*.png")):
        size = png.stat().st_size
        print(f"{png.relative_to(ROOT)}  {size / 1000:.0f} KB{'  TOO BIG' if size > MAX_BYTES else ''}")


if __name__ == "__main__":
    main()
