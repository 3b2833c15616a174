"""A refused request costs its headers only: the API served as the dev stack serves it (gunicorn,
functions-framework, functions/main.py's bridge) over local ports, driven by slow raw-socket
senders on loopback. Each sender is bounded in time; the server is a subprocess of this module.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from trackscan.dev import DevPorts, services
from trackscan.dev.layout import HOST, FunctionSpec

REPO = Path(__file__).resolve().parents[2]
LIMIT_BYTES = 64 << 20  # the largest upload the served API accepts
BODY_TIMEOUT_S = 3.0
MIB = 1 << 20


@dataclass(frozen=True)
class Served:
    port: int
    master_pid: int

    def worker_memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (the peak) of the gunicorn worker serving the requests."""
        children = Path(f"/proc/{self.master_pid}/task/{self.master_pid}/children").read_text().split()
        lines = Path(f"/proc/{children[0]}/status").read_text().splitlines()
        return {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in lines) if k in ("VmRSS", "VmHWM")}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The dev stack's gunicorn command for the api target, over tests/local_api_main.py."""
    home = tmp_path_factory.mktemp("guarded-api")
    ports = DevPorts.free()
    service = services.function(FunctionSpec("api", "http"), ports, REPO / "tests" / "local_api_main.py")
    env = {
        **os.environ,
        **service.env,
        "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'shared'}",
        "TRACKSCAN_TEST_API_HOME": str(home),
        "TRACKSCAN_MAX_FILE_BYTES": str(LIMIT_BYTES),
        "TRACKSCAN_API_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    }
    with (home / "server.log").open("wb") as log:
        process = subprocess.Popen(
            service.argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        services.wait_ready(service, lambda: process.poll() is None, timeout_s=60)
        # The worker builds the app on its first request: build it before anything is measured.
        timed_get(ports.of("api"), "/v1/tracks?page_size=1", {"X-API-Key": "key-acme"}, timeout_s=30)
        yield Served(ports.of("api"), process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@dataclass(frozen=True)
class Upload:
    status: int | None  # None: no answer before the sender gave up
    answered_after_s: float | None
    sent_bytes: int
    sending_took_s: float | None  # None: the sender never got to its last byte


def slow_upload(
    port: int,
    headers: dict[str, str],
    total_bytes: int,
    chunk_bytes: int,
    interval_s: float,
    chunked: bool = True,
    give_up_s: float = 30.0,
) -> Upload:
    """POSTs total_bytes to /v1/tracks, chunk_bytes every interval_s, watching for an early answer.

    Stops at the answer, when the server closes, or give_up_s after the start.
    """
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(total_bytes)}
    head = "".join(
        f"{k}: {v}\r\n" for k, v in {"Host": HOST, "Content-Type": "audio/wav", **framing, **headers}.items()
    )
    start = time.monotonic()
    answer, sent, took = b"", 0, None
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(f"POST /v1/tracks?filename=slow.wav HTTP/1.1\r\n{head}\r\n".encode())
        chunk = b"\0" * chunk_bytes
        while time.monotonic() - start < give_up_s and b"\r\n\r\n" not in answer:
            if select.select([sock], [], [], 0)[0]:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
                continue
            if sent < total_bytes:
                piece = chunk[: total_bytes - sent]
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                except OSError:  # the server shut the connection: read what it answered
                    took = None
                    answer += _rest(sock, start + give_up_s)
                    break
                sent += len(piece)
                if sent >= total_bytes:
                    took = time.monotonic() - start
                    if chunked:
                        sock.sendall(b"0\r\n\r\n")
            select.select([sock], [], [], interval_s)
    answered = time.monotonic() - start if answer else None
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return Upload(status, answered, sent, took)


def _rest(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline and b"\r\n\r\n" not in data:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            more = sock.recv(65536)
        except OSError:
            break
        if not more:
            break
        data += more
    return data


def timed_get(port: int, path: str, headers: dict[str, str], timeout_s: float) -> tuple[int, float]:
    """(status, seconds) of a GET; raises on no answer within timeout_s."""
    start = time.monotonic()
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        response.read()
        return response.status, time.monotonic() - start


def test_api_answers_401_before_the_body_arrives_when_a_keyless_48_mib_upload_is_sent_slowly(served: Served) -> None:
    before = served.worker_memory_kib()
    # 48 MiB in 192 chunks of 256 KiB, 15 ms apart: about 3 s to send.
    upload = slow_upload(served.port, {}, 48 * MIB, 256 << 10, 0.015)
    after = served.worker_memory_kib()
    print(f"keyless 48 MiB: {upload}; worker memory before {before}, after {after}")
    assert upload.status == 401
    assert upload.answered_after_s is not None and upload.answered_after_s < 0.5
    assert upload.sending_took_s is None  # answered and closed before the sender was done
    assert upload.sent_bytes < 16 * MIB
    assert after["VmHWM"] - before["VmHWM"] < 8 * 1024  # KiB: far below the 48 MiB sent


def test_api_answers_gets_and_the_console_promptly_when_slow_keyless_uploads_are_in_flight(served: Served) -> None:
    uploads: list[Upload] = []
    senders = [
        threading.Thread(target=lambda: uploads.append(slow_upload(served.port, {}, 20 << 10, 1024, 1.0, give_up_s=12)))
        for _ in range(6)
    ]
    for sender in senders:
        sender.start()
    time.sleep(1.0)  # every sender has sent its headers and started its body
    try:
        tracks = timed_get(served.port, "/v1/tracks?page_size=1", {"X-API-Key": "key-acme"}, timeout_s=2)
        login = timed_get(served.port, "/console/login", {}, timeout_s=2)
    finally:
        for sender in senders:
            sender.join(timeout=15)
    print(f"while 6 slow keyless uploads ran: tracks {tracks}, console {login}; uploads {uploads}")
    assert tracks[0] == 200 and login[0] == 200
    assert [u.status for u in uploads] == [401] * 6
    assert all(u.answered_after_s is not None and u.answered_after_s < 1.5 for u in uploads)


def test_api_answers_413_before_the_body_arrives_when_a_keyed_body_is_announced_over_the_limit(served: Served) -> None:
    before = served.worker_memory_kib()
    upload = slow_upload(served.port, {"X-API-Key": "key-acme"}, LIMIT_BYTES + MIB, 256 << 10, 0.01, chunked=False)
    after = served.worker_memory_kib()
    print(f"keyed {LIMIT_BYTES + MIB} bytes: {upload}; worker memory before {before}, after {after}")
    assert upload.status == 413
    assert upload.answered_after_s is not None and upload.answered_after_s < 0.5
    assert upload.sending_took_s is None
    assert after["VmHWM"] - before["VmHWM"] < 8 * 1024


def test_api_answers_408_and_frees_the_thread_when_a_keyed_body_outlasts_the_body_timeout(served: Served) -> None:
    upload = slow_upload(served.port, {"X-API-Key": "key-acme"}, 1 << 20, 1024, 0.2, give_up_s=BODY_TIMEOUT_S + 5)
    print(f"keyed upload at 5 KiB/s with a {BODY_TIMEOUT_S} s body timeout: {upload}")
    assert upload.status == 408
    assert upload.answered_after_s is not None and BODY_TIMEOUT_S - 0.5 < upload.answered_after_s < BODY_TIMEOUT_S + 2
