#!/usr/bin/python3
"""A local stand-in for the workspace's auth proxy (oauth2-proxy), for tests
and `KC_OAUTH_STANDIN=1 make run`.

It listens on loopback only, drops every identity header the client sent
(X-Auth-Request-*, X-Forwarded-User/-Email/-Groups/-Preferred-Username),
sets its own (--user-header/--email-header, default X-Auth-Request-User and
-Email), and forwards the request to kc-gateway's identity listener
(gateway.oauth_listen), a unix socket or a loopback port. Host is passed on
as the client sent it, as oauth2-proxy does (--pass-host-header), so the
gateway's Host allow-list and CSRF checks see the browser's view.
Answers stream back as they arrive (SSE works through it).

It authenticates no one: whoever can connect to its port is "signed in".
That is the point of a stand-in, and why it only ever binds loopback.

    oauth-standin.py --upstream unix:/path/oauth.sock [--listen 127.0.0.1:0]
                     [--user standin] [--email standin@localhost]
                     [--port-file FILE]

Prints "listening on HOST:PORT" once ready (and writes the port to
--port-file). Python 3 standard library only.
"""
import argparse
import http.client
import http.server
import ipaddress
import os
import socket
import socketserver
import sys

# What a client may never send through the proxy: the proxy's own headers.
IDENTITY = {
    "x-auth-request-user", "x-auth-request-email", "x-auth-request-preferred-username",
    "x-auth-request-groups", "x-auth-request-access-token", "x-forwarded-user",
    "x-forwarded-email", "x-forwarded-groups", "x-forwarded-preferred-username",
    "x-forwarded-access-token",
}
# Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's, not the request's.
HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
       "upgrade", "http2-settings"}


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def upstream_connection(target, timeout):
    if target.startswith("unix:"):
        return UnixHTTPConnection(target[5:], timeout)
    host, _, port = target.rpartition(":")
    return http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kc-oauth-standin"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("oauth-standin: " + (fmt % args) + "\n")

    def forward(self):
        opts = self.server.opts
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.send_error(411, "send a Content-Length")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = []
        for name, value in self.headers.items():
            low = name.lower()
            if low in IDENTITY or low in HOP or low == "content-length":
                continue
            headers.append((name, value))
        headers.append((opts.user_header, opts.user))
        headers.append((opts.email_header, opts.email))
        conn = upstream_connection(opts.upstream, opts.timeout)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            self.send_error(502, "the gateway's oauth listener is not reachable: %s" % e)
            return
        try:
            self.relay(resp)
        finally:
            conn.close()

    def relay(self, resp):
        self.send_response_only(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        for name, value in resp.getheaders():
            if name.lower() in HOP or name.lower() == "content-length":
                continue
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", length)
        else:
            # A stream (SSE, NDJSON): the end of the connection ends it.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            self.wfile.write(chunk)
            self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True, help="unix:/path or 127.0.0.1:PORT (the gateway's oauth_listen)")
    p.add_argument("--listen", default="127.0.0.1:0", help="loopback HOST:PORT (default 127.0.0.1:0)")
    p.add_argument("--user", default="standin")
    p.add_argument("--email", default="standin@localhost")
    p.add_argument("--user-header", default="X-Auth-Request-User")
    p.add_argument("--email-header", default="X-Auth-Request-Email")
    p.add_argument("--port-file")
    p.add_argument("--timeout", type=float, default=3600.0, help="upstream socket timeout, seconds")
    p.add_argument("--verbose", action="store_true")
    opts = p.parse_args()

    host, _, port = opts.listen.rpartition(":")
    host = host.strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        sys.exit("oauth-standin: --listen must be a loopback address (it signs everyone in)")
    Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = Server((host, int(port)), Handler)
    srv.opts = opts
    srv.verbose = opts.verbose
    bound = srv.server_address[1]
    if opts.port_file:
        with open(opts.port_file + ".tmp", "w") as fh:
            fh.write("%d\n" % bound)
        os.replace(opts.port_file + ".tmp", opts.port_file)
    print("listening on %s:%d" % (host, bound), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
