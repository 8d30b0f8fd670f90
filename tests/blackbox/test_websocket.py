"""test_websocket.py: XMPP over WebSocket (RFC 7395) at /xmpp-websocket: the upgrade handshake and its
refusals, a full login over WebSocket with a raw client, bad input (oversized and binary messages), and
interoperability with @xmpp/client (npm, run by node) talking to slixmpp over TCP, and XEP-0198
resumption after its WebSocket is killed."""
import json
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import pw
from harness import NS_CLIENT, NS_SASL, SLOW, RawClient, ScramClient, q
from wsclient import HandshakeRefused, WSClient

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
INTEROP = os.path.join(os.path.dirname(__file__), "..", "interop")


def el(text):
    return ET.fromstring(text)


def ws_open(c, to="localhost"):
    c.send("<open xmlns='%s' to='%s' version='1.0'/>" % (FRAMING, to))
    opened = el(c.recv())
    assert opened.tag == q(FRAMING, "open") and opened.get("from") == to and opened.get("id")
    feats = el(c.recv())
    assert feats.tag == "{http://etherx.jabber.org/streams}features"
    return feats


def ws_login(port, user, resource):
    c = WSClient(port)
    assert c.headers["sec-websocket-protocol"] == "xmpp"
    feats = ws_open(c)
    mechs = [m.text for m in feats.iter(q(NS_SASL, "mechanism"))]
    assert "PLAIN" not in mechs and "SCRAM-SHA-1" in mechs  # ws:// is not encrypted
    assert feats.find("{urn:ietf:params:xml:ns:xmpp-tls}starttls") is None
    sc = ScramClient(user, pw(user), "SHA-1")
    c.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>" % (NS_SASL, sc.first()))
    ch = el(c.recv())
    c.send("<response xmlns='%s'>%s</response>" % (NS_SASL, sc.final(ch.text)))
    ok = el(c.recv())
    assert ok.tag == q(NS_SASL, "success") and sc.verify(ok.text)
    ws_open(c)
    c.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>%s</resource></bind></iq>" % resource)
    res = el(c.recv())
    assert res.get("type") == "result"
    return c


def test_handshake_refusals(server):
    with pytest.raises(HandshakeRefused) as e:
        WSClient(server.http_port, protocols=None)
    assert e.value.status == 400 and "xmpp" in e.value.body
    with pytest.raises(HandshakeRefused) as e:
        WSClient(server.http_port, extra_headers="X-Ignored: 1\r\n", protocols="chat, superchat")
    assert e.value.status == 400
    # a plain GET without the upgrade
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10 * SLOW)
    conn.request("GET", "/xmpp-websocket")
    r = conn.getresponse()
    assert r.status == 426 and "websocket" in r.getheader("Upgrade", "").lower()
    r.read()


def test_login_and_chat_over_websocket(server):
    tcp = RawClient(server.port)
    tcp.login("bob", pw("bob"), "tcp")
    tcp.send("<presence/>")
    c = ws_login(server.http_port, "alice", "ws")
    c.send("<presence xmlns='jabber:client'/>")
    c.send("<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat'><body>over ws</body></message>")
    m, _ = tcp.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert m.find(q(NS_CLIENT, "body")).text == "over ws" and m.get("from") == "alice@localhost/ws"
    tcp.send("<message to='alice@localhost/ws' type='chat'><body>over tcp</body></message>")
    while True:
        x = el(c.recv())
        if x.tag == q(NS_CLIENT, "message"):
            break
    assert x.find(q(NS_CLIENT, "body")).text == "over tcp"
    # a clean <close/> is answered with <close/> and the WebSocket close
    c.send("<close xmlns='%s'/>" % FRAMING)
    rest = c.messages_until_close()
    assert any(isinstance(m, str) and el(m).tag == q(FRAMING, "close") for m in rest)
    assert rest and rest[-1][0] == "close"


def test_oversized_message_gets_policy_violation(fresh_server):
    srv = fresh_server(["limits.max_stanza_size=4096"], users=["alice"])
    c = WSClient(srv.http_port)
    ws_open(c)
    c.send("<message xmlns='jabber:client'><body>%s</body></message>" % ("x" * 8000))
    msgs = c.messages_until_close()
    errs = [el(m) for m in msgs if isinstance(m, str) and "stream:error" in m]
    assert errs and errs[0].find("{urn:ietf:params:xml:ns:xmpp-streams}policy-violation") is not None


@pytest.mark.parametrize("bad", ["binary", "not-xml", "stream-header"])
def test_bad_messages(server, bad):
    c = WSClient(server.http_port)
    ws_open(c)
    if bad == "binary":
        c.send_frame(0x2, b"<presence/>")
        cond = "not-well-formed"
    elif bad == "not-xml":
        c.send("<message><unclosed></message>")
        cond = "not-well-formed"
    else:
        c.send("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='localhost'/>")
        cond = "invalid-namespace"
    msgs = c.messages_until_close()
    errs = [el(m) for m in msgs if isinstance(m, str) and "stream:error" in m]
    assert errs and errs[0].find("{urn:ietf:params:xml:ns:xmpp-streams}%s" % cond) is not None
    # unmasked frames break RFC 6455: the server closes the WebSocket
    c2 = WSClient(server.http_port)
    c2.send_frame(0x1, "<open xmlns='%s' to='localhost' version='1.0'/>" % FRAMING, mask=False)
    out = c2.messages_until_close()
    assert not any(isinstance(m, str) for m in out)


def node_available():
    return shutil.which("node") and os.path.isdir(os.path.join(INTEROP, "node_modules", "@xmpp", "client"))


def run_node(args, timeout=40):
    p = subprocess.run(["node", os.path.join(INTEROP, "xmpp_client_ws.mjs"), *args], capture_output=True,
                       text=True, timeout=timeout * SLOW)
    line = (p.stdout.strip().splitlines() or ["{}"])[-1]
    return p.returncode, json.loads(line), p.stderr


@pytest.mark.skipif(not node_available(), reason="npm ci in tests/interop has not run")
def test_xmpp_js_over_websocket_talks_to_slixmpp_over_tcp(server):
    """Two clients nobody here wrote: @xmpp/client (node) on WebSocket, slixmpp on TCP with STARTTLS."""
    import asyncio
    from slix import Client, run

    async def scenario():
        s = Client("carol@localhost/slix", pw("carol"), server.port, mech="PLAIN")
        assert await s.start()
        s.send_presence()
        proc = await asyncio.create_subprocess_exec(
            "node", os.path.join(INTEROP, "xmpp_client_ws.mjs"),
            "ws://127.0.0.1:%d/xmpp-websocket" % server.http_port, "dave", pw("dave"), "localhost",
            "carol@localhost/slix", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        m = await s.next_message(timeout=30)
        assert m["body"] == "hello from @xmpp/client"
        assert str(m["from"]).startswith("dave@localhost/")
        s.send_message(mto=m["from"], mbody="hello back", mtype="chat")
        out, err = await asyncio.wait_for(proc.communicate(), 40 * SLOW)
        await s.stop()
        return proc.returncode, json.loads(out.decode().strip().splitlines()[-1]), err.decode()

    rc, out, err = run(scenario)
    assert rc == 0, (out, err)
    assert out["jid"].startswith("dave@localhost/") and out["got"] == ["hello back"]


@pytest.mark.skipif(not node_available(), reason="npm ci in tests/interop has not run")
def test_xmpp_js_resumes_after_websocket_is_killed(server):
    tcp = RawClient(server.port)
    tcp.login("erin", pw("erin"), "tcp")
    tcp.send("<presence/>")
    import threading
    box = {}
    t = threading.Thread(target=lambda: box.update(r=run_node(
        ["ws://127.0.0.1:%d/xmpp-websocket" % server.http_port, "frank", pw("frank"), "localhost",
         "erin@localhost/tcp", "sm-kill"])))
    t.start()
    m, _ = tcp.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=30)
    peer = m.get("from")
    # @xmpp/client 0.14 resets its inbound counter when its <enable/> promise resolves, a microtask after a
    # stanza that arrived in the same read was already counted: give <enabled/> time to be processed first
    time.sleep(0.5)
    tcp.send("<message to='%s' type='chat'><body>first</body></message>" % peer)
    # the client kills its socket after "first" and resumes; "second" must reach it on the same JID
    m, _ = tcp.recv_until(lambda e: e.tag == q(NS_CLIENT, "message") and
                          e.find(q(NS_CLIENT, "body")).text == "resumed", timeout=30)
    assert m.get("from") == peer
    tcp.send("<message to='%s' type='chat'><body>second</body></message>" % peer)
    t.join(60 * SLOW)
    rc, out, err = box["r"]
    assert rc == 0, (out, err)
    assert out["got"] == ["first", "second"] and out.get("resumed") is True
