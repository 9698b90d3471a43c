#!/usr/bin/env python3
"""Kubernetes probes and a metrics forwarder for processor pods (standard library only).

Why this exists: ``examgate process`` serves /metrics on 127.0.0.1 only
(``stream_processors/main.py``), so neither the kubelet (httpGet probes go to the
pod IP) nor Prometheus can reach it. Containers of one pod share the loopback
interface, so:

  examgate-probe check --port 9400            exit 0 when /metrics answers 200 (exec probe)
  examgate-probe check --port 9400 --connected 9092
                                              ... and the pod holds a connection to Kafka
  examgate-probe forward --port 9400 --listen 9401
                                              re-serve GET /metrics on 0.0.0.0:9401 (sidecar)

Once the worker can bind another address (a ``--metrics-host`` option), the
sidecar and the exec probes can become plain httpGet probes and a scrape of 9400.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def fetch(port: int, timeout_s: float) -> bytes:
    """The worker's exposition text; raises OSError when it does not answer 200."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - fixed loopback URL
        return resp.read()


def established_to(remote_port: int) -> bool:
    """Whether this network namespace (the pod) has an established TCP connection to the port."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)  # header
                for line in f:
                    fields = line.split()
                    # fields[2] is rem_address as HEX_IP:HEX_PORT, fields[3] the state (01 =
                    # ESTABLISHED).
                    if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == remote_port:
                        return True
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return False


def check(port: int, timeout_s: float, connected: list[int]) -> int:
    """Exit status for an exec probe: 0 when /metrics answers (and the connections exist)."""
    try:
        fetch(port, timeout_s)
    except (OSError, urllib.error.URLError) as exc:
        print(f"metrics on 127.0.0.1:{port} unreachable: {exc}", file=sys.stderr)
        return 1
    missing = [p for p in connected if not established_to(p)]
    if missing:
        print(f"no established connection to port(s) {missing}", file=sys.stderr)
        return 1
    return 0


def forward(port: int, listen: int, timeout_s: float, host: str = "0.0.0.0") -> None:  # noqa: S104
    """Serve GET /metrics (and /healthz for the sidecar's own probe) on the pod IP until killed."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/healthz":
                self._reply(200, b"ok\n", "text/plain")
                return
            if self.path.split("?", 1)[0] != "/metrics":
                self._reply(404, b"not found\n", "text/plain")
                return
            try:
                body = fetch(port, timeout_s)
            except (OSError, urllib.error.URLError) as exc:
                # 503 makes the scrape fail, so `up` goes to 0 for a stuck worker.
                self._reply(503, f"worker metrics unreachable: {exc}\n".encode(), "text/plain")
                return
            self._reply(200, body, "text/plain; version=0.0.4; charset=utf-8")

        def _reply(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # scrapes every 15 s: keep logs quiet
            return

    ThreadingHTTPServer((host, listen), Handler).serve_forever()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one mode."""
    parser = argparse.ArgumentParser(prog="examgate-probe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    p_check = sub.add_parser("check", help="exit 0 when the worker's /metrics answers")
    p_check.add_argument("--connected", action="append", default=[], type=int, metavar="PORT",
                         help="also require an established connection to this remote port "
                              "(repeatable); the worker opens Kafka's only after its model "
                              "is loaded")
    p_fwd = sub.add_parser("forward", help="re-serve the worker's /metrics on all interfaces")
    p_fwd.add_argument("--listen", type=int, default=9401)
    for p in (p_check, p_fwd):
        p.add_argument("--port", type=int, default=9400, help="the worker's --metrics-port")
        p.add_argument("--timeout", type=float, default=2.0, help="seconds per request")
    args = parser.parse_args(argv)
    if args.mode == "check":
        return check(args.port, args.timeout, args.connected)
    forward(args.port, args.listen, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
