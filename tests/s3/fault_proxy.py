#!/usr/bin/python3
"""Fault-injecting HTTPS reverse proxy for S3 retry tests (Python 3 stdlib only).

Listens with TLS (1.2 or newer) on 127.0.0.1:PORT, speaks HTTP/1.1 with keep-alive to the client
and forwards every request unchanged (method, raw target, Host and all other end-to-end headers,
body) to a plain-HTTP upstream, normally Ceph RGW. Per request it may instead inject one fault:

  reset     close the client connection with an RST (SO_LINGER 0) before forwarding
  error503  answer 503 SlowDown without forwarding
  late503   forward the request (so it takes effect upstream) but answer 503 SlowDown anyway
  stall     hold the request for --stall-seconds without answering, then RST

One log line per request goes to --log; --stats is a JSON file with counters, rewritten
atomically after each request is classified. Started and stopped (by pid) by services.sh;
SIGTERM or SIGINT ends it at once.
"""

import argparse
import http.client
import http.server
import json
import os
import random
import socket
import ssl
import struct
import sys
import threading
import time

FAULTS = ("reset", "error503", "late503", "stall")
# Headers that describe one connection rather than the request; never forwarded as they are.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade"}
COPY_BLOCK = 1 << 20
MAX_BUFFERED_BODY = 64 << 20  # chunked bodies are de-chunked in memory, up to this size


class ClientError(OSError):
    """Reading the request from the client failed (it went away or sent garbage)."""


class Proxy:
    """State shared by all connection threads: options, fault dice, counters, log."""

    def __init__(self, opts):
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.lock = threading.Lock()
        self.stats = {"requests": 0, "reset": 0, "error503": 0, "late503": 0, "stall": 0,
                      "faulted": 0, "upstream_errors": 0}
        self.log_file = open(opts.log, "a", buffering=1) if opts.log else None

    def choose(self):
        """Count a new request and return the fault to inject, or None."""
        o = self.opts
        with self.lock:
            self.stats["requests"] += 1
            if self.stats["requests"] <= o.no_fault_first:
                fault = None
            else:
                r = self.rng.random()
                fault = None
                for name, p in zip(FAULTS, (o.reset, o.error503, o.late503, o.stall)):
                    if r < p:
                        fault = name
                        break
                    r -= p
            if fault:
                self.stats[fault] += 1
                self.stats["faulted"] += 1
            self.write_stats()
            return fault, self.stats["requests"]

    def count_upstream_error(self):
        with self.lock:
            self.stats["upstream_errors"] += 1
            self.write_stats()

    def write_stats(self):
        # Caller holds the lock. The rename makes readers always see a complete file.
        if not self.opts.stats:
            return
        tmp = self.opts.stats + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.stats, f)
            f.write("\n")
        os.replace(tmp, self.opts.stats)

    def log(self, line):
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + ".%03d" % (now % 1 * 1000)
        text = "%s %s\n" % (stamp, line)
        with self.lock:
            if self.log_file:
                self.log_file.write(text)
            else:
                sys.stderr.write(text)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300  # idle keep-alive connections and stuck reads end after this

    # One method for every verb S3 clients use.
    def do_any(self):
        px = self.server.proxy
        t0 = time.monotonic()
        fault, n = px.choose()
        what = fault or "-"
        try:
            if fault in ("reset", "stall"):
                if fault == "stall":
                    time.sleep(px.opts.stall_seconds)
                self.abort()
                status = fault
            elif fault == "error503":
                self.discard_body()
                self.send_slowdown(fault)
                status = "503"
            else:
                code = self.forward(discard=(fault == "late503"))
                if fault == "late503":
                    self.send_slowdown(fault)
                    status = "503 (upstream %s)" % code
                else:
                    status = str(code)
        except (OSError, http.client.HTTPException) as e:
            self.close_connection = True
            status = "error %s: %s" % (type(e).__name__, e)
        px.log("#%d %s %s fault=%s -> %s %.0fms" % (n, self.command, self.path, what, status,
                                                   (time.monotonic() - t0) * 1000))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_any

    def end_headers(self):
        if self.close_connection:  # the client asked for it (or the protocol is HTTP/1.0)
            self.send_header("Connection", "close")
        super().end_headers()

    def abort(self):
        """Make the server close this connection with an RST instead of a FIN."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def handle_expect_100(self):
        # Answer "100 Continue" only when the body is really wanted, so a reset or stall fault
        # leaves the client with nothing at all.
        self.expect_pending = True
        return True

    def body_chunks(self):
        """Yield the request body; a chunked body is collected and yielded in one piece."""
        if getattr(self, "expect_pending", False):
            self.expect_pending = False
            self.send_response_only(100)
            super().end_headers()
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                yield read_chunked(self.rfile)
                return
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                block = self.rfile.read(min(left, COPY_BLOCK))
                if not block:
                    raise ClientError("client closed during the request body")
                left -= len(block)
                yield block
        except ClientError:
            raise
        except (OSError, ValueError) as e:
            raise ClientError("reading request body: %s" % e) from e

    def discard_body(self):
        for _ in self.body_chunks():
            pass

    def send_slowdown(self, fault):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                '<Message>Please reduce your request rate. (injected: %s)</Message>'
                '<Resource>%s</Resource><RequestId>faultproxy-%d</RequestId></Error>\n'
                % (fault, xml_escape(self.path.split("?")[0]), id(self))).encode()
        self.send_response_only(503, "Slow Down")
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def forward(self, discard):
        """Send the request upstream; relay the answer unless discard. Returns upstream status."""
        opts = self.server.proxy.opts
        up = http.client.HTTPConnection(opts.upstream_host, opts.upstream_port,
                                        timeout=opts.upstream_timeout)
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        signed = signed_headers(self.headers.get("Authorization", ""))
        headers = []
        for k, v in self.headers.items():
            lk = k.lower()
            if lk in HOP_BY_HOP or (lk == "content-length" and chunked):
                continue
            # The body goes out right behind the headers, so "Expect: 100-continue" is only
            # kept when the client signed it (dropping it then would break the signature).
            if lk == "expect" and "expect" not in signed:
                continue
            headers.append((k, v))
        body = b"".join(self.body_chunks()) if chunked else None
        try:
            up.connect()
            # Headers and body go out in separate writes; without this, Nagle plus the peer's
            # delayed ACK add ~40 ms to every small request.
            up.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                up.putheader(k, v)
            if body is not None:
                up.putheader("Content-Length", str(len(body)))
            up.endheaders()
            if body is not None:
                up.send(body)
            else:
                for block in self.body_chunks():
                    up.send(block)
            resp = up.getresponse()
        except ClientError:
            up.close()
            raise  # the client went away mid-body: nobody left to answer
        except (OSError, http.client.HTTPException):
            up.close()
            self.server.proxy.count_upstream_error()
            if not discard:
                self.send_bad_gateway()
            raise
        try:
            if discard:
                resp.read()
            else:
                self.relay(resp)
            return resp.status
        finally:
            up.close()

    def relay(self, resp):
        no_body = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        has_length = any(k.lower() == "content-length" for k, _ in headers)
        buffered = None
        if not no_body and (resp.chunked or not has_length):
            # De-chunk (or read to EOF) so the client always gets a Content-Length.
            buffered = resp.read()
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(buffered))))
        self.send_response_only(resp.status, resp.reason)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if no_body:
            return
        if buffered is not None:
            self.wfile.write(buffered)
            return
        while True:
            block = resp.read(COPY_BLOCK)
            if not block:
                break
            self.wfile.write(block)

    def send_bad_gateway(self):
        body = b"<Error><Code>BadGateway</Code><Message>upstream failed</Message></Error>\n"
        self.close_connection = True
        try:
            self.send_response_only(502, "Bad Gateway")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        # Protocol errors reported by BaseHTTPRequestHandler itself (bad request lines etc.).
        self.server.proxy.log("%s %s" % (self.address_string(), fmt % args))


def read_chunked(rfile):
    parts, total = [], 0
    while True:
        line = rfile.readline(1024)
        if not line:
            raise ClientError("client closed inside a chunked body")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        total += size
        if total > MAX_BUFFERED_BODY:
            raise ClientError("chunked request body over %d bytes" % MAX_BUFFERED_BODY)
        parts.append(rfile.read(size))
        rfile.readline(3)


def signed_headers(auth):
    marker = "SignedHeaders="
    i = auth.find(marker)
    if i < 0:
        return set()
    return set(auth[i + len(marker):].split(",", 1)[0].strip().lower().split(";"))


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, proxy, tls):
        self.proxy = proxy
        self.tls = tls
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, so one slow or silent
        # client cannot hold up accept().
        request.settimeout(30)
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.proxy.log("%s:%d TLS handshake failed: %s" % (client_address + (e,)))
            request.close()
            return
        try:
            Handler(conn, client_address, self)
        except OSError:
            pass
        finally:
            conn.close()  # with SO_LINGER 0 set by a reset/stall fault this sends the RST

    def handle_error(self, request, client_address):
        self.proxy.log("%s:%d connection error: %r" % (client_address + (sys.exc_info()[1],)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the plain-HTTP server")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    for name, default in (("reset", 0.05), ("error503", 0.05), ("late503", 0.03),
                          ("stall", 0.05)):
        ap.add_argument("--" + name, type=float, default=default,
                        help="probability of a %s fault (default %s)" % (name, default))
    ap.add_argument("--stall-seconds", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--no-fault-first", type=int, default=0, metavar="N",
                    help="pass the first N requests through untouched")
    ap.add_argument("--upstream-timeout", type=float, default=300.0)
    ap.add_argument("--log", help="per-request log file (default stderr)")
    ap.add_argument("--stats", help="JSON counters file")
    opts = ap.parse_args()
    probs = (opts.reset, opts.error503, opts.late503, opts.stall)
    if any(p < 0 for p in probs) or sum(probs) > 1:
        ap.error("fault probabilities must be >= 0 and add up to at most 1")
    host, _, port = opts.upstream.rpartition(":")
    opts.upstream_host, opts.upstream_port = host, int(port)

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(opts.cert, opts.key)

    proxy = Proxy(opts)
    server = Server((opts.listen, opts.port), proxy, tls)
    proxy.log("listening on https://%s:%d -> http://%s (reset=%s error503=%s late503=%s "
              "stall=%s/%ss seed=%s no-fault-first=%d)"
              % (opts.listen, opts.port, opts.upstream, opts.reset, opts.error503,
                 opts.late503, opts.stall, opts.stall_seconds, opts.seed, opts.no_fault_first))
    # Readiness marker for services.sh: only written once the socket is bound and listening.
    if opts.stats:
        with proxy.lock:
            proxy.write_stats()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
