#!/usr/bin/env python3
"""Hostile clients for bench/serve_load: slowloris connections and a flood of unique 404 paths.

Usage: hostile_clients.py PORT SECONDS [SLOW]. Holds SLOW connections (default 200) that each send
a request's headers one line per second and never finish them (reopening any the server closes),
while one keep-alive client requests a new made-up path after each answer. Prints one JSON line:
what was sent, answered and held.
"""
import json
import socket
import sys
import threading
import time
import uuid

port, seconds = int(sys.argv[1]), float(sys.argv[2])
slow_count = int(sys.argv[3]) if len(sys.argv) > 3 else 200
deadline = time.time() + seconds
stats = {"slow_held": slow_count, "slow_reopened": 0, "slow_answered_408": 0,
         "flood_sent": 0, "flood_answered_404": 0, "flood_other": 0,
         "health_probes": 0, "health_failures": 0, "health_max_ms": 0.0}


def open_slow():
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    return s


def slowloris():
    conns = [open_slow() for _ in range(slow_count)]
    while time.time() < deadline:
        time.sleep(1)
        for i, s in enumerate(conns):
            try:
                data = s.recv(4096)
                if data.startswith(b"HTTP/1.1 408"):
                    stats["slow_answered_408"] += 1
                if data == b"" or data:  # closed or answered: reopen
                    s.close()
                    conns[i] = open_slow()
                    stats["slow_reopened"] += 1
                    continue
            except BlockingIOError:
                pass
            except OSError:
                conns[i] = open_slow()
                stats["slow_reopened"] += 1
                continue
            try:
                s.send(b"X-Wait: %d\r\n" % int(time.time()))
            except OSError:
                pass
    for s in conns:
        s.close()


def flood():
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    while time.time() < deadline:
        s.sendall(b"GET /made-up/%s HTTP/1.1\r\nHost: x\r\n\r\n" % uuid.uuid4().hex.encode())
        stats["flood_sent"] += 1
        status = f.readline()
        length = 0
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        f.read(length)
        if status.startswith(b"HTTP/1.1 404"):
            stats["flood_answered_404"] += 1
        else:
            stats["flood_other"] += 1
            s.close()
            s = socket.create_connection(("127.0.0.1", port))
            f = s.makefile("rb")
    s.close()


def probe():
    """GET /healthz on a new connection twice a second: what a load balancer would see."""
    while time.time() < deadline:
        t0 = time.time()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                ok = s.recv(4096).startswith(b"HTTP/1.1 200")
        except OSError:
            ok = False
        stats["health_probes"] += 1
        stats["health_failures"] += 0 if ok else 1
        stats["health_max_ms"] = max(stats["health_max_ms"], round((time.time() - t0) * 1e3, 2))
        time.sleep(0.5)


threads = [threading.Thread(target=f) for f in (slowloris, flood, probe)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(stats))
