"""test_load.py: 1,000 concurrent client connections that all negotiate STARTTLS, authenticate with
SASL PLAIN, bind a resource and stay connected at the same time; then every one of them gets an answer
to a ping, the server reports them in its status, and all close cleanly. This is a correctness test at
scale (nothing is timed)."""
import asyncio
import base64
import json
import resource
import ssl

from conftest import pw
from harness import SLOW

N = 1000
USERS = 50  # 20 resources each


async def one_client(port, user, res, barrier, results, setup_slots):
    await setup_slots.acquire()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    r, w = await asyncio.open_connection("127.0.0.1", port)
    header = ("<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams'>")

    async def read_until(*tokens):
        buf = b""
        while not any(t in buf for t in tokens):
            chunk = await r.read(65536)
            if not chunk:
                raise ConnectionError("closed while waiting for %r; got %r" % (tokens, buf[-300:]))
            buf += chunk
        return buf

    w.write(header.encode())
    await read_until(b"</stream:features>")
    w.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await read_until(b"<proceed")
    await w.start_tls(ctx, server_hostname="localhost")
    w.write(header.encode())
    await read_until(b"</stream:features>")
    blob = base64.b64encode(("\0%s\0%s" % (user, pw(user))).encode()).decode()
    w.write(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>" % blob).encode())
    got = await read_until(b"/>")
    if b"<success" not in got:
        raise ConnectionError("auth failed: %r" % got)
    w.write(header.encode())
    await read_until(b"</stream:features>")
    w.write(("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource>"
             "</bind></iq>" % res).encode())
    got = await read_until(b"</iq>")
    if b"type='result'" not in got and b'type="result"' not in got:
        raise ConnectionError("bind failed: %r" % got)
    results["bound"] += 1
    setup_slots.release()
    await barrier.wait()  # every connection is authenticated and bound at the same time
    w.write(b"<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    got = await read_until(b"id='p'", b'id="p"')
    if b"type='result'" not in got and b'type="result"' not in got:
        raise ConnectionError("ping failed: %r" % got)
    results["pinged"] += 1
    await barrier.wait()
    w.write(b"</stream:stream>")
    await read_until(b"</stream:stream>")
    w.close()
    results["closed"] += 1


class Barrier:
    """asyncio.Barrier exists only from Python 3.11 on; this one also lets the test look in between."""

    def __init__(self, n, on_full=None):
        self.n, self.count, self.on_full = n, 0, on_full
        self.event = asyncio.Event()

    async def wait(self):
        self.count += 1
        if self.count == self.n:
            if self.on_full:
                await self.on_full()
            self.count = 0
            ev, self.event = self.event, asyncio.Event()
            ev.set()
        else:
            await self.event.wait()


def test_thousand_concurrent_authenticated_connections(fresh_server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    srv = fresh_server(["limits.max_resources=20", "limits.c2s_rate=0"], start=False)
    for i in range(USERS):
        srv.adduser("load%d" % i, pw("load%d" % i))
    srv.start()
    results = {"bound": 0, "pinged": 0, "closed": 0, "status": None}

    async def check_status():
        if results["status"] is None:
            proc = await asyncio.create_subprocess_exec(
                *srv_ctl_args(srv, "status"), stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            results["status"] = json.loads(out)

    async def main():
        barrier = Barrier(N, on_full=check_status)
        sem = asyncio.Semaphore(200)  # connections being set up at once; all stay open afterwards

        await asyncio.wait_for(asyncio.gather(*(
            one_client(srv.port, "load%d" % (i % USERS), "r%d" % (i // USERS), barrier, results, sem)
            for i in range(N))), 240 * SLOW)

    asyncio.run(main())
    assert results["bound"] == N
    assert results["status"]["connections"] >= N
    assert results["pinged"] == N
    assert results["closed"] == N
    assert srv.alive()


def srv_ctl_args(srv, *args):
    import os
    from harness import BUILD
    return [os.path.join(BUILD, "parleyctl"), "--config", srv.config, *srv.overrides, *args]
