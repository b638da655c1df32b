"""Real servers for the plant tests, on 127.0.0.1 free ports, started and stopped by their own handle:
Mosquitto (Debian package ``mosquitto``) and PostgreSQL (Debian ``postgresql``; initdb and postgres
run as the ``postgres`` user through runuser when the tests run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from tests_support import free_port


def wait_port(port: int, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None,
              log: Path | None = None) -> None:
    """Wait until something accepts on the port; if ``proc`` (the server) exits first, say so with the
    end of its log instead of waiting out the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"the server for 127.0.0.1:{port} exited with {proc.returncode}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Mosquitto:
    """A broker with persistence (a restart keeps persistent sessions and their queued messages)."""

    def __init__(self, folder: Path) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(exe):
            pytest.skip("mosquitto is not installed (bash dev.sh test installs it)")
        self.exe = exe
        self.folder = folder
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence true",
                 f"persistence_location {folder}/", "autosave_interval 1"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it switches to 'mosquitto', which cannot write the folder
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        log = open(self.folder / "mosquitto.log", "ab")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=log, stderr=log)
        log.close()
        wait_port(self.port, proc=self.proc, log=self.folder / "mosquitto.log")
        return self

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if found:
        return found[-1]
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"PostgreSQL's {name} is not installed (bash dev.sh test installs postgresql)")
    return exe


class Postgres:
    """A throw-away cluster (trust authentication on loopback, fsync off: test data only)."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="plant-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run([_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                   "--no-sync"], check=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _cmd(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self.as_root else argv

    def _run(self, argv: list[str], check: bool) -> None:
        subprocess.run(self._cmd(argv), check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=self.folder)

    def start(self) -> Postgres:
        log = open(self.folder / "postgres.log", "ab")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(self._cmd([
            _pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.folder),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=40"]),
            stdout=log, stderr=log, cwd=self.folder)
        log.close()
        wait_port(self.port, timeout=20.0)
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster: clients are disconnected). runuser does not pass
        SIGINT on, so the signal goes to the postmaster's own pid from its postmaster.pid."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        pid = None
        if self.as_root:
            try:
                pid = int((self.data / "postmaster.pid").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = None
        if pid is not None:
            os.kill(pid, signal.SIGINT)
            try:
                proc.wait(15)
                return
            except subprocess.TimeoutExpired:
                pass
        _stop(proc, signal.SIGINT)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
