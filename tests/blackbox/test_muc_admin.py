"""test_muc_admin.py: the muc#admin iq of XEP-0045 (§8 moderator, §9 admin, §10 owner use cases) with raw
stanzas: kick (307 with actor and reason to everyone, 110 added for the kicked one), ban (301, then the
rejoin refused with forbidden, and the outcast list), voice revoke/grant (role-change presence; a visitor's
groupchat refused with forbidden), privilege errors (not-allowed), malformed items (bad-request), unknown
nicks (item-not-found), affiliation lists round trip, last-owner protection (conflict); and slixmpp's
xep_0045 plugin doing a kick and reading a list."""
import asyncio

from harness import NS_CLIENT, q
from slix import Client, run
from test_muc import (MUC, NS_USER, close_all, codes, connect, error_condition, item, join, nothing_more,
                      read_join, room_with)

NS_ADMIN = "http://jabber.org/protocol/muc#admin"


def admin(c, room, iid, items, type_="set"):
    c.send("<iq type='%s' id='%s' to='%s@%s'><query xmlns='%s'>%s</query></iq>"
           % (type_, iid, room, MUC, NS_ADMIN, items))
    res, skipped = c.recv_until(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == iid)
    c.pending[:0] = skipped  # the broadcasts that came before the result stay readable
    return res


def presence_of(c, room, nick):
    el, _ = c.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == "%s@%s/%s"
                         % (room, MUC, nick))
    return el


def listing(c, room, iid, attr):
    res = admin(c, room, iid, "<item %s/>" % attr, "get")
    assert res.get("type") == "result", res
    return sorted((i.get("jid"), i.get("affiliation"), i.get("role"), i.get("nick"))
                  for i in res.find(q(NS_ADMIN, "query")))


def test_kick_status_codes_both_sides(server):
    alice, bob, carol = room_with(server, "kick1", ["alice", "bob", "carol"])
    res = admin(alice, "kick1", "k1", "<item nick='bob' role='none'><reason>spam</reason></item>")
    assert res.get("type") == "result"
    for c, expected in ((bob, [110, 307]), (carol, [307]), (alice, [307])):
        p = presence_of(c, "kick1", "bob")
        assert p.get("type") == "unavailable"
        assert codes(p) == expected, c
        it = item(p)
        assert it.get("role") == "none"
        assert it.find(q(NS_USER, "actor")).get("nick") == "alice"
        assert it.find(q(NS_USER, "reason")).text == "spam"
    # bob is gone: his groupchat is refused, carol's list of participants lacks him
    bob.send("<message type='groupchat' to='kick1@%s'><body>still here?</body></message>" % MUC)
    err, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert err.get("type") == "error" and error_condition(err) == "not-acceptable"
    assert [n for (_, _, _, n) in listing(alice, "kick1", "l1", "role='participant'")] == ["carol"]
    # he may come back (a kick is not a ban)
    join(bob, "kick1", "bob")
    assert codes(read_join(bob)[-2]) == [100, 110]
    close_all([alice, bob, carol])


def test_kick_unknown_nick_and_privileges(server):
    alice, bob, carol = room_with(server, "kick2", ["alice", "bob", "carol"])
    res = admin(alice, "kick2", "k1", "<item nick='nobody' role='none'/>")
    assert res.get("type") == "error" and error_condition(res) == "item-not-found"
    # a participant may not kick, nor revoke voice, nor ban, nor grant membership
    for iid, it in (("k2", "<item nick='carol' role='none'/>"), ("k3", "<item nick='carol' role='visitor'/>"),
                    ("k4", "<item jid='carol@localhost' affiliation='outcast'/>"),
                    ("k5", "<item jid='carol@localhost' affiliation='member'/>")):
        res = admin(bob, "kick2", iid, it)
        assert res.get("type") == "error" and error_condition(res) == "not-allowed", iid
    # nobody kicks the owner
    res = admin(bob, "kick2", "k6", "<item nick='alice' role='none'/>")
    assert error_condition(res) == "not-allowed"
    # nor reads lists
    res = admin(bob, "kick2", "k7", "<item affiliation='outcast'/>", "get")
    assert error_condition(res) == "not-allowed"
    res = admin(bob, "kick2", "k8", "<item role='moderator'/>", "get")
    assert error_condition(res) == "not-allowed"
    nothing_more(carol)
    close_all([alice, bob, carol])


def test_malformed_items(server):
    alice, bob = room_with(server, "bad1", ["alice", "bob"])
    for iid, it, type_ in (("b1", "<item nick='bob' role='king'/>", "set"),
                           ("b2", "<item nick='bob'/>", "set"),
                           ("b3", "<item role='none'/>", "set"),
                           ("b4", "<item jid='bob@localhost' affiliation='member' role='none' nick='bob'/>", "set"),
                           ("b5", "", "set"),
                           ("b6", "<item affiliation='member'/>", "set"),
                           ("b7", "<item jid='@@bad' affiliation='member'/>", "set"),
                           ("b8", "<item affiliation='member'/><item affiliation='admin'/>", "get"),
                           ("b9", "<item affiliation='superuser'/>", "get"),
                           ("b10", "<item jid='bob@localhost' affiliation='member'/>"
                                   "<item jid='bob@localhost' affiliation='admin'/>", "set")):
        res = admin(alice, "bad1", iid, it, type_)
        assert res.get("type") == "error" and error_condition(res) == "bad-request", iid
    nothing_more(bob)
    close_all([alice, bob])


def test_ban_then_rejoin_refused(server):
    alice, bob, carol = room_with(server, "ban1", ["alice", "bob", "carol"])
    res = admin(alice, "ban1", "x1",
                "<item jid='bob@localhost' affiliation='outcast'><reason>troll</reason></item>")
    assert res.get("type") == "result"
    for c, expected in ((bob, [110, 301]), (carol, [301])):
        p = presence_of(c, "ban1", "bob")
        assert p.get("type") == "unavailable" and codes(p) == expected
        it = item(p)
        assert (it.get("affiliation"), it.get("role")) == ("outcast", "none")
        assert it.find(q(NS_USER, "reason")).text == "troll"
        assert it.find(q(NS_USER, "actor")).get("nick") == "alice"
    join(bob, "ban1", "bob2")
    err, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert err.get("type") == "error" and error_condition(err) == "forbidden"
    assert listing(alice, "ban1", "x2", "affiliation='outcast'") == [("bob@localhost", "outcast", None, None)]
    # lifting the ban lets him in again
    assert admin(alice, "ban1", "x3", "<item jid='bob@localhost' affiliation='none'/>").get("type") == "result"
    assert listing(alice, "ban1", "x4", "affiliation='outcast'") == []
    join(bob, "ban1", "bob")
    assert codes(read_join(bob)[-2]) == [100, 110]
    close_all([alice, bob, carol])


def test_voice_revoke_and_grant(server):
    alice, bob, carol = room_with(server, "voice1", ["alice", "bob", "carol"])
    assert admin(alice, "voice1", "v1", "<item nick='bob' role='visitor'/>").get("type") == "result"
    for c, expected in ((bob, [110]), (carol, []), (alice, [])):
        p = presence_of(c, "voice1", "bob")
        assert p.get("type") is None and codes(p) == expected
        assert item(p).get("role") == "visitor"
    bob.send("<message type='groupchat' to='voice1@%s' id='m1'><body>hi</body></message>" % MUC)
    err, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert err.get("type") == "error" and error_condition(err) == "forbidden"
    nothing_more(carol)
    assert listing(alice, "voice1", "v2", "role='visitor'") == [("bob@localhost/r", "none", "visitor", "bob")]
    # a moderator's view of the roles
    assert [n for (_, _, _, n) in listing(alice, "voice1", "v3", "role='moderator'")] == ["alice"]
    # voice back: he speaks again
    assert admin(alice, "voice1", "v4", "<item nick='bob' role='participant'/>").get("type") == "result"
    assert item(presence_of(carol, "voice1", "bob")).get("role") == "participant"
    presence_of(bob, "voice1", "bob")
    bob.send("<message type='groupchat' to='voice1@%s'><body>back</body></message>" % MUC)
    m, _ = carol.recv_until(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert m.findtext(q(NS_CLIENT, "body")) == "back"
    close_all([alice, bob, carol])


def test_affiliation_lists_round_trip_and_admin_powers(server):
    alice, bob, carol = room_with(server, "aff1", ["alice", "bob", "carol"])
    res = admin(alice, "aff1", "a1", "<item jid='bob@localhost' affiliation='admin'/>"
                "<item jid='dave@localhost/x' affiliation='member'/>"
                "<item jid='erin@localhost' affiliation='member'/>")
    assert res.get("type") == "result"
    # bob, an occupant, becomes a moderator (one role-change presence to each)
    p = presence_of(carol, "aff1", "bob")
    assert (item(p).get("affiliation"), item(p).get("role")) == ("admin", "moderator")
    assert codes(presence_of(bob, "aff1", "bob")) == [110]
    assert listing(alice, "aff1", "a2", "affiliation='member'") == [
        ("dave@localhost", "member", None, None), ("erin@localhost", "member", None, None)]
    assert listing(bob, "aff1", "a3", "affiliation='admin'") == [("bob@localhost", "admin", None, None)]
    assert listing(alice, "aff1", "a4", "affiliation='owner'") == [("alice@localhost", "owner", None, None)]
    # an admin manages members, not admins or owners
    assert admin(bob, "aff1", "a5", "<item jid='erin@localhost' affiliation='none'/>").get("type") == "result"
    for iid, it in (("a6", "<item jid='carol@localhost' affiliation='admin'/>"),
                    ("a7", "<item jid='alice@localhost' affiliation='outcast'/>"),
                    ("a8", "<item jid='alice@localhost' affiliation='member'/>")):
        res = admin(bob, "aff1", iid, it)
        assert error_condition(res) == "not-allowed", iid
    # an admin may kick a participant (by its nick) and grant membership by nick
    assert admin(bob, "aff1", "a9", "<item nick='carol' affiliation='member'/>").get("type") == "result"
    assert item(presence_of(carol, "aff1", "carol")).get("affiliation") == "member"
    assert listing(alice, "aff1", "a10", "affiliation='member'") == [
        ("carol@localhost", "member", None, None), ("dave@localhost", "member", None, None)]
    # the owner takes bob's admin away: he is a plain participant again
    assert admin(alice, "aff1", "a11", "<item jid='bob@localhost' affiliation='none'/>").get("type") == "result"
    p = presence_of(carol, "aff1", "bob")
    assert (item(p).get("affiliation"), item(p).get("role")) == ("none", "participant")
    assert listing(alice, "aff1", "a12", "affiliation='admin'") == []
    close_all([alice, bob, carol])


def test_last_owner_protection(server):
    alice, bob = room_with(server, "own1", ["alice", "bob"])
    for iid, aff in (("o1", "admin"), ("o2", "none"), ("o3", "outcast")):
        res = admin(alice, "own1", iid, "<item jid='alice@localhost' affiliation='%s'/>" % aff)
        assert res.get("type") == "error" and error_condition(res) == "conflict", iid
    # with a second owner, the first may step down
    assert admin(alice, "own1", "o4", "<item jid='bob@localhost' affiliation='owner'/>").get("type") == "result"
    assert listing(bob, "own1", "o5", "affiliation='owner'") == [
        ("alice@localhost", "owner", None, None), ("bob@localhost", "owner", None, None)]
    assert admin(alice, "own1", "o6", "<item jid='alice@localhost' affiliation='member'/>").get("type") == "result"
    p = presence_of(bob, "own1", "alice")
    assert (item(p).get("affiliation"), item(p).get("role")) == ("member", "participant")
    # and now bob is the last one
    res = admin(bob, "own1", "o7", "<item jid='bob@localhost' affiliation='none'/>")
    assert error_condition(res) == "conflict"
    res = admin(alice, "own1", "o8", "<item jid='bob@localhost' affiliation='none'/>")
    assert error_condition(res) == "not-allowed"
    close_all([alice, bob])


def test_slixmpp_kick_voice_and_lists(server):
    room = "slix1@" + MUC
    bob = connect(server, "bob")

    async def scenario():
        a = Client("alice@localhost/slix", "alice-pw", server.port, plugins=["xep_0045"])
        assert await a.start()
        muc = a["xep_0045"]
        await muc.join_muc_wait(room, "Alice", timeout=10)
        await muc.set_room_config(room, await muc.get_room_config(room, timeout=10), timeout=10)
        join(bob, "slix1", "bob")
        read_join(bob)
        for _ in range(50):
            if "bob" in muc.get_roster(room):
                break
            await asyncio.sleep(0.1)
        await muc.set_role(room, "bob", "visitor", timeout=10)
        assert await muc.get_roles_list(room, "visitor", timeout=10) == ["bob"]
        await muc.set_affiliation(room, "member", jid="carol@localhost", timeout=10)
        assert [str(j) for j in await muc.get_affiliation_list(room, "member", timeout=10)] == ["carol@localhost"]
        await muc.set_role(room, "bob", "none", reason="bye", timeout=10)
        for _ in range(50):
            if "bob" not in muc.get_roster(room):
                break
            await asyncio.sleep(0.1)
        assert "bob" not in muc.get_roster(room)
        await a.stop()
    run(scenario)
    p = presence_of(bob, "slix1", "bob")
    assert item(p).get("role") == "visitor"
    p = presence_of(bob, "slix1", "bob")
    assert p.get("type") == "unavailable" and codes(p) == [110, 307]
    assert item(p).find(q(NS_USER, "actor")).get("nick") == "Alice"
    bob.close()
