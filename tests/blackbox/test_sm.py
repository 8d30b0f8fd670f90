"""test_sm.py: XEP-0198 stream management: acknowledgements, and resumption after the TCP connection is
killed: every stanza the client had not acknowledged, and every stanza sent while it was away, arrives
after <resume/>, none twice."""
import time
import xml.etree.ElementTree as ET

from conftest import pw
from harness import NS_CLIENT, NS_SM, SLOW, RawClient, q


def sm_client(server, user, resource):
    c = RawClient(server.port)
    c.login(user, pw(user), resource)
    assert c.features is not None
    c.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    el, _ = c.recv_until(lambda e: e.tag == q(NS_SM, "enabled"))
    assert el.get("resume") in ("true", "1") and el.get("id")
    c.send("<presence/>")
    return c, el.get("id")


def bodies(elements):
    return [e.find(q(NS_CLIENT, "body")).text for e in elements
            if not isinstance(e, str) and e.tag == q(NS_CLIENT, "message")]


def test_ack_request_counts_handled_stanzas(server):
    c, _ = sm_client(server, "alice", "sm-ack")
    for i in range(3):
        c.send("<iq type='get' id='i%d' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>" % i)
    c.send("<r xmlns='%s'/>" % NS_SM)
    el, _ = c.recv_until(lambda e: e.tag == q(NS_SM, "a"))
    assert int(el.get("h")) == 4  # presence + 3 iqs


def test_resume_after_killed_tcp_connection(server):
    rx, sid = sm_client(server, "bob", "sm-rx")
    tx = RawClient(server.port)
    tx.login("alice", pw("alice"), "sm-tx")
    # 1..3 arrive while connected; the client reads them but does not acknowledge
    for i in range(1, 4):
        tx.send("<message to='bob@localhost/sm-rx' type='chat'><body>m%d</body></message>" % i)
    seen = []
    while len(bodies(seen)) < 3:
        seen.append(rx.recv())
    assert bodies(seen) == ["m1", "m2", "m3"]
    # every stanza the server sent this session, in order (its own presence echo, then m1..m3)
    received = [e for e in seen if not isinstance(e, str) and e.tag.startswith("{%s}" % NS_CLIENT)]
    rx.kill()  # TCP gone, no </stream:stream>
    time.sleep(0.3 * SLOW)
    # 4..6 are sent while the session is detached
    for i in range(4, 7):
        tx.send("<message to='bob@localhost/sm-rx' type='chat'><body>m%d</body></message>" % i)
    time.sleep(0.3 * SLOW)
    # resume, acknowledging exactly one stanza: everything after it must be resent
    rx2 = RawClient(server.port)
    rx2.open()
    rx2.starttls()
    assert rx2.auth_plain("bob", pw("bob")).tag.endswith("success")
    rx2.open()
    h = 1
    rx2.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, sid, h))
    el, _ = rx2.recv_until(lambda e: e.tag in (q(NS_SM, "resumed"), q(NS_SM, "failed")))
    assert el.tag == q(NS_SM, "resumed"), ET.tostring(el)
    got = []
    deadline = time.time() + 10 * SLOW
    while time.time() < deadline:
        try:
            got.append(rx2.recv(timeout=1))
        except Exception:
            break
        if "m6" in bodies(got):
            break
    # the stanzas the server sent before the kill were: its roster/presence traffic and m1..m3; with
    # h=1 everything after the first stanza comes again, in order, then m4..m6
    expect_resent = [e for e in received][h:]
    resent_bodies = [b for b in bodies(got) if b in ("m1", "m2", "m3")]
    assert resent_bodies == bodies(expect_resent)
    assert bodies(got)[-3:] == ["m4", "m5", "m6"]
    assert len(bodies(got)) == len(set(bodies(got))), "a stanza was delivered twice after resume"
    # the resumed session is live: a new message arrives directly
    tx.send("<message to='bob@localhost/sm-rx' type='chat'><body>m7</body></message>")
    el, _ = rx2.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert el.find(q(NS_CLIENT, "body")).text == "m7"


def test_resume_with_unknown_id_fails(server):
    c = RawClient(server.port)
    c.open()
    c.starttls()
    c.auth_plain("carol", pw("carol"))
    c.open()
    c.send("<resume xmlns='%s' previd='no-such-session' h='0'/>" % NS_SM)
    el, _ = c.recv_until(lambda e: e.tag == q(NS_SM, "failed"))
    assert el.find("{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found") is not None
    # binding normally still works after a failed resume
    assert c.bind("after-failed").startswith("carol@localhost/")


def test_messages_to_detached_session_go_offline_after_timeout(fresh_server):
    srv = fresh_server(["limits.sm_resume_timeout=1"], users=["alice", "bob"])
    rx, _ = sm_client(srv, "bob", "gone")
    tx = RawClient(srv.port)
    tx.login("alice", pw("alice"), "tx")
    tx.send("<message to='bob@localhost' type='chat'><body>while detached</body></message>")
    el, _ = rx.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    rx.kill()  # never acknowledged, never resumed
    time.sleep(2.5 * SLOW)
    again = RawClient(srv.port)
    again.login("bob", pw("bob"), "back")
    again.send("<presence/>")
    el, _ = again.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert el.find(q(NS_CLIENT, "body")).text == "while detached"


def test_resume_with_bad_h_leaves_the_session_resumable(server):
    rx, sid = sm_client(server, "carol", "sm-badh")
    rx.kill()
    time.sleep(0.3 * SLOW)
    bad = RawClient(server.port)
    bad.open(); bad.starttls()
    bad.auth_plain("carol", pw("carol")); bad.open()
    bad.send("<resume xmlns='%s' previd='%s' h='999'/>" % (NS_SM, sid))
    el, _ = bad.recv_until(lambda e: e.tag in (q(NS_SM, "resumed"), q(NS_SM, "failed")))
    assert el.tag == q(NS_SM, "failed")
    # a message sent now still waits in the detached session, and a correct resume gets it
    tx = RawClient(server.port)
    tx.login("dave", pw("dave"), "badh-tx")
    tx.send("<message to='carol@localhost/sm-badh' type='chat'><body>after bad h</body></message>")
    time.sleep(0.3 * SLOW)
    good = RawClient(server.port)
    good.open(); good.starttls()
    good.auth_plain("carol", pw("carol")); good.open()
    good.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, sid))
    el, _ = good.recv_until(lambda e: e.tag in (q(NS_SM, "resumed"), q(NS_SM, "failed")))
    assert el.tag == q(NS_SM, "resumed"), ET.tostring(el)
    el, _ = good.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert el.find(q(NS_CLIENT, "body")).text == "after bad h"
