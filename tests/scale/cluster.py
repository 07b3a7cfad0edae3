"""Several real ``vcounter serve`` processes, as an operator runs them, for tests and benchmarks.

``async with Cluster(workdir, processes=2) as cluster`` makes a fresh PostgreSQL database on
the test server (dropped afterwards), gives the processes one shared data directory (the
shared blob store and keys), one Redis with a socket.io channel of their own, and puts HAProxy
from Debian's packages in front (http mode, websockets passed through, round robin, health
check on ``/readyz``), everything on loopback. ``cluster.url`` is the proxy;
``cluster.servers[i].url`` one process; ``cluster.kill(i)`` is ``kill -9``.

``Cluster(workdir, processes=1, database="sqlite", redis=False, proxy=False)`` is the
embedded mode: one process on SQLite, nothing in front.

Nothing here imports pytest's skip logic: :func:`missing_services` says what is absent and
the caller (tests/scale/conftest.py, bench/load.py) decides to skip, fail or report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self

import aiohttp

from storage.db import default_sqlite_url
from tests import dbutil

SECRET = "cluster-secret-key-0123456789-abcdefghijklmnopqrstuv"
START_S = 60.0
STOP_S = 15.0
HAPROXY = "haproxy"


class ClusterError(RuntimeError):
    """A process of the cluster did not start or stop; the message carries its log's tail."""


def free_port() -> int:
    """A TCP port on loopback nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def missing_services(database: str = "postgresql", redis: bool = True, proxy: bool = True) -> list[str]:  # fmt: skip
    """What a cluster of this shape needs and this machine lacks (empty: all there)."""
    missing = []
    if database == "postgresql" and not dbutil.postgres_available():
        missing.append("PostgreSQL on 127.0.0.1:5432 (VCOUNTER_TEST_PG)")
    if redis and not dbutil.redis_available():
        missing.append(f"Redis at {dbutil.redis_url()} (VCOUNTER_TEST_REDIS)")
    if proxy and shutil.which(HAPROXY) is None:
        missing.append("haproxy (Debian package haproxy; ./run test installs it)")
    return missing


def haproxy_config(port: int, backends: list[int], check_interval_ms: int = 1000) -> str:
    """The proxy in front: the same shape as the README's, on loopback ports."""
    servers = "\n".join(f"    server s{i} 127.0.0.1:{p} check" for i, p in enumerate(backends))
    return f"""\
global
    # each proxied connection holds two descriptors; keep 2 x maxconn under `ulimit -n`
    maxconn 8000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # a websocket is a tunnel once upgraded: kiosks and consoles keep theirs open all day
    timeout tunnel 1h
    timeout http-request 10s
    # a busy process may take a moment to answer /readyz (it waits up to ready_timeout_s for
    # the database): a check cut at `inter` would take every busy process out at once
    timeout check 3s
    # the client's address for the servers (X-Forwarded-For): every connection comes from
    # the proxy's own address otherwise
    option forwardfor
    # a request to a process that just died is retried on another
    retries 2
    option redispatch

frontend vcounter
    bind 127.0.0.1:{port}
    # metrics are scraped from each process directly, never through the public entrance
    http-request deny if {{ path /metrics }}
    default_backend vcounter_servers

backend vcounter_servers
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter {check_interval_ms} fall 3 rise 2
{servers}
"""


@dataclass
class ServerProcess:
    """One ``vcounter serve`` of the cluster."""

    index: int
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the process was never started"
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, data_dir: Path, env: dict[str, str]) -> None:
        """Start ``vcounter serve`` on this process's port (does not wait for it)."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "signaling.cli", "--data-dir", str(data_dir), "serve",
             "--port", str(self.port)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def log_tail(self, lines: int = 30) -> str:
        """The end of this process's output, for error messages."""
        return _tail(self.log_path, lines)

    async def wait_ready(self) -> None:
        """Wait until this process answers ``/readyz`` with 200."""
        await wait_ready(self.url, process=self.process, log=self.log_path)

    def kill(self) -> None:
        """``kill -9``: no goodbye, no drain, nothing written on the way out."""
        if self.alive:
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    async def stop(self, timeout_s: float = STOP_S) -> int | None:
        """SIGTERM and wait; SIGKILL after ``timeout_s``. Returns the exit code."""
        if self.process is None:
            return None
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no output)"
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


async def wait_ready(
    url: str,
    timeout_s: float = START_S,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Wait until ``url/readyz`` answers 200; fail early (with ``log``'s tail) if
    ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    tail = ""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                tail = f"\n{_tail(log)}" if log else ""
                raise ClusterError(f"{process.args[0]} for {url} exited while starting:{tail}")
            try:
                async with http.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
                    last = f"{response.status} {await response.text()}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = repr(exc)
            await asyncio.sleep(0.2)
    tail = f"\n{_tail(log)}" if log else ""
    raise ClusterError(f"{url}/readyz not ready within {timeout_s:.0f} s (last: {last}){tail}")


def _spawn(haproxy_args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    # -db keeps HAProxy in the foreground, so stopping the Popen stops the proxy
    with log_path.open("ab") as log:
        return subprocess.Popen([HAPROXY, *haproxy_args], stdout=log, stderr=subprocess.STDOUT)


class Cluster:
    """N real server processes sharing one database, one data dir, one Redis, one proxy."""

    def __init__(
        self,
        workdir: Path,
        processes: int = 2,
        database: Literal["postgresql", "sqlite"] = "postgresql",
        redis: bool = True,
        proxy: bool = True,
        settings: dict[str, str] | None = None,
        database_socket: Path | None = None,
    ) -> None:
        if database == "sqlite" and processes > 1:
            raise ValueError("SQLite is the one-process mode; use database='postgresql'")
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.database = database
        self.use_redis = redis
        self.use_proxy = proxy
        # the servers reach PostgreSQL through its Unix socket in this directory, as
        # processes on the database's own machine would, instead of TCP
        self.database_socket = database_socket
        # extra VCOUNTER_* settings, e.g. {"VCOUNTER_OFFER_TIMEOUT_S": "5"}
        self.settings = dict(settings or {})
        self.servers = [
            ServerProcess(i, free_port(), workdir / f"server-{i}.log") for i in range(processes)
        ]
        self.proxy_port = free_port() if proxy else None
        self.database_url: str | None = None
        self.redis_channel = dbutil.unique_channel() if redis else None
        self._proxy: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """Where clients connect: the proxy, or the only process when there is none."""
        if self.proxy_port is not None:
            return f"http://127.0.0.1:{self.proxy_port}"
        return self.servers[0].url

    @property
    def store_url(self) -> str:
        """The database the processes share (to seed accounts through the store API)."""
        return self.database_url or default_sqlite_url(self.data_dir)

    @property
    def env(self) -> dict[str, str]:
        """The environment every process and CLI call of the cluster runs with."""
        env = {
            **os.environ,
            # quiet unless asked: at INFO a load run writes a line per event
            "VCOUNTER_LOG_LEVEL": os.environ.get("VCOUNTER_CLUSTER_LOG_LEVEL", "WARNING"),
            "VCOUNTER_SECRET_KEY": SECRET,
            # clerks free at once after a call, as the single-process test server has them
            # (tests/conftest.py make_settings); a test of wrap-up sets it in settings
            "VCOUNTER_WRAP_UP_S": "0",
            **self.settings,
        }
        if self.database_url:
            env["VCOUNTER_DATABASE_URL"] = self.database_url
            if self.database_socket is not None:
                url = dbutil.through_socket(self.database_url, self.database_socket)
                env["VCOUNTER_DATABASE_URL"] = url
        if self.use_redis and self.redis_channel:
            env["VCOUNTER_REDIS_URL"] = dbutil.redis_url()
            env["VCOUNTER_REDIS_CHANNEL"] = self.redis_channel
        return env

    # ------------------------------------------------------------------ lifetime

    async def __aenter__(self) -> Self:
        missing = missing_services(self.database, self.use_redis, self.use_proxy)
        if missing:
            raise ClusterError("cannot start the cluster; missing: " + "; ".join(missing))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.database == "postgresql":
                self.database_url = await dbutil.create_pg_database()
            # Migrate once before any server starts: processes starting side by side would
            # otherwise race to create the same tables.
            await asyncio.to_thread(self.cli, "db", "upgrade")
            # one at a time: each syncs the catalogue into the shared database at start
            for server in self.servers:
                server.start(self.data_dir, self.env)
                await server.wait_ready()
            if self.use_proxy:
                await self._start_proxy()
        except BaseException:
            await self._teardown()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._teardown()

    async def _start_proxy(self) -> None:
        assert self.proxy_port is not None
        config = self.workdir / "haproxy.cfg"
        config.write_text(haproxy_config(self.proxy_port, [s.port for s in self.servers]))
        check = await asyncio.to_thread(
            subprocess.run, [HAPROXY, "-c", "-q", "-f", str(config)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise ClusterError(f"haproxy refused {config}:\n{check.stdout}{check.stderr}")
        log_path = self.workdir / "haproxy.log"
        self._proxy = _spawn(["-db", "-f", str(config)], log_path)
        await wait_ready(self.url, process=self._proxy, log=log_path)

    async def _teardown(self) -> None:
        if self._proxy is not None:
            self._proxy.terminate()
            try:
                await asyncio.to_thread(self._proxy.wait, STOP_S)
            except subprocess.TimeoutExpired:
                self._proxy.kill()
                await asyncio.to_thread(self._proxy.wait)
            self._proxy = None
        await asyncio.gather(*(server.stop() for server in self.servers))
        if self.database_url:
            with contextlib.suppress(OSError):
                await dbutil.drop_pg_database(self.database_url)
            self.database_url = None

    # ------------------------------------------------------------------ operating

    def cli(self, *args: str) -> str:
        """``vcounter ARGS...`` against the cluster's database and data dir; its output."""
        done = subprocess.run(
            [sys.executable, "-m", "signaling.cli", "--data-dir", str(self.data_dir), *args],
            env=self.env, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise ClusterError(f"vcounter {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout.strip()

    def kill(self, index: int) -> None:
        """``kill -9`` server ``index``."""
        self.servers[index].kill()

    async def restart(self, index: int) -> None:
        """Start server ``index`` again on its port (after :meth:`kill` or a stop)."""
        server = self.servers[index]
        await server.stop()
        server.start(self.data_dir, self.env)
        await server.wait_ready()

    def cpu_s(self) -> list[float]:
        """Each live process's CPU time so far (user + system seconds), 0 for a dead one."""
        tick = os.sysconf("SC_CLK_TCK")
        used = []
        for server in self.servers:
            seconds = 0.0
            if server.alive:
                with contextlib.suppress(OSError):
                    stat = Path(f"/proc/{server.pid}/stat").read_text()
                    fields = stat.rsplit(")", 1)[1].split()
                    seconds = (int(fields[11]) + int(fields[12])) / tick
            used.append(seconds)
        return used

    def waited_s(self) -> list[float]:
        """Each live process's main thread's time so far runnable but waiting for a CPU
        (``/proc/PID/schedstat``), 0 for a dead one: how starved of CPU its loop was."""
        waited = []
        for server in self.servers:
            seconds = 0.0
            if server.alive:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    seconds = (
                        int(Path(f"/proc/{server.pid}/schedstat").read_text().split()[1]) / 1e9
                    )
            waited.append(seconds)
        return waited

    def rss_mb(self) -> list[float]:
        """Each live process's resident memory in MB (``VmRSS``), 0 for a dead one."""
        sizes = []
        for server in self.servers:
            kb = 0
            if server.alive:
                with contextlib.suppress(OSError):
                    for line in Path(f"/proc/{server.pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            kb = int(line.split()[1])
            sizes.append(kb / 1024)
        return sizes
