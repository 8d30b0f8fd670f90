"""test_http.py: black-box tests of parleyd's HTTP server over raw sockets: static files (MIME types,
ETag/304, precompressed .gz, HEAD, index.html, 404), path traversal attempts (raw and encoded dots, encoded
slashes, double encoding, a symlink leaving the web root), limits (431, 413, 408 for a stalled client, 400
for garbage while others are still served), keep-alive and pipelining, /healthz, /metrics, XEP-0156
host-meta, CORS preflight, and X-Forwarded-For honoured only from a trusted proxy."""
import gzip
import json
import os
import re
import socket
import time

import pytest

from harness import SLOW, Server

SECRET = b"top secret outside the web root\n"


def request(port, data, timeout=10):
    """Sends raw bytes; returns everything the server sends until it closes (or the timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
    s.sendall(data)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    s.close()
    return out


class Conn:
    """A keep-alive connection that reads responses one by one."""

    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def response(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = 0 if head or status in (204, 304) else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed(self, timeout=5):
        self.s.settimeout(timeout * SLOW)
        try:
            return self.s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.s.close()


def get(port, path, headers=None, method="GET"):
    c = Conn(port)
    h = {"Host": "localhost"}
    h.update(headers or {})
    c.send(("%s %s HTTP/1.1\r\n%s\r\n" % (method, path, "".join("%s: %s\r\n" % kv for kv in h.items())))
           .encode())
    r = c.response(head=(method == "HEAD"))
    c.close()
    return r


def parse_one(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


@pytest.fixture(scope="module")
def web():
    srv = Server(["limits.c2s_rate=0", "http.max_header_size=2048", "http.max_body_size=1024",
                  "http.cors_origins=https://good.example", "http.trusted_proxies=127.0.0.1"])
    root = srv.web_root
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<!doctype html><title>parley</title>")
    with open(os.path.join(root, "app.js"), "w") as f:
        f.write("console.log('hello');\n" * 200)
    with open(os.path.join(root, "app.js.gz"), "wb") as f:
        f.write(gzip.compress(b"console.log('hello');\n" * 200))
    with open(os.path.join(root, "style.css"), "w") as f:
        f.write("body { color: red }\n")
    with open(os.path.join(root, "logo.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with open(os.path.join(root, "big.wasm"), "wb") as f:
        f.write(os.urandom(3 * 1024 * 1024 + 17))
    os.makedirs(os.path.join(root, "sub"))
    with open(os.path.join(root, "sub", "index.html"), "w") as f:
        f.write("sub index")
    with open(os.path.join(srv.dir, "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.symlink(os.path.join(srv.dir, "secret.txt"), os.path.join(root, "leak.txt"))
    os.symlink(srv.dir, os.path.join(root, "updir"))
    os.symlink(os.path.join(root, "style.css"), os.path.join(root, "inside.css"))
    srv.start()
    yield srv
    srv.stop()


def test_static_file_and_headers(web):
    status, h, body = get(web.http_port, "/style.css")
    assert status == 200
    assert h["content-type"] == "text/css; charset=utf-8"
    assert body == b"body { color: red }\n"
    assert h["server"] == "parley"
    assert re.match(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", h["date"])
    assert "default-src 'self'" in h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "SAMEORIGIN"
    assert get(web.http_port, "/logo.png")[1]["content-type"] == "image/png"
    assert get(web.http_port, "/app.js")[1]["content-type"].startswith("text/javascript")


def test_etag_and_304(web):
    status, h, body = get(web.http_port, "/style.css")
    etag = h["etag"]
    assert etag.startswith('"')
    status, h2, body = get(web.http_port, "/style.css", {"If-None-Match": etag})
    assert status == 304 and body == b"" and h2["etag"] == etag
    status, _, _ = get(web.http_port, "/style.css", {"If-None-Match": '"other", ' + etag})
    assert status == 304
    status, _, body = get(web.http_port, "/style.css", {"If-None-Match": '"nope"'})
    assert status == 200 and body


def test_gzip_sibling(web):
    plain = b"console.log('hello');\n" * 200
    status, h, body = get(web.http_port, "/app.js", {"Accept-Encoding": "gzip, deflate"})
    assert status == 200
    assert h["content-encoding"] == "gzip"
    assert "Accept-Encoding" in h["vary"]
    assert gzip.decompress(body) == plain
    status, h, body = get(web.http_port, "/app.js")
    assert "content-encoding" not in h and body == plain
    status, h, body = get(web.http_port, "/app.js", {"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in h and body == plain
    # no .gz sibling: served as is
    status, h, body = get(web.http_port, "/style.css", {"Accept-Encoding": "gzip"})
    assert "content-encoding" not in h


def test_head_then_get_on_one_connection(web):
    c = Conn(web.http_port)
    c.send(b"HEAD /style.css HTTP/1.1\r\nHost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    status, h, body = c.response(head=True)
    assert status == 200 and h["content-length"] == "20"
    status, h, body = c.response()  # would fail if HEAD had sent a body
    assert status == 200 and json.loads(body) == {"status": "ok"}
    c.close()


def test_index_and_directories(web):
    status, h, body = get(web.http_port, "/")
    assert status == 200 and body.startswith(b"<!doctype html>") and h["content-type"].startswith("text/html")
    assert get(web.http_port, "/sub/")[2] == b"sub index"
    status, h, _ = get(web.http_port, "/sub")
    assert status == 301 and h["location"] == "/sub/"
    assert get(web.http_port, "/sub/../sub/./index.html")[2] == b"sub index"


def test_not_found(web):
    status, h, body = get(web.http_port, "/missing.js")
    assert status == 404
    assert json.loads(body)["error"] == "not-found"
    assert h["content-type"] == "application/json"


@pytest.mark.parametrize("path", [
    "/../etc/passwd", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E/secret.txt",
    "/..%2Fsecret.txt", "/sub/..%2f..%2fsecret.txt", "/%252e%252e/secret.txt", "/..\\secret.txt",
    "/%5c..%5csecret.txt", "/app.js%00.css", "/leak.txt", "/updir/secret.txt", "/updir/parley.ini",
])
def test_traversal_is_404(web, path):
    raw = request(web.http_port, ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path)
                  .encode())
    status, _, body = parse_one(raw)
    assert status in (400, 404), raw[:200]
    assert SECRET not in raw and b"root:" not in raw and b"color: red" not in raw


def test_symlink_inside_root_is_served(web):
    status, _, body = get(web.http_port, "/inside.css")
    assert status == 200 and body == b"body { color: red }\n"


def test_big_file_streamed(web):
    with open(os.path.join(web.web_root, "big.wasm"), "rb") as f:
        want = f.read()
    status, h, body = get(web.http_port, "/big.wasm")
    assert status == 200 and h["content-type"] == "application/wasm"
    assert int(h["content-length"]) == len(want) and body == want


def test_oversized_headers_431(web):
    raw = request(web.http_port, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n")
    assert parse_one(raw)[0] == 431
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(300))
    raw = request(web.http_port, b"GET / HTTP/1.1\r\nHost: localhost\r\n" + many + b"\r\n")
    assert parse_one(raw)[0] == 431


def test_oversized_body_413(web):
    # refused from Content-Length, before the body is sent
    raw = request(web.http_port, b"POST /http-bind HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n")
    assert parse_one(raw)[0] == 413
    chunk = b"400\r\n" + b"x" * 0x400 + b"\r\n"
    raw = request(web.http_port, b"POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" +
                  chunk * 3 + b"0\r\n\r\n")
    assert parse_one(raw)[0] == 413
    # within the limit: not 413 (no route for POST /x: 404)
    raw = request(web.http_port, b"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n"
                  b"Connection: close\r\n\r\n0123456789")
    assert parse_one(raw)[0] == 404


def test_malformed_400_and_others_served(web):
    for garbage in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /\x01x HTTP/1.1\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n",
                    b"GET /%zz HTTP/1.1\r\nHost: localhost\r\n\r\n"):
        c = Conn(web.http_port)
        c.send(garbage)
        status, _, _ = c.response()
        assert status == 400, garbage
        assert c.closed()
        c.close()
    assert get(web.http_port, "/healthz")[0] == 200


def test_keepalive_and_pipelining(web):
    c = Conn(web.http_port)
    c.send(b"GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert c.response()[0] == 200
    c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    status, h, _ = c.response()
    assert status == 200 and h["connection"] == "keep-alive"
    # three pipelined requests in one write, answered in order
    c.send(b"GET /sub/ HTTP/1.1\r\nHost: localhost\r\n\r\n"
           b"GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\n"
           b"GET /style.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    r1, r2, r3 = c.response(), c.response(), c.response()
    assert (r1[0], r1[2]) == (200, b"sub index")
    assert r2[0] == 404
    assert r3[0] == 200 and r3[1]["connection"] == "close" and r3[2].startswith(b"body")
    assert c.closed()
    c.close()


def test_healthz_and_metrics(web):
    status, h, body = get(web.http_port, "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, h, body = get(web.http_port, "/metrics")
    assert status == 200 and h["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    for name in ("parley_http_requests_total", "parley_http_connections", "parley_loop_lag_seconds",
                 'parley_xmpp_connections{transport="tcp"}', "parley_xmpp_sessions",
                 "parley_xmpp_stanzas_in_total", "parley_xmpp_stanzas_out_total",
                 "parley_xmpp_auth_failures_total"):
        assert re.search(r"^%s [0-9.e+-]+$" % re.escape(name), text, re.M), name
    assert "# TYPE parley_http_requests_total counter" in text
    n = int(re.search(r"^parley_http_requests_total (\d+)$", text, re.M).group(1))
    assert n >= 2


def test_host_meta(web):
    status, h, body = get(web.http_port, "/.well-known/host-meta", {"Host": "chat.example.test:8443"})
    assert status == 200 and h["content-type"].startswith("application/xrd+xml")
    import xml.etree.ElementTree as ET
    root = ET.fromstring(body)
    links = {ln.get("rel"): ln.get("href") for ln in root}
    assert links["urn:xmpp:alt-connections:websocket"] == "ws://chat.example.test:8443/xmpp-websocket"
    assert links["urn:xmpp:alt-connections:xbosh"] == "http://chat.example.test:8443/http-bind"
    status, h, body = get(web.http_port, "/.well-known/host-meta.json", {"Host": "chat.example.test"})
    assert status == 200 and h["content-type"] == "application/json"
    links = {ln["rel"]: ln["href"] for ln in json.loads(body)["links"]}
    assert links["urn:xmpp:alt-connections:websocket"] == "ws://chat.example.test/xmpp-websocket"
    assert links["urn:xmpp:alt-connections:xbosh"] == "http://chat.example.test/http-bind"
    # X-Forwarded-Proto from the trusted proxy (127.0.0.1 here) switches the schemes
    _, _, body = get(web.http_port, "/.well-known/host-meta.json",
                     {"Host": "chat.example.test", "X-Forwarded-Proto": "https"})
    links = {ln["rel"]: ln["href"] for ln in json.loads(body)["links"]}
    assert links["urn:xmpp:alt-connections:websocket"] == "wss://chat.example.test/xmpp-websocket"
    assert get(web.http_port, "/.well-known/host-meta", {"Host": "evil'><x"})[0] == 400


def test_cors(web):
    pre = {"Origin": "https://good.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type"}
    status, h, _ = get(web.http_port, "/http-bind", pre, method="OPTIONS")
    assert status == 204
    assert h["access-control-allow-origin"] == "https://good.example"
    assert "POST" in h["access-control-allow-methods"]
    assert h["access-control-allow-headers"] == "content-type"
    pre["Origin"] = "https://evil.example"
    status, h, _ = get(web.http_port, "/http-bind", pre, method="OPTIONS")
    assert status == 403 and "access-control-allow-origin" not in h
    status, h, _ = get(web.http_port, "/healthz", {"Origin": "https://good.example"})
    assert h["access-control-allow-origin"] == "https://good.example"
    status, h, _ = get(web.http_port, "/healthz", {"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in h


def test_forwarded_for_from_trusted_proxy(web):
    get(web.http_port, "/healthz?trusted", {"X-Forwarded-For": "198.51.100.9, 203.0.113.7, 127.0.0.1"})
    deadline = time.time() + 5 * SLOW
    while "GET /healthz 200 from 203.0.113.7" not in web.log() and time.time() < deadline:
        time.sleep(0.05)
    assert "http: GET /healthz 200 from 203.0.113.7" in web.log()


def test_forwarded_for_ignored_from_untrusted_peer(fresh_server):
    srv = fresh_server()
    assert get(srv.http_port, "/healthz", {"X-Forwarded-For": "203.0.113.8"})[0] == 200
    deadline = time.time() + 5 * SLOW
    while "GET /healthz 200 from" not in srv.log() and time.time() < deadline:
        time.sleep(0.05)
    log = srv.log()
    assert "http: GET /healthz 200 from 127.0.0.1" in log
    assert "203.0.113.8" not in log


def test_slow_client_408(fresh_server):
    srv = fresh_server(["http.request_timeout=1"])
    c = Conn(srv.http_port, timeout=15)
    start = time.time()
    c.send(b"GET /index.ht")  # half a request line, then nothing
    other = get(srv.http_port, "/healthz")  # meanwhile others are served
    assert other[0] == 200
    status, h, body = c.response()
    elapsed = time.time() - start
    assert status == 408 and h["connection"] == "close"
    assert 0.8 <= elapsed < 5 * SLOW
    assert c.closed()
    c.close()
    # a slow body counts too
    c = Conn(srv.http_port, timeout=15)
    c.send(b"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc")
    assert c.response()[0] == 408
    c.close()


def test_http_disabled(fresh_server):
    srv = fresh_server(["http.port=0"])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.http_port), timeout=2).close()
