"""conftest.py: fixtures for the black-box tests: a parleyd shared by a module (with accounts alice, bob,
carol, dave; passwords "<name>-pw") and fresh servers for tests that restart or signal the daemon."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Server  # noqa: E402

USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]


def pw(user):
    return user + "-pw"


@pytest.fixture(scope="module")
def server():
    # no read rate limit here, so that big-input tests run fast; test_stream checks the limit itself
    srv = Server(["limits.c2s_rate=0"])
    for u in USERS:
        srv.adduser(u, pw(u))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server():
    made = []

    def make(overrides=None, users=(), config_text=None, start=True):
        srv = Server(overrides, config_text=config_text)
        for u in users:
            srv.adduser(u, pw(u))
        if start:
            srv.start()
        made.append(srv)
        return srv

    yield make
    for srv in made:
        if srv.alive():
            srv.stop()
