"""test_im.py: RFC 6121 instant messaging through slixmpp, a standard client library: login by each SASL
mechanism, wrong password, roster and presence between two users, bare and full JID delivery across
resources, and offline storage delivered at the next login."""
import asyncio

import pytest

from conftest import pw
from slix import Client, run


async def login_and_ping(port, mech):
    c = Client("alice@localhost/slix", pw("alice"), port, mech=mech)
    assert await c.start()
    assert str(c.boundjid) == "alice@localhost/slix"
    await c["xep_0199"].ping(jid="localhost", timeout=10)  # a round trip to the server (XEP-0199)
    await c.stop()


@pytest.mark.parametrize("mech", [None, "PLAIN"])
def test_login_by_mechanism(server, mech):
    # None: slixmpp's own choice. slixmpp 1.8 knows only tls-unique channel binding, so it tries the
    # offered -PLUS mechanisms with it and SCRAM with "y" (both refused, RFC 5802 §6) and lands on PLAIN.
    run(lambda: login_and_ping(server.port, mech))


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
def test_scram_login_without_channel_binding(fresh_server, mech):
    # with [tls] channel_binding = false no -PLUS is offered and slixmpp's "y" flag is acceptable
    srv = fresh_server(["tls.channel_binding=false"], users=["alice"])
    run(lambda: login_and_ping(srv.port, mech))


def test_scram_y_flag_refused_while_plus_is_offered(server):
    async def scenario():
        c = Client("alice@localhost/y", pw("alice"), server.port, mech="SCRAM-SHA-256")
        assert await c.start() is False  # downgrade protection
        c.disconnect()
    run(scenario)


def test_anonymous_login(server):
    async def scenario():
        c = Client("anon.localhost", "", server.port)
        assert await c.start()
        assert c.boundjid.domain == "anon.localhost" and c.boundjid.user
        await c.stop()
    run(scenario)


def test_wrong_password(server):
    async def scenario():
        c = Client("alice@localhost/bad", "wrong-password", server.port, mech="SCRAM-SHA-1")
        assert await c.start() is False
        c.disconnect()
    run(scenario)


def test_roster_and_presence_between_two_users(server):
    async def scenario():
        a = Client("alice@localhost/roster", pw("alice"), server.port)
        b = Client("bob@localhost/roster", pw("bob"), server.port)
        b.auto_authorize = True   # bob approves alice's request and subscribes back (slixmpp default)
        b.auto_subscribe = True
        a.auto_authorize = True
        assert await a.start() and await b.start()
        await a.get_roster()
        await b.get_roster()
        a.send_presence()
        b.send_presence()
        a.send_presence_subscription(pto="bob@localhost")
        for _ in range(100):
            if (a.client_roster["bob@localhost"]["subscription"] == "both" and
                    b.client_roster["alice@localhost"]["subscription"] == "both"):
                break
            await asyncio.sleep(0.1)
        assert a.client_roster["bob@localhost"]["subscription"] == "both"
        assert b.client_roster["alice@localhost"]["subscription"] == "both"
        # each sees the other online
        for _ in range(100):
            if a.client_roster["bob@localhost"].resources and b.client_roster["alice@localhost"].resources:
                break
            await asyncio.sleep(0.1)
        assert "roster" in a.client_roster["bob@localhost"].resources
        assert "roster" in b.client_roster["alice@localhost"].resources
        # name and group, stored and pushed
        await a.update_roster("bob@localhost", name="Bobby", groups=["Friends", "Ünïcode"])
        await b.stop()
        # bob's unavailable presence reaches alice
        for _ in range(100):
            if not a.client_roster["bob@localhost"].resources:
                break
            await asyncio.sleep(0.1)
        assert not a.client_roster["bob@localhost"].resources
        await a.stop()
        # a new session of alice gets the stored roster
        a2 = Client("alice@localhost/again", pw("alice"), server.port)
        assert await a2.start()
        await a2.get_roster()
        item = a2.client_roster["bob@localhost"]
        assert item["subscription"] == "both" and item["name"] == "Bobby"
        assert sorted(item["groups"]) == ["Friends", "Ünïcode"]
        # removing the contact cancels the subscriptions both ways
        await a2.del_roster_item("bob@localhost")
        await a2.get_roster()
        assert "bob@localhost" not in a2.client_roster.keys() or \
            a2.client_roster["bob@localhost"]["subscription"] in ("none", "remove")
        await a2.stop()
    run(scenario)


def test_bare_and_full_jid_delivery(server):
    async def scenario():
        r1 = Client("carol@localhost/r1", pw("carol"), server.port)
        r2 = Client("carol@localhost/r2", pw("carol"), server.port)
        r3 = Client("carol@localhost/r3", pw("carol"), server.port)
        d = Client("dave@localhost/d", pw("dave"), server.port)
        for c in (r1, r2, r3, d):
            assert await c.start()
        r1.send_presence(ppriority=5)
        r2.send_presence(ppriority=1)
        r3.send_presence(ppriority=-1)
        d.send_presence()
        await asyncio.sleep(0.5)
        # full JID: exactly that resource, even with a negative priority
        d.send_message(mto="carol@localhost/r3", mbody="to r3", mtype="chat")
        m = await r3.next_message()
        assert m["body"] == "to r3" and str(m["from"]) == "dave@localhost/d"
        # bare JID: every resource with a non-negative priority, not the negative one
        d.send_message(mto="carol@localhost", mbody="to bare", mtype="chat")
        assert (await r1.next_message())["body"] == "to bare"
        assert (await r2.next_message())["body"] == "to bare"
        # unknown resource: chat falls back to the bare JID
        d.send_message(mto="carol@localhost/gone", mbody="fallback", mtype="chat")
        assert (await r1.next_message())["body"] == "fallback"
        assert (await r2.next_message())["body"] == "fallback"
        await asyncio.sleep(0.3)
        assert r3.messages.empty(), "a negative-priority resource got a bare-JID message"
        for c in (r1, r2, r3, d):
            await c.stop()
    run(scenario)


def test_offline_messages_delivered_at_next_login(server):
    async def scenario():
        d = Client("dave@localhost/sender", pw("dave"), server.port)
        assert await d.start()
        for i in range(3):
            d.send_message(mto="erin@localhost", mbody="offline %d" % i, mtype="chat")
        d.send_message(mto="erin@localhost", mbody="headline is not stored", mtype="headline")
        await asyncio.sleep(0.5)
        await d.stop()
        e = Client("erin@localhost/back", pw("erin"), server.port)
        assert await e.start()
        e.send_presence()
        got = [await e.next_message() for _ in range(3)]
        assert [m["body"] for m in got] == ["offline 0", "offline 1", "offline 2"]
        for m in got:
            assert str(m["from"]).startswith("dave@localhost")
            assert m["delay"]["stamp"] is not None  # XEP-0203 delay on stored messages
        await asyncio.sleep(0.3)
        assert e.messages.empty()
        await e.stop()
        # delivered once: a new login gets nothing
        e2 = Client("erin@localhost/again", pw("erin"), server.port)
        assert await e2.start()
        e2.send_presence()
        await asyncio.sleep(0.5)
        assert e2.messages.empty()
        await e2.stop()
    run(scenario)
