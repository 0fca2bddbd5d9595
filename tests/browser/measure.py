"""The dashboard measured in a real browser (Debian's Chromium through Playwright), against a
server that is already running and loaded: the benchmark's `dashboard` section runs it after
seeding (crates/convo-bench/src/dashboard.rs), or by hand:

    python tests/browser/measure.py URL KEY INBOX_ID [--minutes 10] [--rate 20]

Prints one JSON object:
- `first_load_bytes`: everything /app fetched to start, as transferred;
- `list_paint_ms`: from navigation start to the inbox list's first page on screen (the
  `convo:list-painted` mark the page sets once it has rendered the rows), each of `loads` loads;
- `heap`: the page's JavaScript heap (after a forced garbage collection) sampled every 30 s
  while `rate` inbound messages a second arrive for `minutes`, with the list following them live.
"""

import argparse
import json
import os
import shutil
import sys
import threading
import time
from datetime import datetime, timezone

from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


def main():
    args = argparse.ArgumentParser()
    args.add_argument("url")
    args.add_argument("key")
    args.add_argument("inbox_id")
    args.add_argument("--loads", type=int, default=10)
    args.add_argument("--minutes", type=float, default=10)
    args.add_argument("--rate", type=float, default=20)
    a = args.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(f"{a.url}/app/")
        page.evaluate("key => sessionStorage.setItem('convo.key', key)", a.key)
        paints, first_load = [], None
        for _ in range(a.loads):
            page.reload()
            # Polled from here: wait_for_function evaluates its predicate in the page, which
            # the page's Content-Security-Policy (no eval) refuses.
            deadline = time.monotonic() + 30
            while not page.evaluate("performance.getEntriesByName('convo:list-painted').length"):
                assert time.monotonic() < deadline, "the list was not painted within 30 s"
                time.sleep(0.01)
            paints.append(page.evaluate("performance.getEntriesByName('convo:list-painted')[0].startTime"))
            rows = page.locator("section.list tbody tr").count()
            if first_load is None:
                first_load = page.evaluate(
                    """() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
                             .filter(e => new URL(e.name).pathname.startsWith('/app'))
                             .reduce((sum, e) => sum + e.transferSize, 0)"""
                )
        heap = follow_traffic(page, context, a)
        browser.close()
    paints.sort()
    json.dump(
        {
            "first_load_bytes": first_load,
            "rows": rows,
            "list_paint_ms": paints,
            "heap": heap,
        },
        sys.stdout,
    )


def follow_traffic(page, context, a):
    """Inbound messages at `rate` a second for `minutes`, the page open on the list; its heap
    after a forced collection every 30 s."""
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    stop = threading.Event()
    sent = [0]

    def traffic():
        # Playwright's sync objects belong to the thread that made them: this thread posts with
        # a plain HTTP client of the standard library.
        import urllib.request

        interval = 1 / a.rate
        next_at = time.monotonic()
        while not stop.is_set():
            body = json.dumps(
                {
                    "inbox_id": a.inbox_id,
                    "contact_id": f"+4915900{sent[0] % 500:05}",
                    "sent_at": datetime.now(timezone.utc).isoformat(),
                    "content": {"type": "text", "body": f"steady traffic {sent[0]}"},
                }
            ).encode()
            request = urllib.request.Request(
                f"{a.url}/v1/inbound-messages",
                data=body,
                headers={"authorization": f"Bearer {a.key}", "content-type": "application/json"},
            )
            try:
                urllib.request.urlopen(request, timeout=10).read()
                sent[0] += 1
            except Exception as e:  # noqa: BLE001 - a refused message is reported, not fatal
                print(f"traffic: {e}", file=sys.stderr)
            next_at += interval
            time.sleep(max(0, next_at - time.monotonic()))

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    samples = []
    started = time.monotonic()
    try:
        while True:
            elapsed = time.monotonic() - started
            cdp.send("HeapProfiler.collectGarbage")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            samples.append(
                {
                    "seconds": round(elapsed),
                    "js_heap_bytes": int(metrics["JSHeapUsedSize"]),
                    "nodes": int(metrics["Nodes"]),
                    "sent": sent[0],
                    "events_shown": page.locator(".activity li").count(),
                }
            )
            if elapsed >= a.minutes * 60:
                break
            page.wait_for_timeout(min(30_000, max(0, a.minutes * 60 - elapsed) * 1000 + 1))
    finally:
        stop.set()
        thread.join()
    return samples


if __name__ == "__main__":
    main()
