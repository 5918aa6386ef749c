"""Real Redis servers for the tests: started on free loopback ports, stopped by pid.

The tests never touch a server they did not start here. Each server runs from Debian's
`redis-server` with its own temporary directory and configuration file.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import redis

MISSING = (
    "redis-server was not found. `make test` installs Debian's redis-server when it can; "
    "otherwise install it yourself (apt-get install redis-server) and run the tests again."
)


def redis_server_binary() -> str:
    """The path of redis-server; without one the Redis tests fail (they are never skipped)."""
    found = shutil.which("redis-server")
    if found is None:
        import pytest  # imported here: the benchmarks use these servers without pytest

        pytest.fail(MISSING, pytrace=False)
    return found


def free_port() -> int:
    """A free TCP port on loopback, whose cluster bus port (port + 10,000) is free too."""
    for _ in range(200):
        port = random.randint(20_000, 55_000)
        if all(_free(candidate) for candidate in (port, port + 10_000)):
            return port
    raise RuntimeError("no free loopback port found")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RedisServer:
    """One redis-server process with its own directory, configuration and port."""

    def __init__(self, directory: Path, config: list[str] | None = None, tls: bool = False) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls = tls
        self.extra = config or []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **options: object) -> redis.Redis:
        """A plain client for setting up and inspecting the server in tests."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, **options)  # type: ignore[arg-type]

    def start(self) -> RedisServer:
        port = f"tls-port {self.port}\nport 0" if self.tls else f"port {self.port}"
        lines = [
            port,
            "bind 127.0.0.1",
            f"dir {self.directory}",
            "save ''",
            "appendonly yes",
            "appendfsync everysec",
            "maxmemory-policy noeviction",
            f"logfile {self.directory / 'redis.log'}",
            *self.extra,
        ]
        conf = self.directory / "redis.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen([redis_server_binary(), str(conf)], cwd=self.directory)
        self._wait_until_up()
        return self

    def _wait_until_up(self, timeout: float = 20) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.process is not None
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log}")
            with socket.socket() as probe:
                listening = probe.connect_ex(("127.0.0.1", self.port)) == 0
            if listening and (self.tls or self._answers()):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not come up")

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.exceptions.BusyLoadingError:
            return False
        except redis.exceptions.ConnectionError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server process (by pid) and wait for it to end."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def pause(self) -> None:
        """Stop the server (SIGSTOP), as a slow or cut-off machine would be, until `resume`."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        wait_until_stopped(self.process.pid)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


def wait_until_stopped(pid: int, timeout: float = 10) -> None:
    """Wait for every thread of `pid` to be stopped: SIGSTOP is sent at once, but a thread in
    the middle of a system call (taking a lock, say) finishes it first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        states = []
        for task in Path(f"/proc/{pid}/task").glob("*/stat"):
            try:
                states.append(task.read_text().rsplit(")", 1)[1].split()[0])
            except (FileNotFoundError, ProcessLookupError):
                continue  # a thread that ended meanwhile
        if all(state in ("T", "t", "Z") for state in states):
            return
        time.sleep(0.001)  # polls the threads' states; bounded by `timeout`
    raise AssertionError(f"process {pid} did not stop")


def start_cluster(directory: Path, nodes: int = 3) -> list[RedisServer]:
    """`nodes` masters on loopback ports, joined by `redis-cli --cluster create`."""
    servers = [
        RedisServer(
            directory / f"node{n}",
            ["cluster-enabled yes", "cluster-config-file nodes.conf", "cluster-node-timeout 5000"],
        ).start()
        for n in range(nodes)
    ]
    cli = shutil.which("redis-cli")
    assert cli is not None, MISSING
    addresses = [f"127.0.0.1:{server.port}" for server in servers]
    subprocess.run(
        [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    end = time.monotonic() + 30
    while time.monotonic() < end:
        states = [server.client().cluster("INFO") for server in servers]
        if all(state.get("cluster_state") == "ok" for state in states):
            return servers
        time.sleep(0.1)
    raise RuntimeError("the cluster did not reach cluster_state:ok")


def make_certificates(directory: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in ("ca.crt", "ca.key", "server.crt", "server.key")}
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is needed for the TLS test"

    def run(*args: str | Path) -> None:
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)

    ca, ca_key = paths["ca.crt"], paths["ca.key"]
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", ca_key, "-out", ca)  # fmt: skip
    csr = directory / "server.csr"
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", paths["server.key"], "-out", csr)  # fmt: skip
    extensions = directory / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "2", "-extfile", extensions, "-out", paths["server.crt"])  # fmt: skip
    return paths


class LossyProxy:
    """A TCP proxy in front of a server that can lose one reply: the command reaches the
    server and is applied, but the client sees its connection drop instead of the answer."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.lose_next_reply = threading.Event()
        self.lost = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                if replies and self.lose_next_reply.is_set():
                    self.lose_next_reply.clear()
                    self.lost += 1
                    break
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)  # wakes the other direction's recv too
            end.close()

    def close(self) -> None:
        self.listener.close()
