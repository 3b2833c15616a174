"""A TCP proxy that delays, cuts and stalls connections, for the network faults of the fault suite.

It sits between a client (a function of the emulator stack) and one server (Firestore, Triton,
Pub/Sub), on 127.0.0.1, in a thread running its own asyncio loop. Faults, each drawn at random:

- delay: every chunk, in either direction, waits ``delay_s`` (a (low, high) range) first;
- cut: after any chunk, with probability ``cut``, both sides are reset (a connection lost mid-call);
- stall: a new connection, with probability ``stall``, is accepted and then never answered nor
  forwarded (a black hole: only the client's own deadline ends the call);
- freeze: after any chunk, with probability ``freeze``, the connection stops carrying anything
  either way but stays open (a route gone silent mid-call: no reset ever comes);
- the first ``stall_first`` connections are stalled and the next ``freeze_first`` freeze after
  their first FREEZE_AFTER_CHUNKS chunks, so a short run meets both faults for certain;
- lost answer: a chunk from the server, with probability ``lose_answer``, is dropped and both
  sides reset, so the server did the work and the client never hears of it (a publish accepted
  by Pub/Sub whose acknowledgement is lost: the client publishes again).

The faults can be changed while it runs (``set``), and every open connection reset (``sever``);
``counts`` says what it did.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
from collections import Counter
from dataclasses import dataclass

HOST = "127.0.0.1"
CHUNK_BYTES = 65_536
FREEZE_AFTER_CHUNKS = 4  # a gRPC connection's handshake, then its first call is under way


@dataclass(frozen=True)
class Faults:
    """What the proxy does to the traffic (see the module docstring)."""

    delay_s: tuple[float, float] = (0.0, 0.0)
    cut: float = 0.0
    stall: float = 0.0
    freeze: float = 0.0
    lose_answer: float = 0.0
    stall_first: int = 0
    freeze_first: int = 0


class FaultyProxy:
    """Listens on a free port of 127.0.0.1 and forwards to upstream_port, with faults."""

    def __init__(self, upstream_port: int, faults: Faults = Faults(), seed: int = 0) -> None:
        self.upstream_port = upstream_port
        self.faults = faults
        self.counts: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="faulty-proxy")
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    def start(self) -> FaultyProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def set(self, faults: Faults) -> None:
        """Faults for the chunks and connections from now on."""
        self.faults = faults

    def sever(self) -> None:
        """Resets every open connection: a stall that ended, whose frozen connections the clients'
        keepalive would find dead (the emulators' channels have none), so they connect again."""

        async def reset_all() -> None:
            for writer in list(self._writers):
                _reset((writer,))
                self._forget(writer)

        asyncio.run_coroutine_threadsafe(reset_all(), self._loop).result(timeout=10)
        self.counts["severed"] += 1

    def stop(self) -> None:
        """Closes the listener and every connection, then the loop."""

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._connection, HOST, 0)

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # stop() cancels every connection
            await self._serve(client_reader, client_writer)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.counts["connections"] += 1
        number = self.counts["connections"]
        self._writers.add(client_writer)
        if number <= self.faults.stall_first or self._random.random() < self.faults.stall:
            self.counts["stalled"] += 1
            await _swallow(client_reader)  # never answered: the client's deadline must end the call
            self._forget(client_writer)
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            self.counts["upstream refused"] += 1
            client_writer.transport.abort()
            self._forget(client_writer)
            return
        self._writers.add(server_writer)
        pair = (client_writer, server_writer)
        link = _Link(pair, doomed=number <= self.faults.stall_first + self.faults.freeze_first)
        await asyncio.gather(
            self._pipe(client_reader, server_writer, link, answer=False),
            self._pipe(server_reader, client_writer, link, answer=True),
        )
        for writer in pair:
            self._forget(writer)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link, answer: bool
    ) -> None:
        try:
            while data := await reader.read(CHUNK_BYTES):
                faults = self.faults
                low, high = faults.delay_s
                if high > 0:
                    await asyncio.sleep(self._random.uniform(low, high))
                link.chunks += 1
                if not link.frozen and (
                    (link.doomed and link.chunks > FREEZE_AFTER_CHUNKS) or self._random.random() < faults.freeze
                ):
                    self.counts["frozen"] += 1
                    link.frozen = True
                if link.frozen:
                    continue  # swallowed: only the client's deadline ends what it waits for
                if answer and self._random.random() < faults.lose_answer:
                    self.counts["answers lost"] += 1
                    _reset(link.pair)
                    return
                if self._random.random() < faults.cut:
                    self.counts["cut"] += 1
                    _reset(link.pair)
                    return
                writer.write(data)
                await writer.drain()
                self.counts["chunks"] += 1
        except (ConnectionError, OSError):
            pass
        finally:
            if writer.can_write_eof() and not writer.is_closing():
                try:
                    writer.write_eof()
                except OSError:
                    writer.transport.abort()

    def _forget(self, writer: asyncio.StreamWriter) -> None:
        self._writers.discard(writer)
        if not writer.is_closing():
            writer.close()


@dataclass
class _Link:
    """One proxied connection: its two ends and what has happened to it."""

    pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter]
    doomed: bool  # freezes after FREEZE_AFTER_CHUNKS chunks
    chunks: int = 0
    frozen: bool = False


async def _swallow(reader: asyncio.StreamReader) -> None:
    try:
        while await reader.read(CHUNK_BYTES):
            pass
    except (ConnectionError, OSError):
        pass


def _reset(pair: tuple[asyncio.StreamWriter, ...]) -> None:
    """Closes both sides with a TCP reset, as a lost connection looks to each end."""
    for writer in pair:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
        writer.transport.abort()
