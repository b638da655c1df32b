"""``python -m hmi``: users from the command line; ``serve`` end to end (a subprocess on a free port)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys

import httpx

from hmi.auth.users import UserStore
from hmi.cli import main


def test_users_add_and_list(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("anna-pass-1\n"))
    assert main(["users", "add", "anna", "--role", "admin", "--data", str(tmp_path), "--password-stdin"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["users", "add", "bob", "--data", str(tmp_path), "--password-stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert main(["users", "list", "--data", str(tmp_path)]) == 0
    assert "anna" in capsys.readouterr().out
    users = UserStore(tmp_path / "users.db")
    try:
        assert users.authenticate("anna", "anna-pass-1") is not None and users.get("bob") is None
    finally:
        users.close()


def test_serve_with_demo_feed_until_sigterm(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENCV_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "hmi", "serve", "--data", str(tmp_path), "--port", "0", "--feed",
           "--rate", "20"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()  # printed once the server is up
            assert line.startswith("HMI: http://127.0.0.1:"), line
            url = line.split()[1]
            health = httpx.get(f"{url}/health", timeout=10).json()
            assert health["status"] == "ok" and health["plc_connected"] is True
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
            assert "setup token" in err  # no user yet: the one-time token is printed
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
