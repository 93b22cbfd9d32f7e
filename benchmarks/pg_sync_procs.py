"""The processes `bench_pg_sync` starts and measures: a `sync` child, the web server, a Celery worker
and `celery beat`, each as `make run` starts them (scripts/run.sh, scripts/web.sh), in a session of
its own so that stopping one stops its children too; their memory read from /proc; an API client
with a token of the benchmark tenant's admin.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
from django.conf import settings

from .sync_child import proc_status_mb

ROOT = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a process started here: this one's (database, Redis, data folder), with the
    source on this machine allowed (the scratch source database is on 127.0.0.1)."""
    env = dict(os.environ)
    env.update(CONNECTORS_ALLOW_PRIVATE_NETWORK="true", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p))
    env.update(extra)
    return env


class Service:
    """A long-running process (web, worker, beat) with its output in `log`; `stop()` ends its session."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name, self.log = name, log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def tree(self) -> list[psutil.Process]:
        """The process and its descendants (a prefork worker's pool processes)."""
        try:
            top = psutil.Process(self.proc.pid)
            return [top, *top.children(recursive=True)]
        except psutil.Error:
            return []

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM to the whole session (a worker finishes its task: warm shutdown), SIGKILL after `grace`."""
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        try:  # children left behind in the session
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._out.close()


def memory_of(procs: list[psutil.Process]) -> dict[int, dict]:
    """{pid: {"name", "rss_mb", "peak_rss_mb"}} of live processes (VmRSS and VmHWM)."""
    found = {}
    for proc in procs:
        status = f"/proc/{proc.pid}/status"
        rss, hwm = proc_status_mb(status, "VmRSS"), proc_status_mb(status, "VmHWM")
        if rss is not None:
            try:
                name = " ".join(proc.cmdline()[1:4])[:80]
            except psutil.Error:
                name = "?"
            found[proc.pid] = {"name": name, "rss_mb": rss, "peak_rss_mb": hwm}
    return found


class RssSampler:
    """Samples the RSS of a service's processes every `every` seconds; `peak` per pid (with VmHWM,
    which also sees the peaks between samples), `busy_rss` the highest RSS seen while `busy()`."""

    def __init__(self, service: Service, every: float = 0.25) -> None:
        self.service, self.every = service, every
        self.peak: dict[int, float] = {}
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")
        self.thread.start()

    def _run(self) -> None:
        while not self.halt.wait(self.every):
            for pid, mem in memory_of(self.service.tree()).items():
                self.peak[pid] = max(self.peak.get(pid, 0.0), mem["rss_mb"], mem["peak_rss_mb"] or 0.0)

    def stop(self) -> None:
        self.halt.set()
        self.thread.join(timeout=5)


def sync_in_child(*, tenant: str, connection_id: int, log: Path) -> dict:
    """One `manage.py sync` of the connection in a fresh process (benchmarks/sync_child.py): its own
    figures plus `wall_seconds` (process start to exit, measured here)."""
    argv = [sys.executable, "-m", "benchmarks.sync_child", "--tenant", tenant, "--connection", str(connection_id)]
    started = time.monotonic()
    with open(log, "ab") as err:
        done = subprocess.run(argv, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=err, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"the sync process failed ({done.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
    report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    report["wall_seconds"] = round(wall, 3)
    return report


class ApiClient:
    """The tenant's API on the web server at `base`, as a client reaches it (Host: <slug>.<domain>),
    with the admin's token (logged in again when the 5-minute access token expires)."""

    def __init__(self, base: str, host: str, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=base, headers={"Host": host}, timeout=60.0)
        self.credentials = {"username": username, "password": password}
        self.token = ""

    def login(self) -> None:
        response = self.http.post("/api/auth/token/", json=self.credentials)
        if response.status_code != 200:
            raise RuntimeError(f"login refused ({response.status_code}): {response.text[:500]}")
        self.token = response.json()["access"]

    def get(self, path: str, params: dict | None = None) -> dict:
        for _ in range(2):
            response = self.http.get(path, params=params, headers={"Authorization": f"Bearer {self.token}"})
            if response.status_code == 401:
                self.login()
                continue
            response.raise_for_status()
            return response.json()
        raise RuntimeError(f"{path}: still 401 after logging in again")

    def close(self) -> None:
        self.http.close()


def wait_for(check, *, timeout: float, every: float = 0.2, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
