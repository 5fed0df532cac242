"""The layer's connection against real PostgreSQL: round trips, recovery,
credential rotation, TLS, and the one-statement-per-request protocol."""

from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest
from pg8000.exceptions import InterfaceError

from devstack import provision
from shared import errors
from shared.db import Database, get_database, ssl_context_for
from shared.settings import load_settings
from shared.wire import PipelinedConnection
from testing.relay import Relay
from tests.conftest import APP_SECRET, layer_env
from tests.support.auth import password_is_checked


def test_parameterized_read_is_one_round_trip(db):
    # Given a warm connection
    database = get_database()
    database.value("SELECT 1")
    before = database.round_trips
    # When a parameterized statement runs
    row = database.one("SELECT :a::int + :b::int AS total, :s AS s", a=2, b=3, s="x")
    # Then it took one round trip (pg8000's own path takes three)
    assert row == {"total": 5, "s": "x"}
    assert database.round_trips - before == 1


def test_pg8000_default_path_costs_three_round_trips(db):
    conn = get_database().connection()
    before = conn.round_trips
    conn.run("SELECT :a::int", a=1, types={"a": 23})  # explicit types keep pg8000's own path
    assert conn.round_trips - before == 3


def test_round_trips_through_a_delaying_relay(db):
    """Count round trips on the wire, not in our own counter: every packet the
    client sends is delayed by 20 ms, so added latency / 20 ms = round trips."""
    delay = 0.02
    relay = Relay(db.host, db.port, delay=delay)
    settings = load_settings(layer_env(db, DB_PORT=str(relay.port)))
    database = Database(settings.db)
    try:
        database.value("SELECT 1")
        started = time.perf_counter()
        for _ in range(5):
            database.one("SELECT :x::int AS x", x=1)
        per_query = (time.perf_counter() - started) / 5
        assert per_query / delay == pytest.approx(1, abs=0.45)
    finally:
        database.close()
        relay.close()


def test_values_never_become_sql(db, owner_conn):
    nasty = ["'; DROP TABLE users; --", "\\'; SELECT 1; --", "$$; DROP TABLE posts; $$", "%_\\", "🙂 ' \" ;"]
    database = get_database()
    for value in nasty:
        assert database.value("SELECT :v::text", v=value) == value
    # PostgreSQL text cannot hold NUL: a clear 422, not a 500
    with pytest.raises(errors.Unprocessable):
        database.value("SELECT :v::text", v="a\u0000b")
    assert owner_conn.run("SELECT to_regclass('users') IS NOT NULL AND to_regclass('posts') IS NOT NULL")[0][0]


def test_two_statements_in_one_constant_are_refused(db):
    with pytest.raises(errors.AppError):
        get_database().value("SELECT :a::int; SELECT 2", a=1)


def test_run_atomic_is_one_round_trip_and_all_or_nothing(db, owner_conn):
    owner_conn.run("CREATE TABLE IF NOT EXISTS atomic_probe (id int PRIMARY KEY)")
    owner_conn.run("GRANT ALL ON atomic_probe TO blog_app")
    database = get_database()
    database.value("SELECT 1")
    before = database.round_trips
    database.run_atomic(
        [("INSERT INTO atomic_probe VALUES (:i)", {"i": 1}), ("INSERT INTO atomic_probe VALUES (:i)", {"i": 2})]
    )
    assert database.round_trips - before == 1
    with pytest.raises(errors.Conflict):
        database.run_atomic(
            [("INSERT INTO atomic_probe VALUES (:i)", {"i": 3}), ("INSERT INTO atomic_probe VALUES (:i)", {"i": 1})]
        )
    assert [r[0] for r in owner_conn.run("SELECT id FROM atomic_probe ORDER BY id")] == [1, 2]
    owner_conn.run("DROP TABLE atomic_probe")


def test_transaction_commits_and_rolls_back(db, owner_conn):
    owner_conn.run("CREATE TABLE IF NOT EXISTS tx_probe (id int PRIMARY KEY)")
    owner_conn.run("GRANT ALL ON tx_probe TO blog_app")
    database = get_database()
    with database.transaction() as tx:
        tx.execute("INSERT INTO tx_probe VALUES (:i)", i=1)
        tx.execute("INSERT INTO tx_probe VALUES (:i)", i=2)
    with pytest.raises(RuntimeError), database.transaction() as tx:
        tx.execute("INSERT INTO tx_probe VALUES (:i)", i=3)
        raise RuntimeError("boom")
    with pytest.raises(errors.Conflict), database.transaction() as tx:
        tx.execute("INSERT INTO tx_probe VALUES (:i)", i=4)
        tx.execute("INSERT INTO tx_probe VALUES (:i)", i=1)
    assert [r[0] for r in owner_conn.run("SELECT id FROM tx_probe ORDER BY id")] == [1, 2]
    # the connection is usable and idle afterwards
    assert database.value("SELECT 1") == 1
    assert not database.connection().in_transaction
    owner_conn.run("DROP TABLE tx_probe")


def test_reconnects_after_backend_terminated(db, owner_conn):
    database = get_database()
    pid = database.value("SELECT pg_backend_pid()")
    owner_conn.run("SELECT pg_terminate_backend(:p)", p=pid)
    time.sleep(0.1)
    # Reads and writes both recover: the dead idle socket is noticed before sending.
    assert database.value("SELECT pg_backend_pid()") != pid
    pid2 = database.value("SELECT pg_backend_pid()")
    owner_conn.run("SELECT pg_terminate_backend(:p)", p=pid2)
    time.sleep(0.1)
    assert database.execute("SELECT 1") == 1
    assert database.connects == 3


def test_read_retried_once_when_connection_breaks_mid_statement(db, owner_conn):
    database = get_database()
    pid = database.value("SELECT pg_backend_pid()")
    killer = threading.Timer(0.3, lambda: owner_conn.run("SELECT pg_terminate_backend(:p)", p=pid))
    killer.start()
    # The first attempt dies inside pg_sleep; the retry on a new connection succeeds.
    assert database.value("SELECT 42 FROM pg_sleep(CASE WHEN pg_backend_pid() = :p THEN 2 ELSE 0 END)", p=pid) == 42
    killer.join()


def test_write_not_retried_when_connection_breaks_mid_statement(db, owner_conn):
    database = get_database()
    pid = database.value("SELECT pg_backend_pid()")
    killer = threading.Timer(0.3, lambda: owner_conn.run("SELECT pg_terminate_backend(:p)", p=pid))
    killer.start()
    with pytest.raises(errors.ServiceUnavailable):
        database.execute("SELECT pg_sleep(2)")
    killer.join()
    assert database.value("SELECT 1") == 1


def test_secret_rotation_needs_one_forced_fetch(db, aws, owner_conn):
    database = get_database()
    assert database.value("SELECT current_user") == "blog_app"
    calls = count_secret_fetches()
    # When the password changes in the database and in Secrets Manager
    new_password = "rotated-" + db.passwords[provision.APP][:12]
    from shared.migrations import set_role_password

    set_role_password(owner_conn, provision.APP, new_password)
    db.passwords[provision.APP] = new_password
    aws["client"].put_secret_value(SecretId=APP_SECRET, SecretString=db.secret(provision.APP))
    database.discard()  # the next request runs in a fresh connection (as after a proxy drop)
    # Then the next query succeeds: the cached secret fails (28P01), one forced fetch fixes it
    if not password_is_checked(db):
        pytest.skip("the server behind DATABASE_URL does not check passwords (trust auth)")
    assert database.value("SELECT current_user") == "blog_app"
    assert calls() == 1


def test_wrong_secret_gives_503_not_a_hang(db, aws, monkeypatch):
    if not password_is_checked(db):
        pytest.skip("the server behind DATABASE_URL does not check passwords (trust auth)")
    aws["client"].create_secret(Name="blog/test/wrong", SecretString='{"username": "blog_app", "password": "nope"}')
    settings = load_settings(layer_env(db, DB_SECRET_ID="blog/test/wrong"))
    with pytest.raises(errors.ServiceUnavailable):
        Database(settings.db).value("SELECT 1")


def test_dead_server_fails_fast_with_503(layer):
    port = closed_port()
    settings = load_settings(layer_env(layer, DB_PORT=str(port), DB_CONNECT_TIMEOUT="1"))
    started = time.perf_counter()
    with pytest.raises(errors.ServiceUnavailable):
        Database(settings.db).value("SELECT 1")
    assert time.perf_counter() - started < 2


def test_silent_server_times_out(layer):
    """A peer that accepts TCP but never answers: the client timeout fires."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        settings = load_settings(layer_env(layer, DB_PORT=str(port), DB_CONNECT_TIMEOUT="0.5"))
        started = time.perf_counter()
        with pytest.raises(errors.ServiceUnavailable):
            Database(settings.db).value("SELECT 1")
        assert time.perf_counter() - started < 2


# -- TLS -----------------------------------------------------------------------
@pytest.fixture()
def tls_server(pg_server, database):
    if pg_server.tls is None:
        pytest.skip("TLS tests need the harness's own cluster (DATABASE_URL is set)")
    return pg_server


def test_tls_refuses_self_signed_server_by_default(tls_server, layer):
    # Default settings trust only the Amazon Trust Services roots.
    settings = load_settings(layer_env(layer, DB_TLS="verify-full", DB_HOST="localhost"))
    with pytest.raises(errors.ServiceUnavailable) as caught:
        Database(settings.db).value("SELECT 1")
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)


def test_tls_verifies_with_configured_ca(tls_server, layer):
    settings = load_settings(
        layer_env(layer, DB_TLS="verify-full", DB_HOST="localhost", DB_CA_BUNDLE=str(tls_server.tls.ca_cert))
    )
    database = Database(settings.db)
    try:
        assert database.value("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
    finally:
        database.close()


def test_tls_refuses_wrong_host_name(tls_server, layer):
    # The certificate names localhost and 127.0.0.1, not this name.
    settings = load_settings(
        layer_env(layer, DB_TLS="verify-full", DB_HOST="127.0.0.2", DB_CA_BUNDLE=str(tls_server.tls.ca_cert))
    )
    settings = settings.db
    ctx = ssl_context_for(settings)
    with pytest.raises((ssl.SSLCertVerificationError, InterfaceError, OSError)):
        PipelinedConnection(
            user="blog_app",
            password=layer.passwords[provision.APP],
            host="wrong.example",
            port=layer.port,
            database=layer.name,
            sock=socket.create_connection(("127.0.0.1", layer.port)),
            ssl_context=ctx,
        )


def test_ssl_context_built_once(layer):
    settings = load_settings(layer_env(layer, DB_TLS="verify-full")).db
    assert ssl_context_for(settings) is ssl_context_for(settings)


# -- helpers ---------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count_secret_fetches():
    """Count GetSecretValue calls made through Powertools from now on."""
    from aws_lambda_powertools.utilities.parameters import secrets as ps

    calls = {"n": 0}
    original = ps.SecretsProvider._get

    def counting(self, name, **kwargs):
        calls["n"] += 1
        return original(self, name, **kwargs)

    ps.SecretsProvider._get = counting
    return lambda: calls["n"]


def test_every_connection_the_project_opens_has_nagle_off(db):
    """pg8000 keeps Nagle on for the sockets it opens itself; a statement longer than its 8 KB
    write buffer then goes out in two writes and the second waits for the server's delayed ACK
    (40 ms on Linux: the 14.6 KB ranked search measured 51 ms instead of 5 ms)."""
    opened = [
        get_database().connection(),  # the layer's
        db.connect(provision.OWNER),  # the local stack's, the tests' and the benchmarks'
        PipelinedConnection(
            user=provision.APP, password=db.passwords[provision.APP], host=db.host, port=db.port, database=db.name
        ),
    ]
    try:
        for conn in opened:
            assert conn._usock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        for conn in opened[1:]:
            conn.close()


def test_a_connection_without_a_timeout_waits_as_long_as_a_statement_takes(db):
    """Opening its own socket must not add a timeout pg8000 would not have had: migrations and
    bulk loads run statements of minutes on such connections."""
    unbounded = db.connect(provision.OWNER)
    bounded = PipelinedConnection(
        user=provision.APP,
        password=db.passwords[provision.APP],
        host=db.host,
        port=db.port,
        database=db.name,
        timeout=7,
    )
    try:
        assert unbounded._usock.gettimeout() is None
        assert bounded._usock.gettimeout() == 7
    finally:
        unbounded.close()
        bounded.close()
