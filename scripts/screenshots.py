"""Screenshots of the console for docs/console.md, from a running demo-like setup.

Builds the browser tests' world (both sandboxes seeded with linked payment requests, a first pass with a
Kingdee outage, the console over HTTP with an Engine), opens it in headless Chromium and saves small PNGs
to docs/img/console-*.png. Run from the checkout:

    PYTHONPATH=src .venv/bin/python scripts/screenshots.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument(
        "--lang", choices=("en", "zh"), default="en", help="zh needs a CJK font (fonts-noto-cjk)"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        world = build(Path(tmp), instances=24)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
                page = browser.new_context(viewport={"width": 1200, "height": 760}).new_page()
                page.goto(world.url + "/login")
                page.fill('input[name="name"]', "wang.kj")
                page.fill('input[name="password"]', OPERATOR)
                page.click('section.login button[type="submit"]')
                # English: Debian's chromium here has no CJK font, so Chinese would show as boxes
                if args.lang == "en":
                    page.goto(world.url + "/lang/en")
                page.wait_for_selector("[data-chart-ready]")
                page.wait_for_timeout(600)  # the chart's entry animation
                shots: list[tuple[str, str]] = [("overview", "")]
                page.screenshot(path=str(args.out / "console-overview.png"))
                mismatch = world.plan.by_kind("mismatch")[0]
                record = world.ledger.search(str(mismatch.bill_number))[0]
                for name, path in (
                    ("records-unresolved", "/records?status=unresolved"),
                    ("trace", f"/records/{record.id}"),
                    ("dead-letters", "/dead-letters"),
                    ("runs", "/runs"),
                ):
                    page.goto(world.url + path)
                    page.screenshot(path=str(args.out / f"console-{name}.png"))
                    shots.append((name, path))
                page.goto(world.url + "/records?status=failed")
                page.select_option('select[name="scope"]', "all")
                page.click('button[data-action="retry"]')
                page.screenshot(path=str(args.out / "console-confirm.png"))
                run = world.ledger.list_runs(world.scheme.id, limit=5)
                dispatch = next(r for r in run if r.kind == "dispatch")
                page.goto(world.url + f"/runs/{dispatch.id}")
                page.screenshot(path=str(args.out / "console-run.png"))
                browser.close()
        finally:
            world.close()
    for png in sorted(args.out.glob("console-*.png")):
        size = png.stat().st_size
        print(f"{png.relative_to(ROOT)}  {size / 1000:.0f} KB{'  TOO BIG' if size > MAX_BYTES else ''}")


if __name__ == "__main__":
    main()
