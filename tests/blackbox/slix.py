"""slix.py: runs slixmpp (Debian's python3-slixmpp, a client nobody here wrote) against parleyd.

Each test runs its scenario in a fresh asyncio loop through run(); Client records what it receives."""
import asyncio
import ssl

import slixmpp

from harness import SLOW


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, port, mech=None, plugins=()):
        super().__init__(jid, password, sasl_mech=mech)
        self.port = port
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.subscribe_requests = asyncio.Queue()
        self.ready = asyncio.Event()
        self.auth_failed = asyncio.Event()
        for p in ("xep_0030", "xep_0199", "xep_0203", *plugins):
            self.register_plugin(p)
        self.add_event_handler("session_start", lambda _: self.ready.set())
        self.add_event_handler("failed_all_auth", lambda _: self.auth_failed.set())
        self.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("presence_available", lambda p: self.presences.put_nowait(p))
        self.add_event_handler("presence_subscribe", lambda p: self.subscribe_requests.put_nowait(p))

    async def start(self, timeout=15):
        """Connects and waits for the session to start. Returns True, or False if authentication
        failed."""
        self.connect(("127.0.0.1", self.port))
        done, _ = await asyncio.wait(
            [asyncio.ensure_future(self.ready.wait()), asyncio.ensure_future(self.auth_failed.wait())],
            timeout=timeout * SLOW, return_when=asyncio.FIRST_COMPLETED)
        if self.ready.is_set():
            return True
        if self.auth_failed.is_set():
            return False
        raise AssertionError("slixmpp session for %s did not start in time" % self.boundjid)

    async def next_message(self, timeout=10):
        return await asyncio.wait_for(self.messages.get(), timeout * SLOW)

    async def stop(self):
        self.disconnect()
        try:
            await asyncio.wait_for(self.disconnected, 5 * SLOW)
        except Exception:
            pass


def run(coro_fn, timeout=60):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro_fn(), timeout * SLOW))
    finally:
        loop.run_until_complete(asyncio.sleep(0.05))
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)
