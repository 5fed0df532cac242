"""TLS between the functions and the database, seen from the server and from a fake one.

The harness's cluster serves TLS with a certificate for `localhost` and
127.0.0.1 signed by a throwaway CA (devstack/tls.py). Containers configured as
in the cloud (DB_TLS=verify-full) must encrypt every session, and must refuse,
without sending a user name or password, a server whose certificate does not
verify, names another host, or that declines TLS altogether.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

import pytest

from tests.reliability.conftest import TALLY
from tests.reliability.faults_support import (
    COMMENTS,
    POSTS,
    USERS,
    Ledger,
    audit,
    clean,
    fleet,
    fleet_sessions,
    get_post_event,
    make_world,
    run_load,
)


@pytest.fixture()
def tls(pg_server):
    if pg_server.tls is None:
        pytest.skip("TLS tests need the harness's own cluster (DATABASE_URL is set)")
    return pg_server.tls


@pytest.fixture()
def admin(pg_server):
    from shared.migrations import connect_url

    conn = connect_url(pg_server.admin_url)
    yield conn
    conn.close()


def encryption_of(admin, dbname: str, tag: str) -> list[tuple[str, bool, str]]:
    return [
        (str(r[0]), bool(r[1]), str(r[2]))
        for r in admin.run(
            "SELECT a.usename::text, s.ssl, coalesce(s.version, '') FROM pg_stat_activity a"
            " JOIN pg_stat_ssl s ON s.pid = a.pid"
            " WHERE a.datname = :d AND starts_with(a.application_name, :t)",
            d=dbname,
            t=tag,
        )
    ]


def test_every_session_of_the_functions_is_encrypted_under_load(db, aws, owner_conn, admin, tls):
    # Given containers configured as in the cloud: verify-full against the server's CA
    world = make_world(owner_conn, users=10, posts=5)
    ledger = Ledger()
    seen: Counter[tuple[str, bool, str]] = Counter()
    env = {"DB_TLS": "verify-full", "DB_HOST": "localhost", "DB_CA_BUNDLE": str(tls.ca_cert)}
    with fleet(db, aws, [POSTS, POSTS, COMMENTS, USERS], overrides=env) as f:

        def watch(stop: threading.Event) -> None:
            while not stop.wait(0.2):
                seen.update(encryption_of(admin, db.name, f.tag))

        # When they serve a mixed workload
        run_load(f.containers, world, ledger, 3.0, during=watch, label="tls")
        final = encryption_of(admin, db.name, f.tag)
    TALLY["tls: requests over verified TLS"] += ledger.requests
    # Then every session the server saw from them was encrypted with TLS 1.2 or newer
    assert ledger.statuses and set(ledger.statuses) <= {200, 201}, ledger.statuses
    assert len(final) == 4
    assert seen and all(ssl and version in ("TLSv1.2", "TLSv1.3") for _, ssl, version in seen), seen
    assert {user for user, _, _ in seen} == {"blog_app"}
    assert clean(audit(owner_conn, world, ledger, "tls"))


def resolves_to_loopback(name: str) -> bool:
    try:
        return socket.gethostbyname(name) == "127.0.0.1"
    except OSError:
        return False


REFUSALS = {
    # The default bundle: only the Amazon Trust Services roots (the cloud's), not the harness's CA.
    "certificate from an unknown CA": lambda tls: {"DB_HOST": "localhost"},
    # The right CA, but the certificate names localhost and 127.0.0.1, not this name.
    "certificate for another host name": lambda tls: {"DB_HOST": "vm", "DB_CA_BUNDLE": str(tls.ca_cert)},
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_server_whose_certificate_does_not_verify_is_refused(db, aws, owner_conn, admin, tls, case):
    env = {"DB_TLS": "verify-full", **REFUSALS[case](tls)}
    if not resolves_to_loopback(env["DB_HOST"]):
        pytest.skip(f"{env['DB_HOST']} does not resolve to 127.0.0.1 here")
    world = make_world(owner_conn, users=1, posts=1)
    with fleet(db, aws, [POSTS, POSTS], overrides=env) as f:
        answers = [c.call(get_post_event(world.users[0], world.posts[0])) for c in f.containers for _ in range(5)]
        sessions = fleet_sessions(admin, db.name, f.tag)
    TALLY["tls: connections refused"] += len(answers)
    # Then every request fails fast with a clean 503, and no session ever logged in
    assert {a.status for a in answers} == {503}
    assert {a.error_code for a in answers} == {"database_unavailable"}
    assert max(a.seconds for a in answers) < 2.0
    assert sessions == []


class NoTlsServer:
    """A fake server that answers the client's TLS request with 'N' (no TLS here) and
    records whatever the client sends next: a downgrade attempt."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.ssl_requests = 0
        self.after_refusal = b""
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(1.0)
                try:
                    if conn.recv(8) == b"\x00\x00\x00\x08\x04\xd2\x16\x2f":  # SSLRequest
                        self.ssl_requests += 1
                    conn.sendall(b"N")
                    self.after_refusal += conn.recv(4096)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def test_a_server_that_declines_tls_gets_no_plaintext_login(db, aws, owner_conn, tls):
    world = make_world(owner_conn, users=1, posts=1)
    server = NoTlsServer()
    env = {"DB_TLS": "verify-full", "DB_HOST": "localhost", "DB_PORT": str(server.port)}
    env["DB_CA_BUNDLE"] = str(tls.ca_cert)
    try:
        with fleet(db, aws, [POSTS], overrides=env) as f:
            answers = [f.containers[0].call(get_post_event(world.users[0], world.posts[0])) for _ in range(3)]
        time.sleep(0.2)
    finally:
        server.close()
    TALLY["tls: downgrades refused"] += len(answers)
    assert {a.status for a in answers} == {503}
    assert server.ssl_requests >= 3
    # The client hung up instead of sending its startup message (user name) in clear text
    assert b"blog_app" not in server.after_refusal and server.after_refusal == b""
