"""harness.py: starts the real parleyd for black-box tests and talks raw XMPP to it.

Server: a parleyd process in a temporary directory with its own config file, free loopback ports, its own
store and certificate; accounts are created with the real parleyctl. Stopping it checks that it exits 0
after SIGTERM and that no sanitizer report appeared in its log.

RawClient: a blocking socket client that writes XML text and reads top-level elements back through an
incremental parser (xml.etree's XMLPullParser), with STARTTLS, Direct TLS, SASL PLAIN/SCRAM/ANONYMOUS and
resource binding implemented from the RFCs, so tests can also send what no well-behaved client sends.
"""
import base64
import hashlib
import hmac
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

NS_STREAM = "http://etherx.jabber.org/streams"
NS_STREAM_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_CLIENT = "jabber:client"
NS_SM = "urn:xmpp:sm:3"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

BUILD = os.environ.get("PARLEY_BUILD") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
ASAN = os.environ.get("PARLEY_ASAN") == "1"
# Sanitizer builds are several times slower: every wait scales with this.
SLOW = 4 if ASAN else 1


def q(ns, name):
    return "{%s}%s" % (ns, name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One parleyd. `overrides` are extra --section.key=value settings."""

    def __init__(self, overrides=None, config_text=None):
        self.dir = tempfile.mkdtemp(prefix="parley-bb-")
        self.port = free_port()
        self.tls_port = free_port()
        # HTTP server: its own port, static files from web_root (tests write files there)
        self.http_port = free_port()
        self.web_root = os.path.join(self.dir, "web")
        os.makedirs(self.web_root)
        self.config = os.path.join(self.dir, "parley.ini")
        self.sock = os.path.join(self.dir, "var", "parley.sock")
        self.log_path = os.path.join(self.dir, "parleyd.log")
        self.proc = None
        text = config_text if config_text is not None else (
            "[daemon]\nlisten = 127.0.0.1\nc2s_port = %d\nc2s_tls_port = %d\nlog_level = info\n"
            "pid_file = %s/parleyd.pid\nadmin_socket = %s\ndata_dir = %s/var\n"
            "[hosts]\nhosts = localhost, example.test\nanonymous = anon.localhost\n"
            "[tls]\ncert = %s/var/tls/cert.pem\nkey = %s/var/tls/key.pem\n"
            "[store]\npath = %s/var/parley.db\n"
            "[http]\nport = %d\nlisten = 127.0.0.1\nweb_root = %s\n"
            % (self.port, self.tls_port, self.dir, self.sock, self.dir, self.dir, self.dir, self.dir,
               self.http_port, self.web_root))
        with open(self.config, "w") as f:
            f.write(text)
        self.overrides = ["--%s" % o for o in (overrides or [])]

    def ctl(self, *args, stdin=None, check=True):
        p = subprocess.run([os.path.join(BUILD, "parleyctl"), "--config", self.config, *self.overrides,
                            *args], input=stdin, capture_output=True, text=True, timeout=60 * SLOW,
                           cwd=self.dir)
        if check and p.returncode != 0:
            raise AssertionError("parleyctl %s failed (%d): %s%s" % (args, p.returncode, p.stdout, p.stderr))
        return p

    def adduser(self, user, password, host="localhost"):
        self.ctl("adduser", "%s@%s" % (user, host), password)

    def start(self):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([os.path.join(BUILD, "parleyd"), "--config", self.config,
                                      *self.overrides], stdout=self.logf, stderr=subprocess.STDOUT,
                                     cwd=self.dir)
        deadline = time.time() + 20 * SLOW
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("parleyd exited with %d:\n%s" % (self.proc.returncode, self.log()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("parleyd did not listen in time:\n" + self.log())

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, expect_rc=0):
        """SIGTERM, wait, and check the exit code and the log for sanitizer reports."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("parleyd did not stop within the timeout after SIGTERM")
        finally:
            self.logf.close()
        self.proc = None
        log = self.log()
        for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert bad not in log, "sanitizer report in parleyd's log:\n" + log[-6000:]
        if expect_rc is not None:
            assert rc == expect_rc, "parleyd exited with %d:\n%s" % (rc, log[-4000:])
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class ScramClient:
    """Client side of SCRAM (RFC 5802) without channel binding; messages in and out are base64."""

    def __init__(self, user, password, hashname="SHA-1"):
        self.h = {"SHA-1": hashlib.sha1, "SHA-256": hashlib.sha256}[hashname]
        self.password = password
        self.cnonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), self.cnonce)
        self.gs2 = "n,,"

    def first(self):
        return base64.b64encode((self.gs2 + self.first_bare).encode()).decode()

    def final(self, challenge_b64):
        h = self.h
        server_first = base64.b64decode(challenge_b64).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(self.cnonce)
        salt = base64.b64decode(attrs["s"])
        self.salted = hashlib.pbkdf2_hmac(h().name, self.password.encode(), salt, int(attrs["i"]))
        client_key = hmac.new(self.salted, b"Client Key", h).digest()
        stored_key = h(client_key).digest()
        final_wo = "c=%s,r=%s" % (base64.b64encode(self.gs2.encode()).decode(), attrs["r"])
        self.auth_msg = ",".join([self.first_bare, server_first, final_wo]).encode()
        sig = hmac.new(stored_key, self.auth_msg, h).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        return base64.b64encode((final_wo + ",p=" + base64.b64encode(proof).decode()).encode()).decode()

    def verify(self, success_b64):
        server_key = hmac.new(self.salted, b"Server Key", self.h).digest()
        expect = base64.b64encode(hmac.new(server_key, self.auth_msg, self.h).digest()).decode()
        return base64.b64decode(success_b64).decode() == "v=" + expect


class Closed(Exception):
    pass


class RawClient:
    def __init__(self, port, direct_tls=False, timeout=10):
        self.timeout = timeout * SLOW
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=self.timeout)
        self.tls = False
        if direct_tls:
            self._wrap_tls()
        self._new_parser()
        self.closed = False
        self.stream_attrs = None

    # ---- transport ----
    def _wrap_tls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.tls = True

    def _new_parser(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.pending = []

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            raise Closed()
        self.parser.feed(data)
        for ev, el in self.parser.read_events():
            if ev == "start":
                self.depth += 1
                if self.depth == 1:
                    self.stream_attrs = dict(el.attrib)
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.pending.append(el)
                elif self.depth == 0:
                    self.pending.append("</stream:stream>")

    def recv(self, timeout=None):
        """Next top-level element (or the string '</stream:stream>'); raises Closed on EOF and
        socket.timeout when nothing arrives in time."""
        self.sock.settimeout(self.timeout if timeout is None else timeout * SLOW)
        while not self.pending:
            self._fill()
        return self.pending.pop(0)

    def recv_until(self, pred, timeout=None):
        """Reads elements until pred(el) is true; returns (el, skipped)."""
        skipped = []
        while True:
            el = self.recv(timeout)
            if not isinstance(el, str) and pred(el):
                return el, skipped
            skipped.append(el)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def kill(self):
        """Drops the TCP connection without closing the XML stream (RST)."""
        raw = self.sock
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        raw.close()

    # ---- stream ----
    def open(self, to="localhost"):
        self._new_parser()
        self.send("<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams'>" % to)
        el = self.recv()
        assert el.tag == q(NS_STREAM, "features"), ET.tostring(el)
        self.features = el
        return el

    def mechanisms(self):
        m = self.features.find(q(NS_SASL, "mechanisms"))
        return [x.text for x in m] if m is not None else []

    def starttls(self, to="localhost"):
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.recv()
        assert el.tag == q(NS_TLS, "proceed"), ET.tostring(el)
        self._wrap_tls()
        return self.open(to)

    def stream_error(self, timeout=None):
        """Reads until a stream error; returns its condition and checks that the stream is then closed."""
        el, _ = self.recv_until(lambda e: e.tag == q(NS_STREAM, "error"), timeout)
        cond = [c.tag.split("}")[1] for c in el if c.tag.startswith("{%s}" % NS_STREAM_ERR) and
                not c.tag.endswith("}text")]
        # </stream:stream> then EOF
        try:
            while True:
                self.recv(timeout)
        except Closed:
            pass
        return cond[0] if cond else None

    # ---- SASL ----
    def auth_plain(self, user, password, authzid=""):
        blob = base64.b64encode(("%s\0%s\0%s" % (authzid, user, password)).encode()).decode()
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, blob))
        return self._sasl_result()

    def auth_anonymous(self):
        self.send("<auth xmlns='%s' mechanism='ANONYMOUS'>=</auth>" % NS_SASL)
        return self._sasl_result()

    def auth_scram(self, user, password, hashname="SHA-1"):
        sc = ScramClient(user, password, hashname)
        self.send("<auth xmlns='%s' mechanism='SCRAM-%s'>%s</auth>" % (NS_SASL, hashname, sc.first()))
        el = self.recv()
        if el.tag != q(NS_SASL, "challenge"):
            return el
        self.send("<response xmlns='%s'>%s</response>" % (NS_SASL, sc.final(el.text)))
        el = self.recv()
        if el.tag == q(NS_SASL, "success"):
            assert sc.verify(el.text), "server signature mismatch"
        return el

    def _sasl_result(self):
        return self.recv()

    def bind(self, resource=None):
        res = "<resource>%s</resource>" % resource if resource else ""
        self.send("<iq type='set' id='bind1'><bind xmlns='%s'>%s</bind></iq>" % (NS_BIND, res))
        el, _ = self.recv_until(lambda e: e.get("id") == "bind1")
        assert el.get("type") == "result", ET.tostring(el)
        self.jid = el.find(q(NS_BIND, "bind")).find(q(NS_BIND, "jid")).text
        return self.jid

    def login(self, user, password, resource=None, mech="PLAIN", host="localhost", direct=False):
        """Full login: (STARTTLS), SASL, stream restart, bind. Returns the bound JID."""
        self.open(host)
        if not self.tls:
            self.starttls(host)
        if mech == "PLAIN":
            el = self.auth_plain(user, password)
        elif mech == "ANONYMOUS":
            el = self.auth_anonymous()
        else:
            el = self.auth_scram(user, password, mech[len("SCRAM-"):])
        assert el.tag == q(NS_SASL, "success"), ET.tostring(el)
        self.open(host)
        return self.bind(resource)
