"""test_muc_config.py: the owner's room configuration form of XEP-0045 (§10.1, §10.2, FORM_TYPE
muc#roomconfig) with raw stanzas: the form round trip (get shows what a submit set), a password room (no or
a wrong password refused with not-authorized, the right one accepted), a members-only room (a non-member
refused with registration-required, accepted after an affiliation grant), maxusers (service-unavailable
when full), a moderated room (a newcomer is a visitor and cannot speak), allowpm=none, invalid values
(bad-request naming the field), status 104/172/173 broadcast on change, cancel on a new locked room
destroying it, disco#info features following the configuration; and slixmpp's xep_0045 plugin reading and
setting the form."""
import xml.etree.ElementTree as ET

from conftest import pw
from harness import NS_CLIENT, NS_STANZAS, q
from slix import Client, run
from test_muc import (MUC, NS_INFO, NS_OWNER, NS_XDATA, close_all, codes, connect, create,
                      error_condition, item, join, read_join, room_with)
from test_muc_admin import admin

RC = "muc#roomconfig_"


def fields_xml(values):
    out = "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
    for var, val in values.items():
        vals = val if isinstance(val, list) else [val]
        out += "<field var='%s'>%s</field>" % (var, "".join("<value>%s</value>" % v for v in vals))
    return out


def configure(c, room, values, iid="cf"):
    c.send("<iq type='set' id='%s' to='%s@%s'><query xmlns='%s'><x xmlns='%s' type='submit'>%s</x></query></iq>"
           % (iid, room, MUC, NS_OWNER, NS_XDATA, fields_xml(values)))
    res, skipped = c.recv_until(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == iid)
    c.pending[:0] = skipped
    return res


def get_form(c, room, iid="gf"):
    c.send("<iq type='get' id='%s' to='%s@%s'><query xmlns='%s'/></iq>" % (iid, room, MUC, NS_OWNER))
    res, skipped = c.recv_until(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == iid)
    c.pending[:0] = skipped
    assert res.get("type") == "result", ET.tostring(res)
    x = res.find(q(NS_OWNER, "query")).find(q(NS_XDATA, "x"))
    assert x.get("type") == "form"
    return {f.get("var"): [v.text or "" for v in f.findall(q(NS_XDATA, "value"))]
            for f in x.findall(q(NS_XDATA, "field"))}, x


def features(c, room, iid="di"):
    c.send("<iq type='get' id='%s' to='%s@%s'><query xmlns='%s'/></iq>" % (iid, room, MUC, NS_INFO))
    res, skipped = c.recv_until(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == iid)
    c.pending[:0] = skipped
    return {f.get("var") for f in res.find(q(NS_INFO, "query")).findall(q(NS_INFO, "feature"))}


def join_error(c):
    el, _ = c.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert el.get("type") == "error", ET.tostring(el)
    return error_condition(el)


def error_text(el):
    t = el.find(q(NS_CLIENT, "error")).find(q(NS_STANZAS, "text"))
    return t.text if t is not None else ""


def test_form_round_trip(server):
    alice = connect(server, "alice")
    create(alice, "cfg1", "alice")
    form, x = get_form(alice, "cfg1")
    assert form["FORM_TYPE"] == ["http://jabber.org/protocol/muc#roomconfig"]
    for var in ("roomname", "roomdesc", "lang", "persistentroom", "publicroom", "passwordprotectedroom",
                "roomsecret", "membersonly", "moderatedroom", "maxusers", "whois", "changesubject", "allowpm",
                "allowinvites"):
        assert RC + var in form, var
    assert "muc#maxhistoryfetch" in form
    assert form[RC + "whois"] == ["anyone"] and form[RC + "membersonly"] == ["0"]
    assert form[RC + "allowpm"] == ["anyone"]
    types = {f.get("var"): f.get("type") for f in x.findall(q(NS_XDATA, "field"))}
    assert types[RC + "maxusers"] == "list-single" and types[RC + "roomsecret"] == "text-private"
    res = configure(alice, "cfg1", {RC + "roomname": "Tea room", RC + "roomdesc": "about tea",
                                    RC + "lang": "en", RC + "persistentroom": "true",
                                    RC + "publicroom": "0", RC + "changesubject": "1",
                                    RC + "maxusers": "20", RC + "allowpm": "moderators",
                                    "muc#maxhistoryfetch": "5", RC + "allowinvites": "1",
                                    "x-unknown#field": "ignored"})
    assert res.get("type") == "result", ET.tostring(res)
    form, _ = get_form(alice, "cfg1", "gf2")
    assert form[RC + "roomname"] == ["Tea room"] and form[RC + "roomdesc"] == ["about tea"]
    assert form[RC + "lang"] == ["en"] and form[RC + "persistentroom"] == ["1"]
    assert form[RC + "publicroom"] == ["0"] and form[RC + "changesubject"] == ["1"]
    assert form[RC + "maxusers"] == ["20"] and form[RC + "allowpm"] == ["moderators"]
    assert form["muc#maxhistoryfetch"] == ["5"] and form[RC + "allowinvites"] == ["1"]
    alice.send("<iq type='get' id='di' to='cfg1@%s'><query xmlns='%s'/></iq>" % (MUC, NS_INFO))
    res, skipped = alice.recv_until(lambda e: e.get("id") == "di")
    alice.pending[:0] = skipped
    info = res.find(q(NS_INFO, "query"))
    assert info.find(q(NS_INFO, "identity")).get("name") == "Tea room"
    roominfo = {f.get("var"): f.findtext(q(NS_XDATA, "value")) for f in info.iter(q(NS_XDATA, "field"))}
    assert roominfo["muc#roominfo_description"] == "about tea" and roominfo["muc#roominfo_lang"] == "en"
    # the owner got status 104 for the change
    msg, _ = alice.recv_until(lambda e: e.tag == q(NS_CLIENT, "message") and 104 in codes(e))
    assert msg.get("from") == "cfg1@" + MUC
    close_all([alice])


def test_password_room(server):
    alice, bob = connect(server, "alice"), connect(server, "bob")
    create(alice, "pw1", "alice")
    # protected without a secret: refused
    res = configure(alice, "pw1", {RC + "passwordprotectedroom": "1"})
    assert res.get("type") == "error" and error_condition(res) == "bad-request"
    res = configure(alice, "pw1", {RC + "passwordprotectedroom": "1", RC + "roomsecret": "s3cret"}, "c2")
    assert res.get("type") == "result"
    assert "muc_passwordprotected" in features(bob, "pw1") and "muc_unsecured" not in features(bob, "pw1", "d2")
    join(bob, "pw1", "bob")
    assert join_error(bob) == "not-authorized"
    join(bob, "pw1", "bob", "<password>wrong</password>")
    assert join_error(bob) == "not-authorized"
    join(bob, "pw1", "bob", "<password>s3cret</password>")
    els = read_join(bob)
    assert "bob" in els[-2].get("from")
    close_all([alice, bob])


def test_members_only(server):
    alice, bob = connect(server, "alice"), connect(server, "bob")
    create(alice, "mo1", "alice")
    assert "muc_open" in features(bob, "mo1")
    assert configure(alice, "mo1", {RC + "membersonly": "1"}).get("type") == "result"
    assert "muc_membersonly" in features(bob, "mo1", "d2")
    join(bob, "mo1", "bob")
    assert join_error(bob) == "registration-required"
    res = admin(alice, "mo1", "a1", "<item jid='bob@localhost' affiliation='member'/>")
    assert res.get("type") == "result"
    join(bob, "mo1", "bob")
    els = read_join(bob)
    assert item(els[-2]).get("affiliation") == "member"
    close_all([alice, bob])


def test_maxusers(server):
    alice, bob, carol = connect(server, "alice"), connect(server, "bob"), connect(server, "carol")
    create(alice, "max1", "alice")
    assert configure(alice, "max1", {RC + "maxusers": "0"}).get("type") == "error"
    assert configure(alice, "max1", {RC + "maxusers": "2"}, "c2").get("type") == "result"
    join(bob, "max1", "bob")
    read_join(bob)
    join(carol, "max1", "carol")
    assert join_error(carol) == "service-unavailable"
    close_all([alice, bob, carol])


def test_moderated_room_newcomer_is_visitor(server):
    alice, bob = connect(server, "alice"), connect(server, "bob")
    create(alice, "mod1", "alice")
    assert "muc_unmoderated" in features(bob, "mod1")
    assert configure(alice, "mod1", {RC + "moderatedroom": "1"}).get("type") == "result"
    assert "muc_moderated" in features(bob, "mod1", "d2")
    join(bob, "mod1", "bob")
    els = read_join(bob)
    assert item(els[-2]).get("role") == "visitor"
    bob.send("<message type='groupchat' to='mod1@%s'><body>hi</body></message>" % MUC)
    err, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("type") == "error")
    assert error_condition(err) == "forbidden"
    close_all([alice, bob])


def test_allowpm_none(server):
    alice, bob = room_with(server, "pm1", ["alice", "bob"])
    assert configure(alice, "pm1", {RC + "allowpm": "none"}).get("type") == "result"
    bob.send("<message type='chat' to='pm1@%s/alice'><body>psst</body></message>" % MUC)
    err, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("type") == "error")
    assert error_condition(err) == "not-allowed"
    assert configure(alice, "pm1", {RC + "allowpm": "anyone"}, "c2").get("type") == "result"
    bob.send("<message type='chat' to='pm1@%s/alice'><body>psst</body></message>" % MUC)
    m, _ = alice.recv_until(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("type") == "chat")
    assert m.get("from") == "pm1@%s/bob" % MUC
    close_all([alice, bob])


def test_invalid_values_bad_request(server):
    alice = connect(server, "alice")
    create(alice, "bad1", "alice")
    for i, (var, val) in enumerate(((RC + "membersonly", "maybe"), (RC + "whois", "everyone"),
                                    (RC + "allowpm", "nobody"), (RC + "maxusers", "lots"),
                                    ("muc#maxhistoryfetch", "-1"), (RC + "publicroom", ["1", "0"]))):
        res = configure(alice, "bad1", {var: val}, "b%d" % i)
        assert res.get("type") == "error" and error_condition(res) == "bad-request", var
        assert var in error_text(res), (var, error_text(res))
    # nothing was applied by the refused forms
    form, _ = get_form(alice, "bad1")
    assert form[RC + "membersonly"] == ["0"] and form[RC + "whois"] == ["anyone"]
    close_all([alice])


def test_whois_change_status_codes_and_anonymity(server):
    alice, bob, carol = room_with(server, "who1", ["alice", "bob", "carol"])
    assert "muc_nonanonymous" in features(bob, "who1")
    assert configure(alice, "who1", {RC + "whois": "moderators"}).get("type") == "result"
    for c in (alice, bob, carol):
        m, _ = c.recv_until(lambda e: e.tag == q(NS_CLIENT, "message") and codes(e))
        assert codes(m) == [104, 173], c
    assert "muc_semianonymous" in features(bob, "who1", "d2")
    # a newcomer: bob (participant) does not see dave's real JID, alice (moderator) does; no 100 for dave
    dave = connect(server, "dave")
    join(dave, "who1", "dave")
    els = read_join(dave)
    assert 100 not in codes(els[-2])
    p, _ = bob.recv_until(lambda e: e.get("from") == "who1@%s/dave" % MUC)
    assert item(p).get("jid") is None
    p, _ = alice.recv_until(lambda e: e.get("from") == "who1@%s/dave" % MUC)
    assert item(p).get("jid") == "dave@localhost/r"
    assert configure(alice, "who1", {RC + "whois": "anyone"}, "c2").get("type") == "result"
    m, _ = bob.recv_until(lambda e: e.tag == q(NS_CLIENT, "message") and codes(e))
    assert codes(m) == [104, 172]
    close_all([alice, bob, carol, dave])


def test_cancel_destroys_new_locked_room(server):
    alice, bob = connect(server, "alice"), connect(server, "bob")
    join(alice, "cancel1", "alice")
    read_join(alice)
    alice.send("<iq type='set' id='cx' to='cancel1@%s'><query xmlns='%s'><x xmlns='%s' type='cancel'/></query>"
               "</iq>" % (MUC, NS_OWNER, NS_XDATA))
    res, before = alice.recv_until(lambda e: e.get("id") == "cx")
    assert res.get("type") == "result"
    p, _ = alice.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence"))
    assert p.get("type") == "unavailable" and 110 in codes(p)
    # the room is gone: disco on it fails, and bob's join creates a new room he owns
    bob.send("<iq type='get' id='d' to='cancel1@%s'><query xmlns='%s'/></iq>" % (MUC, NS_INFO))
    res, _ = bob.recv_until(lambda e: e.get("id") == "d")
    assert res.get("type") == "error" and error_condition(res) == "item-not-found"
    create(bob, "cancel1", "bob")
    close_all([alice, bob])


def test_cancel_on_unlocked_room_keeps_it(server):
    alice = connect(server, "alice")
    create(alice, "cancel2", "alice")
    alice.send("<iq type='set' id='cx' to='cancel2@%s'><query xmlns='%s'><x xmlns='%s' type='cancel'/></query>"
               "</iq>" % (MUC, NS_OWNER, NS_XDATA))
    res, _ = alice.recv_until(lambda e: e.get("id") == "cx")
    assert res.get("type") == "result"
    assert "muc_open" in features(alice, "cancel2")
    close_all([alice])


def test_disco_features_follow_config(server):
    alice, bob = connect(server, "alice"), connect(server, "bob")
    create(alice, "disco1", "alice")
    f = features(bob, "disco1")
    assert {"muc_public", "muc_temporary", "muc_open", "muc_unmoderated", "muc_nonanonymous",
            "muc_unsecured"} <= f
    assert configure(alice, "disco1", {RC + "publicroom": "0", RC + "persistentroom": "1",
                                       RC + "whois": "moderators"}).get("type") == "result"
    f = features(bob, "disco1", "d2")
    assert {"muc_hidden", "muc_persistent", "muc_semianonymous"} <= f
    assert not f & {"muc_public", "muc_temporary", "muc_nonanonymous"}
    close_all([alice, bob])


def test_slixmpp_room_config(server):
    room = "slixcfg@" + MUC

    async def scenario():
        a = Client("alice@localhost/slix", pw("alice"), server.port, plugins=["xep_0045"])
        assert await a.start()
        muc = a["xep_0045"]
        await muc.join_muc_wait(room, "Alice", timeout=10)
        form = await muc.get_room_config(room, timeout=10)
        assert form.get_values()[RC + "whois"] == "anyone"
        form.set_values({RC + "roomname": "From slixmpp", RC + "membersonly": True})
        await muc.set_room_config(room, form, timeout=10)
        form = await muc.get_room_config(room, timeout=10)
        values = form.get_values()
        assert values[RC + "roomname"] == "From slixmpp" and values[RC + "membersonly"] is True
        await a.stop()
    run(scenario)
