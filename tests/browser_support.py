"""Shared by the browser tests: the running demo as a user starts it, demo users, signing in."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEMO_PASSWORD = "demo-pass-1"


def add_demo_user(data: Path, name: str, role: str) -> None:
    """A user in a demo's data folder, through the real CLI (``python -m hmi users add``)."""
    subprocess.run([sys.executable, "-m", "hmi", "users", "add", name, "--role", role, "--data", str(data),
                    "--password-stdin"], input=DEMO_PASSWORD + "\n", text=True, check=True, capture_output=True)


@contextmanager
def running_demo(root: Path, *, rate: float, threads_1: bool = False,
                 no_problems: bool = True) -> Iterator[tuple[str, float]]:
    """``inspection demo`` in a subprocess (HTTP and Modbus on free ports); yields (HMI url, seconds
    until it printed its address). Stopped with SIGINT: it must exit 0 and, with ``no_problems``, its
    simulated PLC must report no problems."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"} if threads_1 else None
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "inspection", "demo", "--dir", str(root), "--http-port", "0",
                             "--modbus-port", "0", "--rate", f"{rate:g}", "--parts", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url, lines = None, []
    assert proc.stdout is not None
    while url is None:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"HMI:\s+(http://\S+)", line)
        if m:
            url = m.group(1)
    up_s = time.monotonic() - t0
    # keep reading what the demo prints while the test runs: a pipe nobody reads fills up (64 kB)
    # and every thread of the demo that logs then blocks on its write
    rest: list[str] = []
    reader = threading.Thread(target=lambda: rest.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        assert url is not None, "".join(lines)
        yield url, up_s
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        proc.stdout.close()
        out = "".join(rest)
        assert proc.returncode == 0, "".join(lines) + out
        if no_problems:
            assert "'problems': 0" in out, out[-5000:]


def open_page(browser: Any, size: tuple[int, int] = (1280, 800), **options: Any) -> Any:
    """A new page that collects the page's script errors in ``page.errors``."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]}, **options)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def sign_in(page: Any, url: str, user: str, password: str, *, live: bool = True) -> Any:
    """Sign in on the HMI's page; with ``live``, wait until its live stream is connected."""
    page.goto(url)
    page.wait_for_selector("#login-form", state="visible")
    page.fill("#login-user", user)
    page.fill("#login-pass", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app", state="visible")
    if live:
        page.wait_for_selector("#conn-dot.up")
    return page


def teach_from_stored_parts(page: Any, n: int) -> None:
    """On the Recipes page: open the first recipe's teach view and teach from its ``n`` newest stored
    good parts; waits until the job is done and the new version (with its variation model) is current."""
    page.click('#nav a[data-page="recipes"]')
    page.click("#recipe-cards .card button.teach-open >> nth=0")
    page.wait_for_selector("#teach-parts")
    page.fill("#teach-n", str(n))
    page.select_option("#teach-source", "stored")
    page.click("#teach-parts-go")
    page.wait_for_selector('#teach-parts[data-phase="done"]', timeout=120_000)
    assert "new golden" in page.text_content("#teach-parts-result")
    page.wait_for_selector("#teach-versions tbody tr.current >> text=with variation model")
    assert f"{n} parts:" in page.text_content("#teach-versions tbody tr.current")
