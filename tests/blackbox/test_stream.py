"""test_stream.py: XML streams, TLS and SASL negotiation, and bad input, with a raw-XML client."""
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import pw
from harness import (NS_CLIENT, NS_SASL, NS_STANZAS, NS_TLS, SLOW, Closed, RawClient, q)


def logged_in(server, user, resource=None, mech="PLAIN"):
    c = RawClient(server.port)
    c.login(user, pw(user), resource, mech=mech)
    return c


def ping_ok(server, user="frank"):
    """A fresh client can still log in and get an answer: the server keeps serving."""
    c = logged_in(server, user)
    c.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    el, _ = c.recv_until(lambda e: e.get("id") == "p1")
    c.close()
    return el.get("type") == "result"


def test_features_require_starttls(server):
    c = RawClient(server.port)
    f = c.open()
    st = f.find(q(NS_TLS, "starttls"))
    assert st is not None and st.find(q(NS_TLS, "required")) is not None
    assert f.find(q(NS_SASL, "mechanisms")) is None  # nothing to authenticate with before TLS
    limits = f.find("{urn:xmpp:stream-limits:0}limits")
    assert limits.find("{urn:xmpp:stream-limits:0}max-bytes").text == "262144"
    assert c.stream_attrs["from"] == "localhost" and c.stream_attrs["id"]


def test_auth_before_starttls_is_refused(server):
    c = RawClient(server.port)
    c.open()
    el = c.auth_plain("alice", pw("alice"))
    assert el.tag == q(NS_SASL, "failure")
    assert el.find(q(NS_SASL, "encryption-required")) is not None


def test_mechanisms_after_starttls(server):
    c = RawClient(server.port)
    c.open()
    c.starttls()
    mechs = c.mechanisms()
    for m in ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"):
        assert m in mechs
    assert "ANONYMOUS" not in mechs  # localhost is not an anonymous host
    assert mechs.index("SCRAM-SHA-256") < mechs.index("PLAIN")


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_login_each_mechanism(server, mech):
    c = RawClient(server.port)
    jid = c.login("alice", pw("alice"), "raw-" + mech, mech=mech)
    assert jid == "alice@localhost/raw-" + mech


def test_direct_tls_login(server):
    c = RawClient(server.tls_port, direct_tls=True)
    f = c.open()
    assert f.find(q(NS_TLS, "starttls")) is None  # already encrypted
    assert "SCRAM-SHA-256" in c.mechanisms()
    el = c.auth_scram("bob", pw("bob"), "SHA-256")
    assert el.tag == q(NS_SASL, "success")
    c.open()
    assert c.bind("direct").startswith("bob@localhost/")


def test_anonymous_login(server):
    c = RawClient(server.port)
    c.open("anon.localhost")
    c.starttls("anon.localhost")
    assert "ANONYMOUS" in c.mechanisms()
    el = c.auth_anonymous()
    assert el.tag == q(NS_SASL, "success")
    c.open("anon.localhost")
    jid = c.bind()
    node, rest = jid.split("@")
    assert rest.startswith("anon.localhost/") and len(node) >= 8
    c2 = RawClient(server.port)
    c2.login(None, None, mech="ANONYMOUS", host="anon.localhost")
    assert c2.jid.split("/")[0] != jid.split("/")[0]  # every guest gets its own random JID


def test_anonymous_refused_on_normal_host(server):
    c = RawClient(server.port)
    c.open()
    c.starttls()
    el = c.auth_anonymous()
    assert el.tag == q(NS_SASL, "failure")
    assert el.find(q(NS_SASL, "invalid-mechanism")) is not None


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_wrong_password_and_unknown_user(server, mech):
    for user, password in (("alice", "not-the-password"), ("nobody", "whatever")):
        c = RawClient(server.port)
        c.open()
        c.starttls()
        if mech == "PLAIN":
            el = c.auth_plain(user, password)
        else:
            el = c.auth_scram(user, password, mech[len("SCRAM-"):])
        assert el.tag == q(NS_SASL, "failure"), ET.tostring(el)
        assert el.find(q(NS_SASL, "not-authorized")) is not None
        # the stream goes on: a second attempt with the right password works
        if user == "alice":
            el = c.auth_plain("alice", pw("alice"))
            assert el.tag == q(NS_SASL, "success")


def test_unknown_host(server):
    c = RawClient(server.port)
    c.send("<?xml version='1.0'?><stream:stream to='elsewhere.example' version='1.0' "
           "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
    assert c.stream_error() == "host-unknown"


def test_stanza_before_auth_is_refused(server):
    c = RawClient(server.port)
    c.open()
    c.send("<message to='alice@localhost'><body>hi</body></message>")
    assert c.stream_error() == "not-authorized"


def test_oversized_stanza_refused_while_parsing(server):
    c = logged_in(server, "carol")
    # The stanza never ends: the error must come from the size limit alone, while it is being parsed.
    c.send("<message to='dave@localhost' type='chat'><body>")
    chunk = "x" * 16384
    sent = 0
    try:
        while sent < 600 * 1024:
            c.send(chunk)
            sent += len(chunk)
    except OSError:
        pass  # the server closed while we were still sending
    # the stanza was never closed, so only the limit checked while parsing can have produced this
    assert c.stream_error() == "policy-violation"
    assert ping_ok(server)


def test_stanza_just_under_limit_is_accepted(fresh_server):
    srv = fresh_server(["limits.max_stanza_size=4096", "limits.c2s_rate=0"], users=["alice", "bob"])
    bob = RawClient(srv.port)
    bob.login("bob", pw("bob"), "r")
    bob.send("<presence/>")
    a = RawClient(srv.port)
    a.login("alice", pw("alice"), "r")
    body = "y" * 3000
    a.send("<message to='bob@localhost/r' type='chat'><body>%s</body></message>" % body)
    el, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert el.find(q(NS_CLIENT, "body")).text == body
    a.send("<message to='bob@localhost/r' type='chat'><body>%s</body></message>" % ("z" * 5000))
    assert a.stream_error() == "policy-violation"


@pytest.mark.parametrize("payload", [
    "<!-- a comment -->",
    "<?target some processing instruction?>",
    "<message><!DOCTYPE foo [<!ENTITY x 'y'>]></message>",
    "<message><body>&#x26;&unknownentity;</body></message>",
])
def test_restricted_xml(server, payload):
    c = logged_in(server, "dave")
    c.send(payload)
    cond = c.stream_error()
    if "unknownentity" in payload or "DOCTYPE" in payload:
        # a DOCTYPE inside an element is not even well-formed XML; an undeclared entity either way
        assert cond in ("restricted-xml", "not-well-formed")
    else:
        assert cond == "restricted-xml"
    assert ping_ok(server)


def test_doctype_before_stream(server):
    c = RawClient(server.port)
    c.send("<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY lol 'lol'>]><stream:stream to='localhost' "
           "version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
    assert c.stream_error() == "restricted-xml"


@pytest.mark.parametrize("garbage", [
    b"\x00\x01\x02\xff\xfe garbage \x80\x81",
    b"<stream:stream><<<>>>",
    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"<message></iq>",
])
def test_garbage_bytes(server, garbage):
    c = RawClient(server.port)
    if garbage.startswith(b"<message"):
        c.login("erin", pw("erin"))
    c.send(garbage)
    cond = c.stream_error()
    assert cond in ("not-well-formed", "invalid-namespace", "unsupported-encoding", "bad-format")
    assert ping_ok(server)


def test_invalid_namespace(server):
    c = RawClient(server.port)
    c.send("<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
           "xmlns:stream='urn:wrong'>")
    assert c.stream_error() == "invalid-namespace"


def test_slow_sender_is_served_and_does_not_block_others(server):
    bob = logged_in(server, "bob", "slow-rx")
    bob.send("<presence/>")
    slow = logged_in(server, "alice", "slow-tx")
    stanza = "<message to='bob@localhost/slow-rx' type='chat' id='slow1'><body>one byte at a time" \
             "</body></message>"
    done = threading.Event()

    def trickle():
        for ch in stanza:
            slow.send(ch)
            time.sleep(0.01)
        done.set()

    t = threading.Thread(target=trickle)
    t.start()
    # while the slow stanza is half-way, other clients are served normally
    time.sleep(0.3)
    assert not done.is_set()
    assert ping_ok(server, "carol")
    t.join()
    el, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("id") == "slow1")
    assert el.find(q(NS_CLIENT, "body")).text == "one byte at a time"
    assert el.get("from") == "alice@localhost/slow-tx"


def test_whitespace_keepalive_and_ping(server):
    c = logged_in(server, "alice", "ka")
    c.send("   \n  ")
    c.send("<iq type='get' id='k1'><ping xmlns='urn:xmpp:ping'/></iq>")
    el, _ = c.recv_until(lambda e: e.get("id") == "k1")
    assert el.get("type") == "result"


def test_iq_routing_and_service_discovery(server):
    c = logged_in(server, "alice", "disco")
    c.send("<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/>"
           "</iq>")
    el, _ = c.recv_until(lambda e: e.get("id") == "d1")
    feats = {f.get("var") for f in el.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert {"http://jabber.org/protocol/disco#info", "urn:xmpp:ping", "jabber:iq:version"} <= feats
    ident = el.find(".//{http://jabber.org/protocol/disco#info}identity")
    assert ident.get("category") == "server"
    c.send("<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/>"
           "</iq>")
    el, _ = c.recv_until(lambda e: e.get("id") == "d2")
    assert el.get("type") == "result"
    c.send("<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
    el, _ = c.recv_until(lambda e: e.get("id") == "v1")
    assert el.find(".//{jabber:iq:version}name").text == "parley"
    # an iq nobody handles
    c.send("<iq type='get' id='u1' to='localhost'><query xmlns='urn:example:nothing'/></iq>")
    el, _ = c.recv_until(lambda e: e.get("id") == "u1")
    assert el.get("type") == "error"
    assert el.find(".//{%s}service-unavailable" % NS_STANZAS) is not None
    # an iq to an offline user's full JID
    c.send("<iq type='get' id='u2' to='dave@localhost/nowhere'><ping xmlns='urn:xmpp:ping'/></iq>")
    el, _ = c.recv_until(lambda e: e.get("id") == "u2")
    assert el.get("type") == "error"
    assert el.find(".//{%s}service-unavailable" % NS_STANZAS) is not None


def test_malformed_jid_in_to(server):
    c = logged_in(server, "alice", "jm")
    c.send("<message to='a@b@c/d' type='chat' id='m1'><body>x</body></message>")
    el, _ = c.recv_until(lambda e: e.get("id") == "m1")
    assert el.get("type") == "error"
    assert el.find(".//{%s}jid-malformed" % NS_STANZAS) is not None


def test_resource_conflict(server):
    a = logged_in(server, "carol", "same")
    b = logged_in(server, "carol", "same")
    # Either the old session is replaced (conflict stream error) or the new one gets another resource.
    if b.jid == "carol@localhost/same":
        assert a.stream_error() == "conflict"
    else:
        assert b.jid.startswith("carol@localhost/")


def test_auth_timeout(fresh_server):
    srv = fresh_server(["limits.auth_timeout=1"])
    c = RawClient(srv.port)
    c.open()
    assert c.stream_error(timeout=10) == "connection-timeout"


def test_per_ip_connection_limit(fresh_server):
    srv = fresh_server(["limits.max_connections_per_ip=3"])
    time.sleep(0.3 * SLOW)  # the harness's readiness probe connection must be gone first
    keep = [RawClient(srv.port) for _ in range(3)]
    for k in keep:
        k.open()
    extra = RawClient(srv.port)
    with pytest.raises((Closed, OSError)):
        extra.open()
    keep[0].close()
    time.sleep(0.3 * SLOW)
    again = RawClient(srv.port)
    assert again.open() is not None


def test_read_rate_limit_slows_a_flooding_client(fresh_server):
    """c2s_rate=4096 bytes/s with a 1 s burst: 24 KiB of stanzas cannot be through in less than ~4 s,
    while they all arrive in the end (the server pauses reading, it does not drop)."""
    srv = fresh_server(["limits.c2s_rate=4096", "limits.c2s_burst=1"], users=["alice", "bob"])
    bob = RawClient(srv.port)
    bob.login("bob", pw("bob"), "rx")
    bob.send("<presence/>")
    a = RawClient(srv.port)
    a.login("alice", pw("alice"), "tx")
    body = "r" * 1000
    start = time.time()
    for i in range(24):
        a.send("<message to='bob@localhost/rx' type='chat' id='f%d'><body>%s</body></message>" % (i, body))
    got = 0
    while got < 24:
        el, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=30)
        got += 1
    elapsed = time.time() - start
    assert elapsed >= 3.5, "24 KiB at 4 KiB/s went through in %.1f s" % elapsed


def test_close_right_after_bind_processes_everything_first(server):
    """bind, a message and </stream:stream> in one write: the bind waits for the store, and the close
    must not throw away what was queued behind it."""
    bob = logged_in(server, "bob", "tail-rx")
    bob.send("<presence/>")
    c = RawClient(server.port)
    c.open(); c.starttls()
    assert c.auth_plain("alice", pw("alice")).tag == q(NS_SASL, "success")
    c.open()
    c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>tail</resource>"
           "</bind></iq><message to='bob@localhost/tail-rx' type='chat'><body>last words</body></message>"
           "</stream:stream>")
    got = []
    try:
        while True:
            got.append(c.recv())
    except Closed:
        pass
    assert any(not isinstance(e, str) and e.get("id") == "b1" and e.get("type") == "result" for e in got)
    assert "</stream:stream>" in got
    el, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert el.find(q(NS_CLIENT, "body")).text == "last words"


def test_stream_keeps_working_after_idle_parser_trim(server):
    """After 5 s without input the server frees the stream's XML parser and rebuilds it on the next
    bytes: namespaces declared in the stream header must still apply, split stanzas still parse."""
    bob = logged_in(server, "bob", "trim-rx")
    bob.send("<presence/>")
    a = logged_in(server, "alice", "trim-tx")
    time.sleep(6.5)
    a.send("<message to='bob@localhost/trim-rx' type='chat' id='t1'><bo")
    time.sleep(0.2)
    a.send("dy>after idle</body></message><iq type='get' id='t2'><ping xmlns='urn:xmpp:ping'/></iq>")
    el, _ = a.recv_until(lambda e: e.get("id") == "t2")
    assert el.get("type") == "result"
    el, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert el.find(q(NS_CLIENT, "body")).text == "after idle"
