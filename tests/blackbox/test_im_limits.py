"""test_im_limits.py: IM delivery at the limits: offline messages delivered in batches that fit the output
queue (none lost when it fills), a detached XEP-0198 session whose queue passes sm_max_unacked ends and
hands its messages to offline storage, anonymous sessions are never offered resumption and their
unacknowledged messages bounce, subscriptions respect the roster size limit, removing a contact sends
it unavailable presence, and an iq result with two payloads is refused."""
import json
import socket
import time
import xml.etree.ElementTree as ET

from conftest import pw
from harness import NS_CLIENT, NS_SM, NS_STANZAS, SLOW, Closed, RawClient, q

NS_ROSTER = "jabber:iq:roster"
ROSTER_LIMIT = 1000  # PL_MAX_ROSTER_ITEMS in src/xmpp/server.h


def is_stanza(e, name):
    return not isinstance(e, str) and e.tag == q(NS_CLIENT, name)


def read_all(c, idle=2.0):
    """Every element until nothing arrives for `idle` seconds or the stream ends."""
    got = []
    try:
        while True:
            got.append(c.recv(timeout=idle))
    except (socket.timeout, Closed):
        pass
    return got


def ping(c, pid):
    c.send("<iq type='get' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>" % pid)
    el, skipped = c.recv_until(lambda e: e.get("id") == pid, timeout=60)
    return skipped


def bodies(elements):
    return [e.find(q(NS_CLIENT, "body")).text for e in elements if is_stanza(e, "message")
            and e.get("type") != "error" and e.find(q(NS_CLIENT, "body")) is not None]


def sessions(srv):
    return json.loads(srv.ctl("status").stdout)["sessions"]


def test_offline_delivery_fills_no_more_than_the_output_queue(fresh_server):
    srv = fresh_server(["limits.c2s_rate=0", "limits.max_output_queue=65536"], users=["alice", "bob"])
    tx = RawClient(srv.port)
    tx.login("alice", pw("alice"), "tx")
    pad = "x" * 4000
    tx.send("".join("<message to='bob@localhost' type='chat'><body>%d %s</body></message>" % (i, pad)
                    for i in range(100)))
    ping(tx, "stored")
    time.sleep(0.5 * SLOW)
    # 100 x 4 KB do not fit a 64 KB output queue at once; a client that reads gets them all, in order
    got = []
    for attempt in range(3):
        rx = RawClient(srv.port)
        rx.login("bob", pw("bob"), "rx%d" % attempt)
        rx.send("<presence/>")
        got += [int(b.split()[0]) for b in bodies(read_all(rx, 3))]
        rx.close()
        if len(got) >= 100:
            break
    assert got == list(range(100)), "received %d of 100: %s" % (len(got), got[:20])


def test_detached_session_over_unacked_limit_ends_and_goes_offline(fresh_server):
    srv = fresh_server(["limits.c2s_rate=0", "limits.sm_max_unacked=20"], users=["alice", "bob"])
    rx = RawClient(srv.port)
    rx.login("bob", pw("bob"), "away")
    rx.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    el, _ = rx.recv_until(lambda e: e.tag == q(NS_SM, "enabled"))
    assert el.get("resume") in ("true", "1")
    rx.send("<presence/>")
    time.sleep(0.3 * SLOW)
    rx.kill()  # detached, resumable
    time.sleep(0.5 * SLOW)
    tx = RawClient(srv.port)
    tx.login("alice", pw("alice"), "tx")
    tx.send("".join("<message to='bob@localhost' type='chat'><body>d%d</body></message>" % i
                    for i in range(50)))
    ping(tx, "sent")
    time.sleep(1.0 * SLOW)
    # the detached session passed its limit and is gone: alice's is the only session left
    assert sessions(srv) == 1
    again = RawClient(srv.port)
    again.login("bob", pw("bob"), "back")
    again.send("<presence/>")
    got = bodies(read_all(again, 3))
    assert sorted(got, key=lambda b: int(b[1:])) == ["d%d" % i for i in range(50)], got
    assert len(set(got)) == 50


def test_anonymous_session_is_not_resumable_and_its_messages_bounce(server):
    anon = RawClient(server.port)
    jid = anon.login("", "", "r1", mech="ANONYMOUS", host="anon.localhost")
    anon.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    el, _ = anon.recv_until(lambda e: e.tag == q(NS_SM, "enabled"))
    assert el.get("resume") not in ("true", "1"), ET.tostring(el)
    anon.send("<presence/>")
    tx = RawClient(server.port)
    tx.login("alice", pw("alice"), "to-anon")
    tx.send("<message to='%s' type='chat' id='an1'><body>to anon</body></message>" % jid)
    anon.recv_until(lambda e: is_stanza(e, "message"))
    anon.kill()  # never acknowledged
    el, _ = tx.recv_until(lambda e: is_stanza(e, "message") and e.get("id") == "an1", timeout=10)
    assert el.get("type") == "error", ET.tostring(el)
    err = el.find(q(NS_CLIENT, "error"))
    assert err is not None and err.find(q(NS_STANZAS, "service-unavailable")) is not None, ET.tostring(el)


def test_subscriptions_respect_the_roster_limit(fresh_server):
    srv = fresh_server(["limits.c2s_rate=0"], users=["alice"])
    c = RawClient(srv.port, timeout=60)
    c.login("alice", pw("alice"), "many")
    extra = 5
    c.send("".join("<presence type='subscribe' to='x%d@nowhere.example' id='s%d'/>" % (i, i)
                   for i in range(ROSTER_LIMIT + extra)))
    c.send("<iq type='get' id='r'><query xmlns='%s'/></iq>" % NS_ROSTER)
    el, skipped = c.recv_until(lambda e: e.get("id") == "r", timeout=120)
    assert len(el.find(q(NS_ROSTER, "query"))) == ROSTER_LIMIT
    errors = [e for e in skipped if is_stanza(e, "presence") and e.get("type") == "error"]
    assert len(errors) == extra
    for e in errors:
        assert e.find(q(NS_CLIENT, "error")).find(q(NS_STANZAS, "resource-constraint")) is not None


def online(srv, user, resource):
    c = RawClient(srv.port)
    c.login(user, pw(user), resource)
    c.send("<iq type='get' id='rg'><query xmlns='%s'/></iq>" % NS_ROSTER)
    c.recv_until(lambda e: e.get("id") == "rg")
    c.send("<presence/>")
    return c


def test_removing_a_contact_sends_it_unavailable(fresh_server):
    srv = fresh_server(["limits.c2s_rate=0"], users=["alice", "bob"])
    a = online(srv, "alice", "a1")
    b = online(srv, "bob", "b1")
    for x, xu, y, yu in ((a, "alice", b, "bob"), (b, "bob", a, "alice")):
        x.send("<presence type='subscribe' to='%s@localhost'/>" % yu)
        y.recv_until(lambda e: is_stanza(e, "presence") and e.get("type") == "subscribe")
        y.send("<presence type='subscribed' to='%s@localhost'/>" % xu)
        # the approver's presence reaches the subscriber
        x.recv_until(lambda e: is_stanza(e, "presence") and e.get("type") is None and
                     e.get("from", "").startswith("%s@localhost/" % yu))
    time.sleep(0.3 * SLOW)
    read_all(a, 0.5)
    read_all(b, 0.5)
    a.send("<iq type='set' id='rm'><query xmlns='%s'><item jid='bob@localhost' subscription='remove'/>"
           "</query></iq>" % NS_ROSTER)
    el, _ = a.recv_until(lambda e: e.get("id") == "rm")
    assert el.get("type") == "result", ET.tostring(el)
    got = read_all(b, 2)
    pres = [(e.get("type"), e.get("from")) for e in got if is_stanza(e, "presence")]
    assert ("unavailable", "alice@localhost/a1") in pres, pres
    assert ("unsubscribe", "alice@localhost") in pres, pres
    assert ("unsubscribed", "alice@localhost") in pres, pres


def test_iq_result_with_two_payloads_is_refused(server):
    c = RawClient(server.port)
    c.login("carol", pw("carol"), "two-payloads")
    c.send("<iq type='result' id='two' to='localhost'><a xmlns='urn:x:a'/><b xmlns='urn:x:b'/></iq>")
    skipped = ping(c, "after-two")
    errs = [e for e in skipped if is_stanza(e, "iq") and e.get("id") == "two"]
    assert errs and errs[0].get("type") == "error", [ET.tostring(e) for e in skipped]
    assert errs[0].find(q(NS_CLIENT, "error")).find(q(NS_STANZAS, "bad-request")) is not None
    # one payload (or none) is still fine
    c.send("<iq type='result' id='one' to='localhost'><a xmlns='urn:x:a'/></iq>")
    assert not [e for e in ping(c, "after-one") if e.get("id") == "one"]
