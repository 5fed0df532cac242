"""A real browser on another origin uses the local API (`make dev`) as a front end would.

Headless Chromium (Debian's `chromium` package; `make test` installs it when run as
root, and this test is skipped with the reason printed when no Chromium is found)
loads a page from a second local server, a different origin than the API. The page's
script makes the API calls with fetch(), so every CORS rule applies for real:
preflights for Authorization, Idempotency-Key and If-Match, and reading ETag and
Location only when the API exposes them. It posts its step-by-step results back to
its own origin, where the test reads them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devstack import jwt_local
from tests.e2e.test_local_api import DevServer, start_server, stop_server

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)
REPORT_TIMEOUT = 60.0

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>blog front end</title></head>
<body><pre id="out">running</pre>
<script>
const API = %(api)s;
const TOKEN = %(token)s;
const steps = [];
function step(name, ok, detail) { steps.push({name, ok: !!ok, detail}); }
async function main() {
  // 1. list published posts (public: no token, no preflight)
  const list = await fetch(API + "/posts?limit=5");
  const page = await list.json();
  step("list posts", list.status === 200 && page.items.length > 0,
       {status: list.status, count: page.items.length, cacheControl: list.headers.get("Cache-Control")});
  // 2. open the first one by the id the list gave, without a token
  const id = page.items[0].post_id;
  const one = await fetch(API + "/posts/" + id);
  const post = await one.json();
  const readEtag = one.headers.get("ETag");
  step("open a post", one.status === 200 && post.post_id === id && !!readEtag, {status: one.status, etag: readEtag});
  // 3. revalidate it: If-None-Match answers 304 without a body
  const again = await fetch(API + "/posts/" + id, {headers: {"If-None-Match": readEtag}});
  const againBody = await again.text();
  step("revalidate (304)", again.status === 304 && againBody === "", {status: again.status, bytes: againBody.length});
  // 4. create a post with an Idempotency-Key, read its Location and ETag
  const key = "browser-" + Date.now();
  const body = JSON.stringify({title: "From the browser " + key, content: "Written by a page on another origin.",
                               status: "published", tags: ["browser"]});
  const auth = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"};
  const created = await fetch(API + "/posts", {method: "POST", headers: {...auth, "Idempotency-Key": key}, body});
  const made = await created.json();
  const etag = created.headers.get("ETag");
  const location = created.headers.get("Location");
  step("create with Idempotency-Key", created.status === 201 && !!etag && location === "/posts/" + made.post_id,
       {status: created.status, etag, location});
  // 5. the same request again replays the same post (200)
  const replay = await fetch(API + "/posts", {method: "POST", headers: {...auth, "Idempotency-Key": key}, body});
  const replayed = await replay.json();
  step("replay the create", replay.status === 200 && replayed.post_id === made.post_id, {status: replay.status});
  // 6. edit it with If-Match: the ETag just read
  const patched = await fetch(API + "/posts/" + made.post_id, {method: "PATCH",
      headers: {...auth, "If-Match": etag}, body: JSON.stringify({title: "Edited in the browser " + key})});
  const newEtag = patched.headers.get("ETag");
  step("PATCH with If-Match", patched.status === 200 && !!newEtag && newEtag !== etag,
       {status: patched.status, etag: newEtag});
  // 7. the old ETag is stale now: 412
  const stale = await fetch(API + "/posts/" + made.post_id, {method: "PATCH",
      headers: {...auth, "If-Match": etag}, body: JSON.stringify({title: "Lost update"})});
  const staleBody = await stale.json();
  step("stale If-Match is 412", stale.status === 412 && !!staleBody.error, {status: stale.status, body: staleBody});
}
main().catch(e => step("script error", false, String(e))).finally(async () => {
  document.getElementById("out").textContent = JSON.stringify(steps, null, 1);
  await fetch("/report", {method: "POST", body: JSON.stringify(steps)});
});
</script></body></html>
"""


def find_chromium() -> str | None:
    given = os.environ.get("CHROMIUM")
    if given:
        return given
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


class FrontEnd:
    """The page's own origin: serves the page and receives the report."""

    def __init__(self, page: str) -> None:
        self.page = page.encode()
        self.report: list[dict[str, Any]] | None = None
        self.reported = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(outer.page)))
                self.end_headers()
                self.wfile.write(outer.page)

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.report = json.loads(data)
                outer.reported.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        reason = "no Chromium on PATH (apt-get install chromium, or set CHROMIUM=/path/to/chrome)"
        print("SKIPPED browser e2e: " + reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def dev(e2e_local_dir: Path, chromium: str) -> Iterator[DevServer]:
    server = start_server(e2e_local_dir)
    try:
        yield server
    finally:
        stop_server(server)


def test_a_page_on_another_origin_reads_and_writes_through_cors(dev: DevServer, chromium: str) -> None:
    token = dev.token(jwt_local.USER1_SUB)
    # The API at 127.0.0.1:<port>; the page at localhost:<other port>: another origin.
    front = FrontEnd(PAGE % {"api": json.dumps(dev.url), "token": json.dumps(token)})
    profile = tempfile.mkdtemp(prefix="chromium-")
    browser = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", front.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if not front.reported.wait(REPORT_TIMEOUT):
            browser.kill()
            err = browser.stderr.read().decode(errors="replace")[-3000:] if browser.stderr else ""
            pytest.fail(f"the page reported nothing within {REPORT_TIMEOUT}s; chromium said:\n{err}\n{dev.logs()}")
    finally:
        if browser.poll() is None:
            browser.terminate()
            try:
                browser.wait(10)
            except subprocess.TimeoutExpired:
                browser.kill()
        front.close()
        shutil.rmtree(profile, ignore_errors=True)
    steps = front.report or []
    for s in steps:
        print(("PASS " if s["ok"] else "FAIL ") + s["name"] + " " + json.dumps(s["detail"]))
    assert [s["name"] for s in steps] == [
        "list posts",
        "open a post",
        "revalidate (304)",
        "create with Idempotency-Key",
        "replay the create",
        "PATCH with If-Match",
        "stale If-Match is 412",
    ], steps
    assert all(s["ok"] for s in steps), steps
