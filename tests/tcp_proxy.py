"""A TCP proxy that tests control: forwards a loopback port to a target, and can cut the link.

`cut()` closes every open connection and stops listening, so new connections are refused, the
way a gate's link looks when its switch or radio dies; `restore()` listens again on the same port.
"""

from __future__ import annotations

import selectors
import socket
import threading

from broker import free_port


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", port: int | None = None):
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.connections = 0  # accepted so far: how often the far side reconnected

    def start(self) -> TcpProxy:
        self.restore()
        return self

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="proxy-accept", daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, set()
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of its thread
            listener.close()
        for conn in conns:
            _close(conn)

    def stop(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    _close(client)
                    _close(upstream)
                    return
                self._conns |= {client, upstream}
                self.connections += 1
            threading.Thread(target=self._pipe, args=(client, upstream), name="proxy-pipe", daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        sel = selectors.DefaultSelector()
        try:
            for s in (a, b):
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select(timeout=1.0):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    peer[key.fileobj].setblocking(True)  # type: ignore[index]
                    peer[key.fileobj].sendall(data)  # type: ignore[index]
                    peer[key.fileobj].setblocking(False)  # type: ignore[index]
                with self._lock:
                    if a not in self._conns:
                        return
        except (OSError, ValueError):
            return
        finally:
            sel.close()
            with self._lock:
                self._conns -= {a, b}
            _close(a)
            _close(b)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
