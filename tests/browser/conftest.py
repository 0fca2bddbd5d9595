"""The dashboard's browser tests: each runs a real `convo serve` (the embedded default, in a
directory of its own) and drives the page at /app in Debian's Chromium through Playwright.

Run them with `bash deploy/browser.sh` (it installs what they need and builds the binary).
CONVO_BIN names the binary, CHROMIUM the browser, CONVO_SCREENSHOTS where screenshots go."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

BIN = os.environ.get("CONVO_BIN", str(Path.home() / ".cache/convo-target/debug/convo"))
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
SHOTS = Path(os.environ.get("CONVO_SCREENSHOTS", tempfile.gettempdir() + "/convo-screenshots"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `convo serve` of the test's own; `restart()` stops it and starts it again on the same
    port and data directory."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.key = None
        self.process = None
        self.start()

    def start(self):
        out = open(self.root / "out.txt", "a")
        log = open(self.root / "log.txt", "a")
        # Webhooks to the tests' own receivers on loopback, over http.
        env = {**os.environ, "CONVO_LOG": "warn", "CONVO_WEBHOOK_ALLOW_INSECURE": "true"}
        self.process = subprocess.Popen(
            [BIN, "serve", "--data-dir", str(self.root / "data"), "--listen", f"127.0.0.1:{self.port}"],
            stdout=out,
            stderr=log,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.key is None:
                found = re.search(r"cvk_[0-9a-f_]+", (self.root / "out.txt").read_text())
                self.key = found.group(0) if found else None
            if self.key and self.ready():
                return
            assert self.process.poll() is None, (self.root / "log.txt").read_text()
            time.sleep(0.05)
        raise AssertionError("convo serve did not start")

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)

    def restart(self):
        self.stop()
        self.start()


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    yield s
    if s.process.poll() is None:
        s.stop()


@pytest.fixture(scope="session")
def playwright():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield b
    b.close()


@pytest.fixture
def api(playwright, server):
    """The API as a backend service sees it, with the server's admin key."""
    context = playwright.request.new_context(
        base_url=server.base, extra_http_headers={"authorization": f"Bearer {server.key}"}
    )
    yield Api(context)
    context.dispose()


class Api:
    def __init__(self, context):
        self.context = context

    def call(self, method, path, body=None, **params):
        answer = self.context.fetch(path, method=method, data=body, params=params or None)
        assert answer.ok, f"{method} {path}: {answer.status} {answer.text()}"
        return answer.json() if answer.text() else None

    def post(self, path, body=None, **params):
        return self.call("POST", path, body if body is not None else {}, **params)

    def get(self, path, **params):
        return self.call("GET", path, **params)

    def put(self, path, body=None):
        return self.call("PUT", path, body if body is not None else {})


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The page logs what a background read failed with: a defect, unlike the browser's own line
    # for each 4xx answer (a refusal the page shows is expected in some tests).
    page.on(
        "console",
        lambda m: m.type == "error" and not m.text.startswith("Failed to load resource") and errors.append(m.text),
    )
    yield page
    context.close()
    assert not errors, errors


def sign_in(page: Page, server: Server):
    page.goto(f"{server.base}/app/")
    page.get_by_label("API key").fill(server.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
    expect(page.locator("[data-stream]")).to_have_attribute("data-stream", "live")


def screenshot(page: Page, name: str):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
