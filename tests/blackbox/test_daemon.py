"""test_daemon.py: the programs around the protocol: parleyctl's commands and exit codes, configuration
errors with file and line, --section.key overrides, SIGHUP reload, graceful SIGTERM (every stream closed
with </stream:stream>), data kept across restarts, and the admin socket."""
import json
import os
import signal
import subprocess
import time


from conftest import pw
from harness import BUILD, NS_SASL, SLOW, Closed, RawClient, q


def test_parleyctl_account_lifecycle(fresh_server):
    srv = fresh_server(start=False)
    p = srv.ctl("adduser", "zoe@localhost", stdin="secret-1\n")
    assert p.returncode == 0
    p = srv.ctl("adduser", "zoe@localhost", "again", check=False)
    assert p.returncode == 1 and "exists" in p.stderr
    srv.ctl("adduser", "yann@localhost", "pw-y")
    assert srv.ctl("users").stdout.split() == ["yann@localhost", "zoe@localhost"]
    srv.start()
    c = RawClient(srv.port)
    assert c.login("zoe", "secret-1").startswith("zoe@localhost/")
    srv.ctl("passwd", "zoe@localhost", "secret-2")
    c = RawClient(srv.port)
    c.open(); c.starttls()
    assert c.auth_plain("zoe", "secret-1").tag == q(NS_SASL, "failure")
    assert c.auth_plain("zoe", "secret-2").tag == q(NS_SASL, "success")
    srv.ctl("deluser", "zoe@localhost")
    assert srv.ctl("users").stdout.split() == ["yann@localhost"]
    p = srv.ctl("deluser", "zoe@localhost", check=False)
    assert p.returncode == 1
    c = RawClient(srv.port)
    c.open(); c.starttls()
    assert c.auth_plain("zoe", "secret-2").tag == q(NS_SASL, "failure")


def test_parleyctl_rejects_bad_arguments(fresh_server):
    srv = fresh_server(start=False)
    for args in (["adduser", "not a jid@localhost", "x"], ["adduser", "u@unknown.host", "x"],
                 ["adduser", "u@anon.localhost", "x"], ["frobnicate"], []):
        p = srv.ctl(*args, check=False)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert p.stderr.strip()


def test_passwords_are_not_stored_in_plaintext(fresh_server):
    srv = fresh_server(start=False)
    srv.ctl("adduser", "wanda@localhost", "very-distinctive-password-42")
    with open(os.path.join(srv.dir, "var", "parley.db"), "rb") as f:
        data = f.read()
    for name in os.listdir(os.path.join(srv.dir, "var")):
        if name.startswith("parley.db-"):
            with open(os.path.join(srv.dir, "var", name), "rb") as f:
                data += f.read()
    assert b"very-distinctive-password-42" not in data


def test_check_reports_file_and_line(tmp_path):
    bad = tmp_path / "bad.ini"
    bad.write_text("[daemon]\nc2s_port = 5222\n\n[limits]\nc2s_rate = fast\n")
    p = subprocess.run([os.path.join(BUILD, "parleyctl"), "--config", str(bad), "check"],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert "bad.ini:5" in p.stderr and "c2s_rate" in p.stderr
    unknown = tmp_path / "unknown.ini"
    unknown.write_text("[daemon]\nlog_level = info\ncolour = blue\n")
    p = subprocess.run([os.path.join(BUILD, "parleyd"), "--config", str(unknown)],
                       capture_output=True, text=True, timeout=20 * SLOW)
    assert p.returncode != 0 and "unknown.ini:3" in p.stderr and "colour" in p.stderr
    good = tmp_path / "good.ini"
    good.write_text("[daemon]\nlog_level = debug\n")
    p = subprocess.run([os.path.join(BUILD, "parleyctl"), "--config", str(good), "check"],
                       capture_output=True, text=True)
    assert p.returncode == 0
    p = subprocess.run([os.path.join(BUILD, "parleyctl"), "--config", str(good), "--limits.max_stanza_size=1",
                        "check"], capture_output=True, text=True)
    assert p.returncode == 2 and "max_stanza_size" in p.stderr


def test_shipped_example_config_is_valid():
    example = os.path.join(os.path.dirname(__file__), "..", "..", "etc", "parley.ini")
    p = subprocess.run([os.path.join(BUILD, "parleyctl"), "--config", example, "check"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_status_over_admin_socket(fresh_server):
    srv = fresh_server(users=["alice"])
    clients = []
    for i in range(3):
        c = RawClient(srv.port)
        c.login("alice", pw("alice"), "st%d" % i)
        clients.append(c)
    p = srv.ctl("status")
    st = json.loads(p.stdout) if p.stdout.strip().startswith("{") else None
    text = p.stdout
    if st is None:
        assert "connections" in text
    else:
        assert st["connections"] >= 3 and st["sessions"] >= 3 and st["uptime_seconds"] >= 0
    srv.stop()
    p = srv.ctl("status", check=False)
    assert p.returncode == 3


def test_sigterm_closes_every_stream(fresh_server):
    srv = fresh_server(users=["alice", "bob"])
    a = RawClient(srv.port)
    a.login("alice", pw("alice"))
    b = RawClient(srv.tls_port, direct_tls=True)
    b.login("bob", pw("bob"))
    n = RawClient(srv.port)
    n.open()  # not authenticated yet
    srv.signal(signal.SIGTERM)
    for c in (a, b, n):
        got = []
        try:
            while True:
                got.append(c.recv(timeout=10))
        except Closed:
            pass
        assert "</stream:stream>" in got, got
    assert srv.proc.wait(timeout=20 * SLOW) == 0
    assert not os.path.exists(os.path.join(srv.dir, "parleyd.pid"))
    srv.stop()


def test_data_survives_restart(fresh_server):
    srv = fresh_server(users=["alice", "bob"])
    a = RawClient(srv.port)
    a.login("alice", pw("alice"))
    a.send("<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='B'>"
           "<group>G</group></item></query></iq>")
    a.recv_until(lambda e: e.get("id") == "r1")
    a.send("<message to='bob@localhost' type='chat'><body>kept across restart</body></message>")
    time.sleep(0.3 * SLOW)
    srv.stop()
    srv.start()
    a = RawClient(srv.port)
    a.login("alice", pw("alice"))
    a.send("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>")
    el, _ = a.recv_until(lambda e: e.get("id") == "r2")
    item = el.find("{jabber:iq:roster}query/{jabber:iq:roster}item")
    assert item.get("jid") == "bob@localhost" and item.get("name") == "B"
    b = RawClient(srv.port)
    b.login("bob", pw("bob"))
    b.send("<presence/>")
    el, _ = b.recv_until(lambda e: e.tag == "{jabber:client}message")
    assert el.find("{jabber:client}body").text == "kept across restart"


def test_sighup_reloads_limits_and_certificate(fresh_server):
    srv = fresh_server(users=["alice", "bob"])
    a = RawClient(srv.port)
    a.login("alice", pw("alice"), "keep")
    f = RawClient(srv.port).open()
    assert f.find("{urn:xmpp:stream-limits:0}limits/{urn:xmpp:stream-limits:0}max-bytes").text == "262144"
    cert = os.path.join(srv.dir, "var", "tls", "cert.pem")
    key = os.path.join(srv.dir, "var", "tls", "key.pem")
    old = open(cert).read()
    os.rename(cert, cert + ".old")
    os.rename(key, key + ".old")
    # a new certificate, made with the openssl tool
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-keyout", key, "-out", cert, "-days", "2", "-nodes", "-subj", "/CN=reloaded.test",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    with open(srv.config, "a") as cfg:
        cfg.write("[limits]\nmax_stanza_size = 100000\n")
    srv.signal(signal.SIGHUP)
    time.sleep(1 * SLOW)
    assert srv.alive()
    c = RawClient(srv.port)
    f = c.open()
    assert f.find("{urn:xmpp:stream-limits:0}limits/{urn:xmpp:stream-limits:0}max-bytes").text == "100000"
    c.starttls()
    der = c.sock.getpeercert(binary_form=True)
    import ssl
    assert ssl.DER_cert_to_PEM_cert(der).strip() != old.strip()
    assert b"reloaded.test" in der
    # the session opened before the reload is still there
    a.send("<iq type='get' id='after'><ping xmlns='urn:xmpp:ping'/></iq>")
    el, _ = a.recv_until(lambda e: e.get("id") == "after")
    assert el.get("type") == "result"
    # a broken config on SIGHUP keeps the running one
    with open(srv.config, "a") as cfg:
        cfg.write("bogus_key = 1\n")
    srv.signal(signal.SIGHUP)
    time.sleep(1 * SLOW)
    assert srv.alive()
    assert "bogus_key" in srv.log()
    f = RawClient(srv.port).open()
    assert f.find("{urn:xmpp:stream-limits:0}limits/{urn:xmpp:stream-limits:0}max-bytes").text == "100000"


def test_first_start_creates_self_signed_certificate(fresh_server):
    srv = fresh_server()
    key = os.path.join(srv.dir, "var", "tls", "key.pem")
    assert os.path.exists(os.path.join(srv.dir, "var", "tls", "cert.pem"))
    assert (os.stat(key).st_mode & 0o777) == 0o600
    assert "listening" in srv.log()


def test_concurrent_parleyctl_on_a_new_database(fresh_server):
    """Several parleyctl processes opening a database that does not exist yet all migrate it safely."""
    srv = fresh_server(start=False)
    args = [os.path.join(BUILD, "parleyctl"), "--config", srv.config]
    procs = [subprocess.Popen(args + ["adduser", "c%d@localhost" % i, "pw"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    for p in procs:
        out, err = p.communicate(timeout=60 * SLOW)
        assert p.returncode == 0, err
    assert srv.ctl("users").stdout.split() == ["c%d@localhost" % i for i in range(8)]
