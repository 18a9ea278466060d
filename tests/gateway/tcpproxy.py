"""A small TCP proxy for network-fault tests: listens on a free loopback port and
forwards every connection to an upstream (the broker).

- `cut()`: a partition. Every connection is closed (both sides: the broker sees the
  client go, and publishes its will) and new connections are refused (the listening
  socket is closed, so a connect gets ECONNREFUSED).
- `restore()`: listen and forward again (same port).
- `half_open()`: the client side of every connection is closed, the broker side is
  kept open and silent, as when a NAT or a mobile link drops only the gateway's side:
  the broker notices only at keepalive expiry, or when the same client id connects
  again (a takeover). New connections keep working.

Threads, blocking sockets; nothing here sleeps to synchronise.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType


@dataclass(eq=False)
class _Pair:
    client: socket.socket
    upstream: socket.socket
    half_open: bool = False
    threads: list[threading.Thread] = field(default_factory=list)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = 0
        self.accepted = 0  # connections forwarded so far
        self._lock = threading.Lock()
        self._pairs: set[_Pair] = set()
        self._stale: list[socket.socket] = []  # broker sides kept open by half_open()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._listen()
        return self

    def close(self) -> None:
        self.cut()
        with self._lock:
            stale, self._stale = self._stale, []
        for sock in stale:
            _close(sock)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- faults ----------------------------------------------------------------------

    def cut(self) -> None:
        """Close every connection and refuse new ones until `restore()`."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, set()
        if listener is not None:
            _close(listener)
        if self._accept_thread is not None:
            self._accept_thread.join(5)
            self._accept_thread = None
        for pair in pairs:
            _close(pair.client)
            _close(pair.upstream)

    def restore(self) -> None:
        """Accept and forward again, on the same port."""
        if self._listener is None:
            self._listen()

    def half_open(self) -> int:
        """Drop the client side of every connection, keep the broker side open and
        silent. Returns how many connections were affected."""
        with self._lock:
            pairs, self._pairs = self._pairs, set()
            for pair in pairs:
                pair.half_open = True
                self._stale.append(pair.upstream)
        for pair in pairs:
            _close(pair.client)
        return len(pairs)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    # -- internals -------------------------------------------------------------------

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        with self._lock:
            self._listener = sock
        self._accept_thread = threading.Thread(
            target=self._accept_loop, args=(sock,), name="tcpproxy-accept", daemon=True
        )
        self._accept_thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed by cut()
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client, upstream)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    _close(client)
                    _close(upstream)
                    return
                self._pairs.add(pair)
                self.accepted += 1
            for src, dst, name in ((client, upstream, "up"), (upstream, client, "down")):
                t = threading.Thread(
                    target=self._pump, args=(pair, src, dst), name=f"tcpproxy-{name}", daemon=True
                )
                pair.threads.append(t)
                t.start()

    def _pump(self, pair: _Pair, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        # One side ended: end the connection, except the broker side of a half-open one.
        with self._lock:
            self._pairs.discard(pair)
        if pair.half_open:
            return
        _close(pair.client)
        _close(pair.upstream)
