"""A gunicorn worker that slow clients cannot tie up: requests are buffered before a thread sees them.

Why (docs/reliability.md has the measurements): a sync worker reads the request itself, so a client
that sends its headers slowly, or a body shorter than its Content-Length, holds the whole worker until
the 120 s worker timeout; two such sockets stop a two-worker server. gunicorn's threaded worker
(gthread) waits for the first byte before using a thread, but then reads the rest in that thread
with no time limit, so a few hundred trickling clients still take every thread.

`BufferedThreadWorker` keeps gthread (threads, keep-alive, graceful shutdown, no monkey-patching, so
torch, FAISS and the pre-fork model load work exactly as with sync workers) and changes one step:
a new request's bytes are read in the worker's event loop, without blocking, until the header block
and any Content-Length body (up to MAX_BUFFERED_BODY) are complete. Only then does a thread parse and
answer it. A client that has not sent a complete request within `read_timeout` seconds is
disconnected by the event loop. Sockets also get `read_timeout` as their blocking timeout, so the few
reads left to a thread (a chunked body, a body above the buffer) and the response write to a client
that stops reading cannot block a thread for longer.

The hard backstop behind `request_budget`: gthread sends its heartbeat to the master from the event
loop, so a request thread that never returns would not trip gunicorn's worker `timeout`. This worker
stops the heartbeat while one of its requests has run longer than that timeout, so the master kills and
replaces it (as it would a stuck sync worker).
"""
from __future__ import annotations

import errno
import re
import selectors
import socket
import time
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

MAX_BUFFERED_HEADERS = 64 * 1024     # beyond this gunicorn's own header limits answer (431/400)
MAX_BUFFERED_BODY = 1024 * 1024      # Content-Length bodies up to this are read in the event loop
DEFAULT_READ_TIMEOUT = 10.0
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*([0-9]{1,12})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)


def request_complete(buffer: bytes) -> bool:
    """Whether `buffer` holds a whole header block and, for a Content-Length body, the whole body."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return len(buffer) > MAX_BUFFERED_HEADERS  # hand over: the parser refuses it with a clear status
    match = _CONTENT_LENGTH.search(buffer, 0, end + 2)
    length = int(match.group(1)) if match else 0
    if length > MAX_BUFFERED_BODY:
        return True  # a thread reads the rest (the app refuses bodies above its own limit with 413)
    return len(buffer) >= end + 4 + length


class TimeoutSocket(socket.socket):
    """A client socket whose blocking mode always carries a timeout, so no read or write waits forever."""

    io_timeout = DEFAULT_READ_TIMEOUT

    @classmethod
    def adopt(cls, sock: socket.socket, io_timeout: float) -> TimeoutSocket:
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.io_timeout = io_timeout
        return adopted

    def setblocking(self, flag: bool) -> None:
        self.settimeout(self.io_timeout if flag else 0.0)


class BufferedThreadWorker(ThreadWorker):
    """gthread, with each request read completely in the event loop before a thread handles it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_timeout = float(getattr(self.app, "read_timeout", DEFAULT_READ_TIMEOUT))
        self.buffering: dict[TConn, float] = {}   # connection -> deadline for its request to arrive
        self.running: dict[TConn, float] = {}     # connection -> when a thread began answering it

    def accept(self, listener):
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
                return
            raise
        self.nr_conns += 1
        conn = TConn(self.cfg, TimeoutSocket.adopt(client, self.read_timeout), address, listener.getsockname())
        self.enqueue_req(conn)

    def enqueue_req(self, conn):
        parsed_ahead = conn.parser is not None and conn.parser.unreader.buf.getvalue()
        if getattr(conn, "complete", False) or parsed_ahead or self.cfg.is_ssl:
            conn.complete = False
            return super().enqueue_req(conn)
        conn.prebuffer = bytearray()
        conn.sock.setblocking(False)
        self.buffering[conn] = time.monotonic() + self.read_timeout
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))

    def _on_bytes(self, conn, client) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        conn.prebuffer += data
        if request_complete(bytes(conn.prebuffer)):
            self._stop_buffering(conn)
            conn.complete = conn.data_ready = True
            super().enqueue_req(conn)

    def _stop_buffering(self, conn) -> None:
        self.buffering.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _drop(self, conn) -> None:
        self._stop_buffering(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c, deadline in self.buffering.items() if deadline <= now]:
            self._drop(conn)  # no complete request within read_timeout: a slow or idle client

    def handle(self, conn):
        self.running[conn] = time.monotonic()  # one dict operation: atomic under the GIL
        try:
            buffered = getattr(conn, "prebuffer", None)
            if buffered:
                conn.prebuffer = None
                conn.sock.setblocking(True)
                conn.init()
                conn.parser.unreader.unread(bytes(buffered))
            return super().handle(conn)
        finally:
            self.running.pop(conn, None)

    def longest_running(self) -> float:
        """Seconds the oldest request now being answered has run (0 when none)."""
        now = time.monotonic()
        return max((now - began for began in list(self.running.values())), default=0.0)

    def notify(self):
        if self.longest_running() > self.cfg.timeout:
            return  # a request thread is stuck: no heartbeat, so the master replaces this worker
        super().notify()
