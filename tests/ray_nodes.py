"""A real multi-node Ray cluster on this machine: a head and worker nodes, each its own ``ray start --block``
process (own temp dir, own CPUs, a custom resource naming it), in its own process group so one node can be
killed outright (raylet, object store and workers at once) the way a lost machine disappears."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ray_bin() -> str:
    found = Path(sys.executable).with_name("ray")
    return str(found) if found.exists() else (shutil.which("ray") or "ray")


class LocalRayCluster:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        # a loopback-only test cluster: Ray's token authentication (on by default for `ray start`) is turned
        # off, since a driver process that imported ray earlier cannot switch to token mode
        self.auth = {"RAY_AUTH_MODE": "disabled"}
        self.env = {**os.environ, **(env or {}), **self.auth, "RAY_USAGE_STATS_ENABLED": "0",
                    # notice a lost node within seconds, not the default tens of seconds
                    "RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "4",
                    "RAY_health_check_initial_delay_ms": "0"}
        self.base = Path(tempfile.mkdtemp(prefix="curate-ray-"))
        self.nodes: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, args: list[str], cpus: int) -> None:
        temp = self.base / name  # each node its own temp dir (sessions, logs, sockets)
        temp.mkdir()
        log = open(self.base / f"{name}.log", "wb")
        cmd = [_ray_bin(), "start", "--block", f"--num-cpus={cpus}", "--num-gpus=0",
               f"--resources={json.dumps({name: 1000})}", f"--temp-dir={temp}", "--disable-usage-stats", *args]
        self.nodes[name] = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def start(self, workers: int = 1, cpus: int = 1, timeout_s: float = 120.0) -> "LocalRayCluster":
        self._start("head", ["--head", f"--port={self.port}", "--include-dashboard=false",
                             f"--node-ip-address=127.0.0.1"], cpus)
        self._wait_gcs(timeout_s)
        for i in range(workers):
            self.add_worker(f"worker{i + 1}", cpus)
        return self

    def add_worker(self, name: str, cpus: int = 1) -> None:
        self._start(name, [f"--address={self.address}", "--node-ip-address=127.0.0.1"], cpus)

    def _wait_gcs(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.nodes["head"].poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"Ray head did not start; see {self.base / 'head.log'}:\n{self.log('head')[-3000:]}")

    def wait_nodes(self, n: int, timeout_s: float = 120.0) -> None:
        """Block (in a connected driver) until ``n`` nodes are alive."""
        import ray

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if sum(1 for node in ray.nodes() if node["Alive"]) >= n:
                return
            time.sleep(0.5)
        raise RuntimeError(f"only {sum(1 for node in ray.nodes() if node['Alive'])} of {n} Ray nodes came up")

    def _processes(self, name: str) -> list[tuple[int, str]]:
        """(pid, title) of node ``name``'s processes: its process group, plus the task workers its raylet
        started (Ray puts each worker in a session of its own, so they are found by parent)."""
        table = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                    title = fh.read().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            table[int(entry.name)] = (int(fields[1]), int(fields[2]), title)  # ppid, pgid, title
        group = self.nodes[name].pid
        members = {pid for pid, (_, pgid, _) in table.items() if pgid == group}
        members |= {pid for pid, (ppid, _, _) in table.items() if ppid in members}
        return [(pid, table[pid][2]) for pid in sorted(members)]

    def running(self, name: str, task: str) -> bool:
        """True while a worker of node ``name`` executes ``task`` (Ray titles a busy worker ``ray::<task>``)."""
        return any(title.startswith(f"ray::{task}") for _, title in self._processes(name))

    def kill(self, name: str) -> None:
        """SIGKILL every process of node ``name`` at once (raylet, object store, workers): a machine lost mid-run."""
        victims = [pid for pid, _ in self._processes(name)]
        proc = self.nodes.pop(name)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.base / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop worker nodes, then the head (SIGTERM to each group, SIGKILL after a grace period)."""
        for name in sorted(self.nodes, key=lambda n: n == "head"):
            proc = self.nodes[name]
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.nodes.clear()
        shutil.rmtree(self.base, ignore_errors=True)
