#!/usr/bin/python3
"""Raw-socket attacks on kc-gateway's protocol layer, one per subcommand.

Run by protocol_test.sh against a live stack on loopback; each subcommand
prints one line per case ("ok ..." or "FAIL ...") and exits 1 if any case
failed. Only the standard library: the HTTP/2 client here writes its frames
by hand (a zero window is something no ready-made client will do on
purpose), and HPACK is used in its simplest form (static table indices and
literals without Huffman coding).

    upgrade PORT TOKEN       h2c Upgrade in many spellings: never a 101,
                             never an HTTP/2 frame, never the API token
    te PORT                  Transfer-Encoding variants: 400, then closed
    lf PORT                  bare LF/CR line ends, folded lines: 400, closed
    trailers PORT TOKEN      Authorization / identity in chunked trailers:
                             no effect
    zero-window PORT PATH TIMEOUT_MS [TOKEN]
                             HTTP/2 client with SETTINGS_INITIAL_WINDOW_SIZE
                             0 asking for PATH: disconnected after the write
                             timeout, while other clients are served
    never-read PORT PATH SIZE TIMEOUT_MS
                             HTTP/1.1 client that never reads a SIZE-byte
                             answer: disconnected, the rest never sent
    cap PORT N               past max_connections (N): a 503 whose
                             Content-Length is its body's length
"""
import json
import re
import socket
import struct
import sys
import threading
import time
import urllib.request

failures = 0


def ok(name):
    print("ok   " + name, flush=True)


def fail(name, why=""):
    global failures
    failures += 1
    print("FAIL " + name + (": " + why if why else ""), flush=True)


def expect(cond, name, why=""):
    if cond:
        ok(name)
    else:
        fail(name, why)


def connect(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def read_all(s, limit=10.0):
    """Reads until the peer closes or `limit` seconds pass. Returns
    (bytes, closed)."""
    data = b""
    deadline = time.monotonic() + limit
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def exchange(port, raw, limit=10.0):
    s = connect(port)
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data, closed = read_all(s, limit)
    s.close()
    return data, closed


def statuses(data):
    """The status codes of the HTTP/1.x answers in `data`, in order (an
    answer's head follows the previous body with no line break between)."""
    return [m.decode("ascii") for m in re.findall(rb"HTTP/1\.[01] ([0-9]{3}) ", data)]


def has_h2_frames(data):
    """True if the bytes carry an HTTP/2 server SETTINGS frame: a 9-byte
    frame header of type 4 on stream 0 right at the start or right after an
    HTTP/1.1 answer's head (what a switch to HTTP/2 would send first)."""
    starts = [0]
    i = data.find(b"\r\n\r\n")
    while i >= 0:
        starts.append(i + 4)
        i = data.find(b"\r\n\r\n", i + 4)
    for at in starts:
        hd = data[at:at + 9]
        if len(hd) == 9 and hd[3] == 4 and struct.unpack(">I", hd[5:9])[0] == 0 and hd[0] == 0:
            return True
    return False


# ---- HTTP/2 by hand ----

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def hpack_int(value, prefix_bits, first):
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    """Literal header field without indexing, new name, no Huffman."""
    return (b"\x00" + hpack_int(len(name), 7, 0) + name + hpack_int(len(value), 7, 0) + value)


def hpack_request(path, authority=b"127.0.0.1", extra=()):
    # :method GET (static 2), :scheme http (static 6) are indexed; :path and
    # :authority are literals with an indexed name (4 and 1).
    block = b"\x82\x86"
    block += b"\x04" + hpack_int(len(path), 7, 0) + path
    block += b"\x01" + hpack_int(len(authority), 7, 0) + authority
    for n, v in extra:
        block += hpack_literal(n, v)
    return block


def h2_frames(data):
    """Splits bytes into (type, flags, stream, payload) frames."""
    out = []
    while len(data) >= 9:
        n = struct.unpack(">I", b"\x00" + data[:3])[0]
        if len(data) < 9 + n:
            break
        out.append((data[3], data[4], struct.unpack(">I", data[5:9])[0] & 0x7FFFFFFF, data[9:9 + n]))
        data = data[9 + n:]
    return out


# ---- checks ----

def check_upgrade(port, token):
    tok = token.encode()
    settings = b"AAMAAABkAAQAAP__"
    auth = b"Authorization: Bearer " + tok + b"\r\n"
    variants = {
        "canonical": b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n",
        "lower case": b"connection: upgrade, http2-settings\r\nupgrade: h2c\r\nhttp2-settings: " + settings + b"\r\n",
        "upper case": b"CONNECTION: UPGRADE, HTTP2-SETTINGS\r\nUPGRADE: H2C\r\nHTTP2-SETTINGS: " + settings + b"\r\n",
        "Connection without HTTP2-Settings": b"Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n",
        "no Connection": b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n",
        "no HTTP2-Settings": b"Connection: Upgrade\r\nUpgrade: h2c\r\n",
        "duplicate Upgrade": b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nUpgrade: h2c\r\nHTTP2-Settings: "
        + settings + b"\r\n",
        "duplicate HTTP2-Settings": b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: "
        + settings + b"\r\nHTTP2-Settings: " + settings + b"\r\n",
        "two Connection headers": b"Connection: keep-alive\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: "
        + settings + b"\r\n",
        "list of protocols": b"Connection: Upgrade\r\nUpgrade: foo/2, h2c\r\nHTTP2-Settings: " + settings + b"\r\n",
        "h2c spelled with spaces": b"Connection: Upgrade\r\nUpgrade:   h2c  \r\nHTTP2-Settings: " + settings + b"\r\n",
        "websocket": b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n",
    }
    # Inside a tunnel the attacker would ask for the token with a spoofed
    # identity; sent right behind the upgrade request, as a client that
    # expects the switch would.
    h2_attack = (PREFACE + frame(4, 0, 0) +
                 frame(1, 0x5, 1, hpack_request(b"/oauth/api/claude/auth/token",
                                                extra=[(b"x-auth-request-user", b"mallory"),
                                                       (b"x-auth-request-email", b"m@example.com")])))
    for name, hdrs in variants.items():
        for target in (b"/api/claude/tasks", b"/oauth/api/claude/auth/token"):
            head = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + hdrs
            if target.startswith(b"/api/"):
                head += auth
            data, _ = exchange(port, head + b"\r\n" + h2_attack, 5)
            st = statuses(data)
            case = "upgrade (%s) to %s" % (name, target.decode())
            if not st:
                fail(case, "no HTTP/1.1 answer: %r" % data[:200])
            elif "101" in st:
                fail(case, "switched protocols")
            elif has_h2_frames(data) or b"HTTP/1.1" not in data[:9]:
                fail(case, "HTTP/2 bytes in the answer")
            elif target.startswith(b"/oauth/") and tok in data:
                fail(case, "the token came back")
            elif target.startswith(b"/api/") and st[0] != "200":
                fail(case, "the plain HTTP/1.1 answer was %s, want 200" % st[0])
            else:
                ok(case)


def bad_request_closes(port, name, raw):
    """Sends `raw` followed by a harmless pipelined request: exactly one
    answer, a 400, and the connection closed."""
    data, closed = exchange(port, raw + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 8)
    st = statuses(data)
    if st != ["400"]:
        fail(name, "answers %s, want [400]: %r" % (st, data[:300]))
    elif not closed:
        fail(name, "the connection stayed open")
    else:
        ok(name)


def check_te(port):
    body = b"5\r\nhello\r\n0\r\n\r\n"
    variants = {
        "identity, chunked": b"Transfer-Encoding: identity, chunked\r\n",
        "chunked, chunked": b"Transfer-Encoding: chunked, chunked\r\n",
        "two headers": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "two headers, cases differ": b"Transfer-Encoding: chunked\r\ntransfer-encoding: chunked\r\n",
        "gzip": b"Transfer-Encoding: gzip\r\n",
        "gzip, chunked": b"Transfer-Encoding: gzip, chunked\r\n",
        "chunked with a parameter": b"Transfer-Encoding: chunked;foo=bar\r\n",
        "trailing comma": b"Transfer-Encoding: chunked,\r\n",
        "leading comma": b"Transfer-Encoding: , chunked\r\n",
        "trailing space": b"Transfer-Encoding: chunked \r\n",
        "trailing tab": b"Transfer-Encoding: chunked\t\r\n",
        "quoted": b"Transfer-Encoding: \"chunked\"\r\n",
        "empty": b"Transfer-Encoding:\r\n",
        "space before the colon": b"Transfer-Encoding : chunked\r\n",
        "folded": b"Transfer-Encoding: identity\r\n ,chunked\r\n",
        "with Content-Length": b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length after": b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
    }
    for name, hdr in variants.items():
        raw = b"POST /api/claude/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + hdr + b"\r\n" + body
        bad_request_closes(port, "Transfer-Encoding %s: 400 and closed" % name, raw)
    bad_request_closes(port, "Transfer-Encoding in HTTP/1.0: 400 and closed",
                       b"POST /api/claude/tasks HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    # The control: exactly chunked is fine.
    data, _ = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                       b"Connection: close\r\n\r\n0\r\n\r\n", 8)
    expect(statuses(data) and statuses(data)[0] != "400", "Transfer-Encoding: chunked is accepted",
           repr(data[:200]))


def check_lf(port):
    variants = {
        "request line": b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\r\n\r\n",
        "header line": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\n\r\n",
        "blank line": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\n",
        "every line": b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n",
        "bare CR": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\rX-A: b\r\n\r\n",
        "CR CR LF": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\r\n\r\n",
        "folded header": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n b\r\n\r\n",
        "folded with a tab": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n\tb\r\n\r\n",
        "LF before the request": b"\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "chunk size line": b"POST /api/claude/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\nhello\r\n0\r\n\r\n",
        "after chunk data": b"POST /api/claude/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\n0\r\n\r\n",
        "last chunk": b"POST /api/claude/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\n",
        "trailer line": b"POST /api/claude/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nX-T: 1\n\r\n",
    }
    for name, raw in variants.items():
        bad_request_closes(port, "bare line end (%s): 400 and closed" % name, raw)
    # In the second of two pipelined requests: the first is answered.
    data, closed = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                            b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\r\n\r\n", 8)
    expect(len(statuses(data)) == 2 and statuses(data)[1] == "400" and closed,
           "bare LF in a pipelined request: the first answered, then 400 and closed", repr(statuses(data)))


def check_trailers(port, token):
    tok = token.encode()

    def count_tasks():
        req = urllib.request.Request("http://127.0.0.1:%d/api/claude/tasks" % port,
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=10) as r:
            return len(json.load(r)["tasks"])

    before = count_tasks()
    body = b'{"prompt":"trailer attack"}'
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n"
    cases = {
        "Authorization on create": (
            b"POST /api/claude/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked +
            b"Authorization: Bearer " + tok + b"\r\n\r\n", ("401", "403")),
        "authorization (lower case) on create": (
            b"POST /api/claude/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked +
            b"authorization: Bearer " + tok + b"\r\n\r\n", ("401", "403")),
        "X-Auth-Request-User on the token route": (
            b"POST /oauth/api/claude/auth/token/regenerate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"2\r\n{}\r\n0\r\nX-Auth-Request-User: mallory\r\nX-Auth-Request-Email: m@example.com\r\n\r\n",
            ("400", "401", "403", "404", "415", "421")),
        "X-Auth-Request-User and Authorization on a read": (
            b"GET /oauth/api/claude/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n0\r\nX-Auth-Request-User: mallory\r\nAuthorization: Bearer " + tok +
            b"\r\n\r\n", ("400", "401", "403", "404", "415", "421")),
    }
    for name, (raw, allowed) in cases.items():
        data, _ = exchange(port, raw, 8)
        st = statuses(data)
        body_at = data.find(b"\r\n\r\n")
        answer_body = data[body_at + 4:] if body_at >= 0 else b""
        if not st or st[0] not in allowed:
            fail("trailer %s has no effect" % name, "answer %s, want one of %s: %r" % (st, allowed, data[:300]))
        elif tok in answer_body:
            fail("trailer %s has no effect" % name, "the token came back")
        else:
            ok("trailer %s has no effect" % name)
    expect(count_tasks() == before, "no task was created through a trailer")
    # The token still works (regenerate was refused).
    req = urllib.request.Request("http://127.0.0.1:%d/api/claude/tasks" % port, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        expect(r.status == 200, "the token was not regenerated")


def served_quickly(port):
    """Another client is served while the stuck one waits."""
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=5) as r:
            r.read()
            return r.status == 200 and time.monotonic() - t0 < 5
    except OSError:
        return False


def check_zero_window(port, path, timeout_ms, token):
    timeout = timeout_ms / 1000.0
    s = connect(port)
    extra = [(b"authorization", b"Bearer " + token.encode())] if token else []
    # SETTINGS_INITIAL_WINDOW_SIZE (4) = 0, and never a WINDOW_UPDATE.
    s.sendall(PREFACE + frame(4, 0, 0, struct.pack(">HI", 4, 0)) +
              frame(1, 0x5, 1, hpack_request(path.encode(), extra=extra)))
    t0 = time.monotonic()
    got = b""
    closed = False
    others_ok = True
    acked = False
    checked_others = 0
    while time.monotonic() - t0 < timeout * 3 + 10:
        s.settimeout(0.5)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            chunk = None
        except ConnectionResetError:
            closed = True
            break
        if chunk == b"":
            closed = True
            break
        if chunk:
            got += chunk
            if not acked and any(f[0] == 4 and not f[1] & 1 for f in h2_frames(got)):
                s.sendall(frame(4, 1, 0))
                acked = True
        # Meanwhile, the gateway serves others.
        if checked_others < 3 and time.monotonic() - t0 > timeout * checked_others / 3:
            others_ok = others_ok and served_quickly(port)
            checked_others += 1
    elapsed = time.monotonic() - t0
    s.close()
    frames = h2_frames(got)
    headers = [f for f in frames if f[0] == 1 and f[2] == 1]
    data = sum(len(f[3]) for f in frames if f[0] == 0)
    goaway = [f for f in frames if f[0] == 7]
    expect(headers, "zero window %s: the answer's HEADERS arrived" % path, "frames: %r" % [f[:3] for f in frames])
    expect(data == 0, "zero window %s: no DATA beyond the window" % path, "%d DATA bytes" % data)
    expect(closed, "zero window %s: disconnected" % path, "still open after %.1f s" % elapsed)
    expect(timeout * 0.9 <= elapsed <= timeout * 2 + 5,
           "zero window %s: after the write timeout (%.1f s for %.1f s)" % (path, elapsed, timeout),
           "" if not goaway else "GOAWAY %r" % goaway[0][3][:8])
    expect(others_ok and checked_others > 0, "zero window %s: other clients served meanwhile" % path)


def check_never_read(port, path, size, timeout_ms):
    timeout = timeout_ms / 1000.0
    s = connect(port, rcvbuf=4096)
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    # Not reading for well past the timeout, while others are served.
    t0 = time.monotonic()
    others_ok = True
    while time.monotonic() - t0 < timeout * 3 + 1:
        others_ok = others_ok and served_quickly(port)
        time.sleep(0.3)
    # Still without reading: bytes sent to a socket the gateway closed are
    # answered with a reset, which is how the closing shows here (reading
    # the rest first would be progress, and slow through a 4 KiB window).
    closed = False
    got = 0
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            s.settimeout(5)
            chunk = s.recv(1 << 20)
            if not chunk:
                closed = True
                break
            got += len(chunk)
            if got > size + 1000:
                break
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    except socket.timeout:
        pass
    s.close()
    expect(others_ok, "never-read client: other clients served meanwhile")
    expect(closed, "never-read client: disconnected")
    expect(got < size, "never-read client: the rest of the answer was not sent (%d of %d bytes arrived)" % (got, size))


def check_cap(port, n):
    held = []
    for _ in range(n):
        s = connect(port)
        held.append(s)
    # The held ones are accepted (a request on each proves it).
    for s in held:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    for s in held:
        s.settimeout(10)
        s.recv(65536)
    for i in range(3):
        data, closed = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 8)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        clen = [int(l.split(b":", 1)[1]) for l in lines[1:] if l.lower().startswith(b"content-length:")]
        name = "connection cap: answer %d" % (i + 1)
        if not lines[0].startswith(b"HTTP/1.1 503"):
            fail(name + " is 503", repr(data[:200]))
            continue
        ok(name + " is 503")
        expect(clen == [len(body)], name + ": Content-Length is the body's length",
               "Content-Length %s, body %d bytes" % (clen, len(body)))
        try:
            expect(json.loads(body).get("error"), name + ": the body is a JSON error")
        except ValueError:
            fail(name + ": the body is a JSON error", repr(body))
        expect(closed, name + ": then closed")
    for s in held:
        s.close()


def main():
    cmd = sys.argv[1]
    port = int(sys.argv[2])
    if cmd == "upgrade":
        check_upgrade(port, sys.argv[3])
    elif cmd == "te":
        check_te(port)
    elif cmd == "lf":
        check_lf(port)
    elif cmd == "trailers":
        check_trailers(port, sys.argv[3])
    elif cmd == "zero-window":
        check_zero_window(port, sys.argv[3], int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else "")
    elif cmd == "never-read":
        check_never_read(port, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "cap":
        check_cap(port, int(sys.argv[3]))
    else:
        print("unknown check " + cmd)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
