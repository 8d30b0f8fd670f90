"""test_muc.py: multi-user chat (XEP-0045) on room.localhost, with raw stanzas (exact orders and status
codes) and with slixmpp's xep_0045 plugin: instant room creation (201, locked until the owner accepts the
default configuration), join order (occupants, self-presence with 110/100, history, subject), leave, nick
change (303), nick conflict, malformed nicks, groupchat fan-out, non-occupants refused, private messages,
history limits, two sessions under one nick, a killed connection leaving the room, disco."""
import asyncio
import socket
import xml.etree.ElementTree as ET

from conftest import pw
from harness import NS_CLIENT, NS_STANZAS, RawClient, q
from slix import Client, run

MUC = "room.localhost"
NS_MUC = "http://jabber.org/protocol/muc"
NS_USER = NS_MUC + "#user"
NS_OWNER = NS_MUC + "#owner"
NS_XDATA = "jabber:x:data"
NS_DELAY = "urn:xmpp:delay"
NS_INFO = "http://jabber.org/protocol/disco#info"
NS_ITEMS = "http://jabber.org/protocol/disco#items"


def connect(server, user, res="r", initial=True):
    c = RawClient(server.port)
    c.login(user, pw(user), res)
    if initial:
        c.send("<presence/>")
        c.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))  # our own presence back
    return c


def codes(p):
    x = p.find(q(NS_USER, "x"))
    return sorted(int(s.get("code")) for s in x.findall(q(NS_USER, "status"))) if x is not None else []


def item(p):
    return p.find(q(NS_USER, "x")).find(q(NS_USER, "item"))


def error_condition(el):
    err = el.find(q(NS_CLIENT, "error"))
    assert err is not None, ET.tostring(el)
    return [c.tag.split("}")[1] for c in err if c.tag.startswith("{%s}" % NS_STANZAS) and
            not c.tag.endswith("}text")][0]


def is_subject(el):
    return el.tag == q(NS_CLIENT, "message") and el.find(q(NS_CLIENT, "subject")) is not None and \
        el.find(q(NS_CLIENT, "body")) is None


def join(c, room, nick, history=""):
    c.send("<presence to='%s@%s/%s'><x xmlns='%s'>%s</x></presence>" % (room, MUC, nick, NS_MUC, history))


def read_join(c):
    """Everything a join brings, up to and including the subject."""
    subj, before = c.recv_until(is_subject)
    return before + [subj]


def nothing_more(c, wait=0.4):
    try:
        el = c.recv(timeout=wait)
    except socket.timeout:
        return True
    raise AssertionError("unexpected: " + ET.tostring(el).decode())


def create(c, room, nick):
    join(c, room, nick)
    els = read_join(c)
    self_p = els[-2]
    assert codes(self_p) == [100, 110, 201], ET.tostring(self_p)
    c.send("<iq type='set' id='cfg' to='%s@%s'><query xmlns='%s'><x xmlns='%s' type='submit'/></query></iq>"
           % (room, MUC, NS_OWNER, NS_XDATA))
    res, _ = c.recv_until(lambda e: e.get("id") == "cfg")
    assert res.get("type") == "result", ET.tostring(res)
    return els


def room_with(server, room, users):
    """Room created by users[0] (nick = user name), the others joined; returns the clients."""
    cs = [connect(server, u) for u in users]
    create(cs[0], room, users[0])
    for i, u in enumerate(users[1:], 1):
        join(cs[i], room, u)
        read_join(cs[i])
        for prev in cs[:i]:
            prev.recv_until(lambda e: e.get("from") == "%s@%s/%s" % (room, MUC, u))
    return cs


def close_all(cs):
    for c in cs:
        c.close()


def test_instant_room_creation_and_unlock(server):
    alice, bob = connect(server, "alice"), connect(server, "bob")
    join(alice, "create1", "alice")
    els = read_join(alice)
    assert len(els) == 2  # self-presence, subject: nobody else, no history
    p = els[0]
    assert p.get("from") == "create1@%s/alice" % MUC
    assert codes(p) == [100, 110, 201]
    it = item(p)
    assert (it.get("affiliation"), it.get("role"), it.get("jid")) == ("owner", "moderator", "alice@localhost/r")
    assert els[1].get("from") == "create1@" + MUC and els[1].get("type") == "groupchat"
    # locked: others cannot enter, and it is not listed
    join(bob, "create1", "bob")
    err, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert err.get("type") == "error" and error_condition(err) == "item-not-found"
    bob.send("<iq type='get' id='it1' to='%s'><query xmlns='%s'/></iq>" % (MUC, NS_ITEMS))
    res, _ = bob.recv_until(lambda e: e.get("id") == "it1")
    assert "create1@" + MUC not in [i.get("jid") for i in res.find(q(NS_ITEMS, "query"))]
    # only the owner configures
    bob.send("<iq type='set' id='c0' to='create1@%s'><query xmlns='%s'><x xmlns='%s' type='submit'/></query>"
             "</iq>" % (MUC, NS_OWNER, NS_XDATA))
    res, _ = bob.recv_until(lambda e: e.get("id") == "c0")
    assert res.get("type") == "error" and error_condition(res) == "forbidden"
    alice.send("<iq type='get' id='c1' to='create1@%s'><query xmlns='%s'/></iq>" % (MUC, NS_OWNER))
    res, _ = alice.recv_until(lambda e: e.get("id") == "c1")
    form = res.find(q(NS_OWNER, "query")).find(q(NS_XDATA, "x"))
    assert form.get("type") == "form"
    alice.send("<iq type='set' id='c2' to='create1@%s'><query xmlns='%s'><x xmlns='%s' type='submit'/></query>"
               "</iq>" % (MUC, NS_OWNER, NS_XDATA))
    res, _ = alice.recv_until(lambda e: e.get("id") == "c2")
    assert res.get("type") == "result"
    join(bob, "create1", "bob")
    els = read_join(bob)
    assert codes(els[-2]) == [100, 110]
    assert item(els[-2]).get("role") == "participant" and item(els[-2]).get("affiliation") == "none"
    bob.send("<iq type='get' id='it2' to='%s'><query xmlns='%s'/></iq>" % (MUC, NS_ITEMS))
    res, _ = bob.recv_until(lambda e: e.get("id") == "it2")
    assert "create1@" + MUC in [i.get("jid") for i in res.find(q(NS_ITEMS, "query"))]
    close_all([alice, bob])


def test_join_without_muc_element_cannot_create(server):
    c = connect(server, "alice")
    c.send("<presence to='plain1@%s/alice'/>" % MUC)
    err, _ = c.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert err.get("type") == "error" and error_condition(err) == "item-not-found"
    c.close()


def test_join_order_history_subject(server):
    alice, bob = room_with(server, "order1", ["alice", "bob"])
    alice.send("<message to='order1@%s' type='groupchat'><subject>Today</subject></message>" % MUC)
    for c in (alice, bob):
        c.recv_until(is_subject)
    alice.send("<message to='order1@%s' type='groupchat'><body>first</body></message>" % MUC)
    for c in (alice, bob):
        c.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    carol = connect(server, "carol")
    join(carol, "order1", "carol")
    els = read_join(carol)
    assert [e.tag for e in els] == [q(NS_CLIENT, "presence")] * 3 + [q(NS_CLIENT, "message")] * 2
    assert sorted(e.get("from") for e in els[:2]) == ["order1@%s/alice" % MUC, "order1@%s/bob" % MUC]
    assert all(110 not in codes(e) for e in els[:2])
    assert item(els[0]).get("jid") in ("alice@localhost/r", "bob@localhost/r")  # non-anonymous room
    assert els[2].get("from") == "order1@%s/carol" % MUC and codes(els[2]) == [100, 110]
    hist = els[3]
    assert hist.findtext(q(NS_CLIENT, "body")) == "first"
    assert hist.get("from") == "order1@%s/alice" % MUC
    assert hist.find(q(NS_DELAY, "delay")).get("from") == "order1@" + MUC
    assert els[4].findtext(q(NS_CLIENT, "subject")) == "Today"
    assert els[4].get("from") == "order1@%s/alice" % MUC
    for c in (alice, bob):
        p, _ = c.recv_until(lambda e: e.get("from") == "order1@%s/carol" % MUC)
        assert codes(p) == [] and item(p).get("jid") == "carol@localhost/r"
    # a participant may not change the subject by default
    carol.send("<message to='order1@%s' type='groupchat'><subject>mine</subject></message>" % MUC)
    err, _ = carol.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert err.get("type") == "error" and error_condition(err) == "forbidden"
    close_all([alice, bob, carol])


def test_leave_broadcasts_unavailable(server):
    alice, bob = room_with(server, "leave1", ["alice", "bob"])
    bob.send("<presence to='leave1@%s/bob' type='unavailable'><status>bye</status></presence>" % MUC)
    p, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert p.get("type") == "unavailable" and codes(p) == [110]
    p, _ = alice.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert p.get("from") == "leave1@%s/bob" % MUC and p.get("type") == "unavailable"
    assert item(p).get("role") == "none" and codes(p) == []
    assert p.findtext(q(NS_CLIENT, "status")) == "bye"
    # bob is no occupant any more
    bob.send("<message to='leave1@%s' type='groupchat'><body>x</body></message>" % MUC)
    err, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert error_condition(err) == "not-acceptable"
    close_all([alice, bob])


def test_nick_change_303(server):
    alice, bob = room_with(server, "nick1", ["alice", "bob"])
    bob.send("<presence to='nick1@%s/robert'/>" % MUC)
    for c, own in ((alice, False), (bob, True)):
        un, _ = c.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
        assert un.get("from") == "nick1@%s/bob" % MUC and un.get("type") == "unavailable"
        assert item(un).get("nick") == "robert"
        assert codes(un) == ([110, 303] if own else [303])
        av = c.recv()
        assert av.tag == q(NS_CLIENT, "presence") and av.get("from") == "nick1@%s/robert" % MUC
        assert av.get("type") is None and codes(av) == ([110] if own else [])
    # the old nick is free again, the new one taken
    alice.send("<message to='nick1@%s/robert' type='chat'><body>hi robert</body></message>" % MUC)
    m, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert m.get("from") == "nick1@%s/alice" % MUC
    close_all([alice, bob])


def test_nick_conflict(server):
    alice, bob = room_with(server, "conflict1", ["alice", "bob"])
    carol = connect(server, "carol")
    join(carol, "conflict1", "bob")
    err, _ = carol.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert err.get("type") == "error" and err.get("from") == "conflict1@%s/bob" % MUC
    assert error_condition(err) == "conflict"
    # a nick change onto a taken nick too
    bob.send("<presence to='conflict1@%s/alice'/>" % MUC)
    err, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert err.get("type") == "error" and error_condition(err) == "conflict"
    assert nothing_more(alice)
    close_all([alice, bob, carol])


def test_malformed_nick(server):
    alice, = room_with(server, "badnick1", ["alice"])
    bob = connect(server, "bob")
    for to in ("badnick1@%s/bad\ue000nick" % MUC, "badnick1@" + MUC):
        bob.send("<presence to='%s'><x xmlns='%s'/></presence>" % (to, NS_MUC))
        err, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
        assert err.get("type") == "error" and error_condition(err) == "jid-malformed", ET.tostring(err)
    assert nothing_more(alice)
    close_all([alice, bob])


def test_groupchat_fanout_and_non_occupant(server):
    cs = room_with(server, "fan1", ["alice", "bob", "carol"])
    cs[1].send("<message to='fan1@%s' type='groupchat' id='g1'><body>hello all</body></message>" % MUC)
    for c in cs:
        m, _ = c.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
        assert m.get("from") == "fan1@%s/bob" % MUC and m.get("type") == "groupchat"
        assert m.findtext(q(NS_CLIENT, "body")) == "hello all" and m.get("id") == "g1"
    dave = connect(server, "dave")
    dave.send("<message to='fan1@%s' type='groupchat'><body>let me in</body></message>" % MUC)
    err, _ = dave.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert err.get("type") == "error" and error_condition(err) == "not-acceptable"
    for c in cs:
        assert nothing_more(c, 0.2)
    close_all(cs + [dave])


def test_private_message(server):
    alice, bob, carol = room_with(server, "pm1", ["alice", "bob", "carol"])
    bob.send("<message to='pm1@%s/carol' type='chat'><body>psst</body></message>" % MUC)
    m, _ = carol.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert m.get("from") == "pm1@%s/bob" % MUC and m.findtext(q(NS_CLIENT, "body")) == "psst"
    assert m.find(q(NS_USER, "x")) is not None
    assert nothing_more(alice, 0.2)
    bob.send("<message to='pm1@%s/nobody' type='chat'><body>?</body></message>" % MUC)
    err, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert error_condition(err) == "item-not-found"
    close_all([alice, bob, carol])


def test_history_limits(server):
    alice, = room_with(server, "hist1", ["alice"])
    for i in range(3):
        alice.send("<message to='hist1@%s' type='groupchat'><body>m%d</body></message>" % (MUC, i))
        alice.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    bob = connect(server, "bob")
    join(bob, "hist1", "bob", "<history maxstanzas='2'/>")
    els = read_join(bob)
    bodies = [e.findtext(q(NS_CLIENT, "body")) for e in els if e.tag == q(NS_CLIENT, "message")]
    assert bodies == ["m1", "m2", None]
    carol = connect(server, "carol")
    join(carol, "hist1", "carol", "<history maxchars='0'/>")
    els = read_join(carol)
    assert [e.tag for e in els] == [q(NS_CLIENT, "presence")] * 3 + [q(NS_CLIENT, "message")]
    dave = connect(server, "dave")
    join(dave, "hist1", "dave")  # no limit: all three
    els = read_join(dave)
    assert [e.findtext(q(NS_CLIENT, "body")) for e in els if e.tag == q(NS_CLIENT, "message")] == \
        ["m0", "m1", "m2", None]
    erin = connect(server, "erin")
    join(erin, "hist1", "erin", "<history maxstanzas='x'/>")
    err, _ = erin.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert err.get("type") == "error" and error_condition(err) == "bad-request"
    close_all([alice, bob, carol, dave, erin])


def test_two_sessions_one_nick(server):
    alice, = room_with(server, "multi1", ["alice"])
    b1, b2 = connect(server, "bob", "one"), connect(server, "bob", "two")
    join(b1, "multi1", "bob")
    read_join(b1)
    alice.recv_until(lambda e: e.get("from") == "multi1@%s/bob" % MUC)
    join(b2, "multi1", "bob")
    els = read_join(b2)
    assert els[-2].get("from") == "multi1@%s/bob" % MUC and 110 in codes(els[-2])
    assert nothing_more(alice)  # the second session is no news to the others
    alice.send("<message to='multi1@%s' type='groupchat'><body>to both</body></message>" % MUC)
    for c in (b1, b2):
        m, _ = c.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
        assert m.findtext(q(NS_CLIENT, "body")) == "to both"
    alice.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))  # her own copy
    # one session leaves: only it learns; the nick stays
    b1.send("<presence to='multi1@%s/bob' type='unavailable'/>" % MUC)
    p, _ = b1.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert p.get("type") == "unavailable" and 110 in codes(p)
    assert nothing_more(alice)
    alice.send("<message to='multi1@%s' type='groupchat'><body>still</body></message>" % MUC)
    m, _ = b2.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert m.findtext(q(NS_CLIENT, "body")) == "still"
    b2.send("<presence to='multi1@%s/bob' type='unavailable'/>" % MUC)
    p, _ = alice.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert p.get("from") == "multi1@%s/bob" % MUC and p.get("type") == "unavailable"
    close_all([alice, b1, b2])


def test_killed_connection_leaves_room(server):
    alice, bob, carol = room_with(server, "kill1", ["alice", "bob", "carol"])
    carol.kill()
    for c in (alice, bob):
        p, _ = c.recv_until(lambda e: e.get("from") == "kill1@%s/carol" % MUC)
        assert p.get("type") == "unavailable" and item(p).get("role") == "none"
    # the nick is free again
    carol2 = connect(server, "carol", "again")
    join(carol2, "kill1", "carol")
    assert codes(read_join(carol2)[-2]) == [100, 110]
    # a session that joined without sending initial presence first leaves too
    dave = connect(server, "dave", initial=False)
    join(dave, "kill1", "dave")
    read_join(dave)
    alice.recv_until(lambda e: e.get("from") == "kill1@%s/dave" % MUC)
    dave.kill()
    p, _ = alice.recv_until(lambda e: e.get("from") == "kill1@%s/dave" % MUC)
    assert p.get("type") == "unavailable"
    close_all([alice, bob, carol2])


def test_empty_room_destroyed(server):
    alice = connect(server, "alice")
    create(alice, "gone1", "alice")
    alice.send("<presence to='gone1@%s/alice' type='unavailable'/>" % MUC)
    alice.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    alice.send("<iq type='get' id='d1' to='gone1@%s'><query xmlns='%s'/></iq>" % (MUC, NS_INFO))
    res, _ = alice.recv_until(lambda e: e.get("id") == "d1")
    assert res.get("type") == "error" and error_condition(res) == "item-not-found"
    # joining again creates it anew (201)
    join(alice, "gone1", "alice")
    assert 201 in codes(read_join(alice)[-2])
    alice.close()


def test_max_occupants(fresh_server):
    srv = fresh_server(["limits.c2s_rate=0", "muc.max_occupants=2"], users=["alice", "bob", "carol"])
    alice, bob = room_with(srv, "full1", ["alice", "bob"])
    carol = connect(srv, "carol")
    join(carol, "full1", "carol")
    err, _ = carol.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert err.get("type") == "error" and error_condition(err) == "service-unavailable"
    close_all([alice, bob, carol])


def test_disco(server):
    alice, bob = room_with(server, "disco1", ["alice", "bob"])
    alice.send("<iq type='get' id='s1' to='%s'><query xmlns='%s'/></iq>" % (MUC, NS_INFO))
    res, _ = alice.recv_until(lambda e: e.get("id") == "s1")
    qy = res.find(q(NS_INFO, "query"))
    ident = qy.find(q(NS_INFO, "identity"))
    assert (ident.get("category"), ident.get("type")) == ("conference", "text")
    assert NS_MUC in [f.get("var") for f in qy.findall(q(NS_INFO, "feature"))]
    alice.send("<iq type='get' id='r1' to='disco1@%s'><query xmlns='%s'/></iq>" % (MUC, NS_INFO))
    res, _ = alice.recv_until(lambda e: e.get("id") == "r1")
    qy = res.find(q(NS_INFO, "query"))
    feats = [f.get("var") for f in qy.findall(q(NS_INFO, "feature"))]
    for f in (NS_MUC, "muc_public", "muc_temporary", "muc_nonanonymous", "muc_open"):
        assert f in feats
    fields = {f.get("var"): f.findtext(q(NS_XDATA, "value")) for f in
              qy.find(q(NS_XDATA, "x")).findall(q(NS_XDATA, "field"))}
    assert fields["FORM_TYPE"] == "http://jabber.org/protocol/muc#roominfo"
    assert fields["muc#roominfo_occupants"] == "2"
    alice.send("<iq type='get' id='r2' to='nosuch@%s'><query xmlns='%s'/></iq>" % (MUC, NS_INFO))
    res, _ = alice.recv_until(lambda e: e.get("id") == "r2")
    assert res.get("type") == "error" and error_condition(res) == "item-not-found"
    close_all([alice, bob])


def test_slixmpp_muc(server):
    room = "slix1@" + MUC

    async def scenario():
        a = Client("alice@localhost/slix", pw("alice"), server.port, plugins=["xep_0045"])
        b = Client("bob@localhost/slix", pw("bob"), server.port, plugins=["xep_0045"])
        assert await a.start() and await b.start()
        pres, subject, occupants, history = await a["xep_0045"].join_muc_wait(room, "Alice", timeout=10)
        assert 201 in pres["muc"]["status_codes"] and 110 in pres["muc"]["status_codes"]
        form = await a["xep_0045"].get_room_config(room, timeout=10)
        await a["xep_0045"].set_room_config(room, form, timeout=10)
        got = asyncio.Queue()
        b.add_event_handler("muc::%s::message" % room, lambda m: got.put_nowait(m))
        pres, subject, occupants, history = await b["xep_0045"].join_muc_wait(room, "Bob", timeout=10)
        # slixmpp counts every occupant that came online during the join, ours last
        assert [str(p["from"]) for p in occupants] == [room + "/Alice", room + "/Bob"]
        assert pres["muc"]["role"] == "participant"
        a.send_message(mto=room, mbody="hi from slixmpp", mtype="groupchat")
        m = await asyncio.wait_for(got.get(), 10)
        assert str(m["from"]) == room + "/Alice" and m["body"] == "hi from slixmpp"
        assert set(b["xep_0045"].get_roster(room)) == {"Alice", "Bob"}
        await a.stop()
        await b.stop()
    run(scenario)


def test_rooms_per_session_bounded(server):
    # presence.c remembers at most 100 directed presences per session; a join past that is refused
    # rather than leaving an occupant the session's end would not remove
    frank = connect(server, "frank")
    for i in range(100):
        join(frank, "many%d" % i, "frank")
        read_join(frank)
    join(frank, "many100", "frank")
    err, _ = frank.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert err.get("type") == "error" and error_condition(err) == "resource-constraint"
    # leaving one makes room for another
    frank.send("<presence to='many0@%s/frank' type='unavailable'/>" % MUC)
    frank.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    join(frank, "many100", "frank")
    assert 201 in codes(read_join(frank)[-2])
    frank.close()
