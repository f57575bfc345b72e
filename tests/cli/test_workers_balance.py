"""`modelyard serve --workers 2` spreads connections opened together over both workers.

The workers used to share one listening socket, and the first to wake accepted every waiting
connection: a client that opens its keep-alive connections at once (a load balancer's pool, a
benchmark) had all of them served by one worker while the other idled.
"""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.server import ServerProcess

# The kernel deals connections out by a hash: all of them on one of two workers has a
# probability of 2 / 2**20.
CONNECTIONS = 20


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def _server_side_inodes(server_port: int, client_ports: set[int]) -> set[str]:
    """Inodes of the server's ends of the connections from `client_ports`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if local_port == server_port and remote_port in client_ports:
            inodes.add(fields[9])
    return inodes


def test_connections_opened_together_reach_both_workers(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", workers=2).start()
    connections: list[socket.socket] = []
    try:
        assert server.process is not None
        connections = [socket.create_connection(("127.0.0.1", server.port), timeout=30)
                       for _ in range(CONNECTIONS)]
        request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
        for conn in connections:
            conn.sendall(request)
        for conn in connections:  # every connection answered, and still open
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        ours = _server_side_inodes(server.port, {c.getsockname()[1] for c in connections})
        assert len(ours) == CONNECTIONS
        served = {pid: len(_socket_inodes(pid) & ours) for pid in _children(server.process.pid)}
        busy = [pid for pid, count in served.items() if count]
        assert len(busy) == 2, f"connections per worker process: {served}"
    finally:
        for conn in connections:
            conn.close()
        server.stop()
