"""test_browser.py: real browsers against the real parleyd: headless Chromium (Debian's chromium, driven by
npm playwright-core in tests/browser/converse_chat.mjs) loads the Converse.js page parleyd serves from
web/dist, two users log in through its login form (one over WebSocket, one over BOSH), see each other
online and exchange messages, and a guest joins through the page's guest link and is bound on the
anonymous host. The mutual presence subscription is created beforehand with two raw TCP clients.
Screenshots go to tests/artifacts/ (chat-a.png, chat-b.png, anonymous.png).

Skipped only when chromium, node, tests/browser/node_modules or web/dist is missing; scripts/test.sh
installs and builds all of them."""
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import pw
from harness import NS_CLIENT, SLOW, RawClient, q

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WEB_DIST = os.path.join(ROOT, "web", "dist")
BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
SCRIPT = os.path.join(BROWSER_DIR, "converse_chat.mjs")
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NS_ROSTER = "jabber:iq:roster"
ANON_HOST = "anon.localhost"


def missing():
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is missing (Debian package chromium; scripts/test.sh installs it)" % CHROMIUM
    if shutil.which("node") is None:
        return "node is missing (scripts/test.sh installs nodejs)"
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        return "tests/browser/node_modules is missing (run npm ci in tests/browser; scripts/test.sh does)"
    if not os.path.isfile(os.path.join(WEB_DIST, "index.html")):
        return "web/dist is missing (run npm ci && node build.mjs in web/; scripts/test.sh does)"
    return None


def roster_of(c, iq_id):
    c.send("<iq type='get' id='%s'><query xmlns='%s'/></iq>" % (iq_id, NS_ROSTER))
    el, _ = c.recv_until(lambda e: e.get("id") == iq_id)
    assert el.get("type") == "result", ET.tostring(el)
    return {i.get("jid"): i.get("subscription") for i in el.find(q(NS_ROSTER, "query"))}


def subscribe(frm, to, frm_jid, to_jid):
    """frm asks to see to's presence and to approves, each step waiting for its effect (no pre-approval
    race): to receives the request before it answers, frm receives the approval before returning."""
    frm.send("<presence to='%s' type='subscribe'/>" % to_jid)
    to.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribe" and
                  e.get("from", "").split("/")[0] == frm_jid)
    to.send("<presence to='%s' type='subscribed'/>" % frm_jid)
    frm.recv_until(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribed" and
                   e.get("from", "").split("/")[0] == to_jid)


def make_friends(srv, a, b):
    """Mutual subscription ("both") between a@localhost and b@localhost, checked in both rosters."""
    ja, jb = "%s@localhost" % a, "%s@localhost" % b
    ca, cb = RawClient(srv.port), RawClient(srv.port)
    try:
        ca.login(a, pw(a), "setup")
        cb.login(b, pw(b), "setup")
        for c, peer, name in ((ca, jb, b), (cb, ja, a)):
            roster_of(c, "g0")  # an "interested resource" (RFC 6121 2.1.6) gets the subscription presences
            c.send("<iq type='set' id='r1'><query xmlns='%s'><item jid='%s' name='%s'/></query></iq>" %
                   (NS_ROSTER, peer, name.capitalize()))
            el, _ = c.recv_until(lambda e: e.get("id") == "r1")
            assert el.get("type") == "result", ET.tostring(el)
            c.send("<presence/>")
        subscribe(ca, cb, ja, jb)
        subscribe(cb, ca, jb, ja)
        assert roster_of(ca, "g1").get(jb) == "both"
        assert roster_of(cb, "g2").get(ja) == "both"
        for c in (ca, cb):
            c.send("<presence type='unavailable'/></stream:stream>")
    finally:
        ca.close()
        cb.close()


def test_converse_websocket_bosh_and_guest(fresh_server):
    reason = missing()
    if reason:
        pytest.skip(reason)
    srv = fresh_server(["http.web_root=%s" % WEB_DIST, "hosts.anonymous=%s" % ANON_HOST],
                       users=("alice", "bob"))
    make_friends(srv, "alice", "bob")
    os.makedirs(ARTIFACTS, exist_ok=True)
    for name in ("chat-a.png", "chat-b.png", "anonymous.png", "failure-A.png", "failure-B.png",
                 "failure-guest.png"):
        if os.path.exists(os.path.join(ARTIFACTS, name)):
            os.unlink(os.path.join(ARTIFACTS, name))
    scale = 1.5 if SLOW > 1 else 1  # the browser is not slower under the sanitizers, parleyd a bit
    env = dict(os.environ,
               PARLEY_URL="http://127.0.0.1:%d/" % srv.http_port,
               USER_A="alice@localhost", PASS_A=pw("alice"),
               USER_B="bob@localhost", PASS_B=pw("bob"),
               ANON_HOST=ANON_HOST, ARTIFACTS=ARTIFACTS, CHROMIUM=CHROMIUM,
               WAIT_MS=str(int(20000 * scale)), RUN_TIMEOUT_MS=str(int(85000 * scale)))
    p = subprocess.run(["node", SCRIPT], cwd=BROWSER_DIR, env=env, capture_output=True, text=True,
                       timeout=100 * scale)
    out = p.stdout + p.stderr
    assert p.returncode == 0, "browser test failed:\n%s\nparleyd log (tail):\n%s" % (out, srv.log()[-3000:])
    assert "converse_chat: OK" in p.stdout, out
    for name in ("chat-a.png", "chat-b.png", "anonymous.png"):
        assert os.path.getsize(os.path.join(ARTIFACTS, name)) > 5000, name  # a blank page is ~3 kB
    assert srv.alive(), "parleyd died during the browser test:\n" + srv.log()[-3000:]
