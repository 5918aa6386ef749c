"""Redis store URLs: parsed by their own grammar, whatever the password holds, and no password
shown in any error, log record, repr or command output."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote
from uuid import uuid4

import pytest
import redis
from hypothesis import assume, given
from hypothesis import strategies as st

from statemachine.core.errors import InvalidArgument, StoreUnavailable
from statemachine.testing import EPOCH
from statemachine.testing.contract import sample_run
from stores import RedisStore, open_store
from stores.redis.url import OUR_OPTIONS, RedisURL, client_from_url, parse_url

from .servers import RedisServer, free_port

ROOT = Path(__file__).parent.parent

# Passwords holding every character a generic URL parser cuts at. ALICE's reads, after its "@",
# as a whole host:port/db?query#fragment: a parser trying the "@" signs from the left would
# take "Narwhal" for the host.
DEFAULT_PASSWORD = "Kumquat/Xylo#Quokka?Yak@Zebu:Wombat"
ALICE_PASSWORD = "Axolotl@Narwhal:7001/3?Okapi#Tapir"
WRONG_PASSWORD = "Gnu/Walrus#Impala?Emu@Ibex:Dingo"
PASSWORDS = (DEFAULT_PASSWORD, ALICE_PASSWORD, WRONG_PASSWORD)
# Any piece of a password, encoded or not, is a leak too (a mis-split password shows as a host).
SECRETS = sorted(
    {
        *PASSWORDS,
        *(quote(password, safe="") for password in PASSWORDS),
        *(piece for password in PASSWORDS for piece in re.findall(r"[A-Za-z]{4,}", password)),
    }
)


def leaks(*texts: str) -> list[str]:
    """The secrets found in `texts`, in any case (a host name is shown lowercased)."""
    folded = [text.casefold() for text in texts]
    return [secret for secret in SECRETS if any(secret.casefold() in text for text in folded)]


# Parsing


def url(
    host: str = "h",
    *,
    scheme: str = "redis",
    username: str | None = None,
    password: str | None = None,
    port: int = 6379,
    db: int = 0,
    query: dict[str, str] | None = None,
) -> RedisURL:
    """The RedisURL expected for a form: its defaults but for what is named."""
    return RedisURL(scheme, username, password, host, port, db, query or {})


PARSED = [
    ("redis://127.0.0.1", url("127.0.0.1")),
    ("redis://redis.example:6380/2", url("redis.example", port=6380, db=2)),
    ("redis://h:6379", url()),
    ("redis://h/", url()),
    ("redis://h/15", url(db=15)),
    ("REDIS://Host/0", url("Host")),
    ("rediss://alice:pw@redis.example:6380/0", url("redis.example", scheme="rediss",
                                                  username="alice", password="pw", port=6380)),
    ("redis://alice@h/0", url(username="alice")),
    ("redis://:only-a-password@h", url(password="only-a-password")),
    ("redis://alice:@h", url(username="alice")),
    ("redis://alice:s3cr3t@h:7000/1", url(username="alice", password="s3cr3t", port=7000, db=1)),
    ("redis://alice:s3cr3t/x@host:6379/0", url("host", username="alice", password="s3cr3t/x")),
    ("redis://alice:pa#ss@h/0", url(username="alice", password="pa#ss")),
    ("redis://alice:pa?ss@h/0", url(username="alice", password="pa?ss")),
    ("redis://alice:pa@ss@h/0", url(username="alice", password="pa@ss")),
    ("redis://alice:pa:ss@h/0", url(username="alice", password="pa:ss")),
    ("redis://alice:a/b#c?d@e:f@h:7000/3", url(username="alice", password="a/b#c?d@e:f",
                                               port=7000, db=3)),
    ("redis://u:pw@x#y@127.0.0.1:6379/0", url("127.0.0.1", username="u", password="pw@x#y")),
    ("redis://u:pw@x?y@h/0?prefix=p", url(username="u", password="pw@x?y",
                                          query={"prefix": "p"})),
    (f"redis://alice:{ALICE_PASSWORD}@127.0.0.1:6379/0",
     url("127.0.0.1", username="alice", password=ALICE_PASSWORD)),
    ("redis://al%40ice:p%2F%23%3F%40%3Aw%25@h", url(username="al@ice", password="p/#?@:w%")),
    ("redis://user:p%C3%A4ss@h", url(username="user", password="päss")),
    ("redis://user:päss wörd@h", url(username="user", password="päss wörd")),
    ("redis://user:100%@h", url(username="user", password="100%")),
    ("redis://[::1]:6379", url("::1")),
    ("redis://alice:pw@[2001:db8::1]/4", url("2001:db8::1", username="alice", password="pw",
                                             db=4)),
    ("redis://h/0?prefix=p&socket_timeout=3&prefix=q",
     url(query={"prefix": "q", "socket_timeout": "3"})),
    ("redis://h/0?ssl_ca_certs=%2Fetc%2Fca.pem&prefix=", url(query={"ssl_ca_certs": "/etc/ca.pem",
                                                                   "prefix": ""})),
    ("redis://h/0?db=5", url(db=5, query={"db": "5"})),
    ("redis://h/0#fragment", url()),
    ("redis://u:p@h/1?x=1#fragment", url(username="u", password="p", db=1, query={"x": "1"})),
    ("redis://h/0?client_name=a%40b", url(query={"client_name": "a@b"})),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), PARSED, ids=[text for text, _ in PARSED])
def test_urls_parse_into_their_parts(text: str, expected: RedisURL) -> None:
    """Each form parses into the expected scheme, credentials, host, port, db and query."""
    assert parse_url(text) == expected


MALFORMED = [
    ("redis://{userinfo}localhost:abc/0", "port"),
    ("redis://{userinfo}localhost:99999/0", "port"),
    ("redis://{userinfo}localhost:0/0", "port"),
    ("redis://{userinfo}localhost:/0", "port"),
    ("redis://{userinfo}localhost:+1/0", "port"),
    ("redis://{userinfo}[::1/0", "closing ]"),
    ("redis://{userinfo}[::1", "closing ]"),
    ("redis://{userinfo}[::1]x/0", "after its IPv6"),
    ("redis://{userinfo}[not-v6]:6379/0", "not an IPv6"),
    ("redis://{userinfo}[fe80::1%25eth0]/0", "not an IPv6"),
    ("redis://{userinfo}", "no host"),
    ("redis://{userinfo}/0", "no host"),
    ("redis://{userinfo}:6379/0", "no host"),
    ("redis://{userinfo}bad_host!/0", "not a hostname"),
    ("redis://{userinfo}h/x", "database number"),
    ("redis://{userinfo}h/0/1", "database number"),
    ("redis://{userinfo}h/-1", "database number"),
    ("redis://{userinfo}h/0?db=x", "db must be"),
    # The userinfo ends at the last "@": one in a query or fragment is written %40.
    ("redis://{userinfo}h/0?client_name=a@b/c", "database number"),
    ("redis://{userinfo}h/0#a@b:c", "port"),
    ("http://{userinfo}h/0", "redis://"),
    ("redis:/{userinfo}h/0", "redis://"),
]


@pytest.mark.parametrize("userinfo", ["", f"alice:{ALICE_PASSWORD}@", f":{DEFAULT_PASSWORD}@"])
@pytest.mark.parametrize(("template", "problem"), MALFORMED)
def test_malformed_urls_are_invalid_arguments_that_name_the_problem(
    template: str, problem: str, userinfo: str
) -> None:
    """A malformed URL raises InvalidArgument naming its problem, never the password."""
    with pytest.raises(InvalidArgument, match=re.escape(problem)) as info:
        parse_url(template.format(userinfo=userinfo))
    assert not leaks(*exception_texts(info.value))


def test_credentials_whose_escapes_are_not_utf8_are_refused_without_showing_them() -> None:
    """Percent-escapes that decode to no UTF-8 text are InvalidArgument, credentials unshown."""
    with pytest.raises(InvalidArgument, match="UTF-8") as info:
        parse_url(f"redis://alice:{quote(ALICE_PASSWORD, safe='')}%FF@h/0")
    assert not leaks(*exception_texts(info.value))


def test_the_parsed_url_never_shows_its_password() -> None:
    """shown() and repr() mask the password and leave the query out."""
    parsed = parse_url(f"rediss://alice:{ALICE_PASSWORD}@[::1]:7000/2?prefix=p&password=x")
    assert parsed.shown() == "rediss://alice:***@[::1]:7000/2"
    assert repr(parsed) == "RedisURL('rediss://alice:***@[::1]:7000/2')"
    assert parse_url("redis://h").shown() == "redis://h:6379/0"
    assert parse_url("redis://al%40ice@h").shown() == "redis://al%40ice@h:6379/0"


NOT_IN_USERNAMES = ":@%"  # the userinfo's own delimiters, and the escape character


@given(
    username=st.text(st.characters(codec="utf-8", exclude_characters=NOT_IN_USERNAMES), min_size=1),
    password=st.text(st.characters(codec="utf-8") | st.sampled_from("/?#@:%[]"), min_size=6),
)
def test_any_password_written_unencoded_is_recovered_exactly(username: str, password: str) -> None:
    """A random user and password, written unencoded but for "%" (as "%25"), come back exactly,
    and the shown URL holds the user but never the password."""
    written = password.replace("%", "%25")
    parsed = parse_url(f"redis://{username}:{written}@127.0.0.1:6379/0")
    assert (parsed.username, parsed.password) == (username, password)
    assert (parsed.host, parsed.port, parsed.db, parsed.query) == ("127.0.0.1", 6379, 0, {})
    shown_user = quote(username, safe="!$&'()*+,;=")
    expected = f"redis://{shown_user}:***@127.0.0.1:6379/0"
    assume(password not in expected)  # a password that happens to be, say, a piece of the user
    assert parsed.shown() == expected
    assert password not in parsed.shown()
    assert password not in repr(parsed)


def test_the_driver_gets_its_options_and_the_credentials_out_of_any_text() -> None:
    """Our options come back; the driver's are converted by redis-py (the last of a repeated
    one winning) with today's defaults; and no repr of the client or its pool shows the password."""
    client, shown, ours = client_from_url(
        f"redis://alice:{ALICE_PASSWORD}@127.0.0.1:1/3?prefix=p&lease_seconds=9&cluster=0"
        "&socket_timeout=1&socket_timeout=2.5&health_check_interval=7&max_run_bytes=10"
    )
    try:
        assert shown == repr("redis://alice:***@127.0.0.1:1/3")
        assert ours == {"prefix": "p", "lease_seconds": "9", "cluster": "0", "max_run_bytes": "10"}
        assert set(ours) <= set(OUR_OPTIONS)
        settings = client.connection_pool.connection_kwargs
        assert (settings["host"], settings["port"], settings["db"]) == ("127.0.0.1", 1, 3)
        assert (settings["username"], settings["password"]) == ("alice", ALICE_PASSWORD)
        assert settings["socket_timeout"] == 2.5
        assert settings["socket_connect_timeout"] == 5.0
        assert settings["health_check_interval"] == 7
        assert not leaks(repr(client), repr(client.connection_pool), str(client))
    finally:
        client.close()
    client, _, _ = client_from_url("rediss://h:6380/0?ssl_ca_certs=%2Fetc%2Fca.pem")
    try:
        assert client.connection_pool.connection_kwargs["ssl_ca_certs"] == "/etc/ca.pem"
        assert client.connection_pool.connection_kwargs["socket_timeout"] == 10.0
        assert client.connection_pool.connection_class is redis.connection.SSLConnection
    finally:
        client.close()


# End to end, against a server whose passwords hold every delimiter


class SecuredServer(RedisServer):
    """A server whose default user has a password, and an ACL user alice with another."""

    def client(self, **options: object) -> redis.Redis:
        return super().client(password=DEFAULT_PASSWORD, **options)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredServer]:
    """A real redis-server requiring DEFAULT_PASSWORD, with alice's ACL password set too."""
    server = SecuredServer(
        tmp_path_factory.mktemp("secured"),
        [
            f'requirepass "{DEFAULT_PASSWORD}"',
            f'user alice on ">{ALICE_PASSWORD}" ~* &* +@all',
        ],
    )
    server.start()
    yield server
    server.stop()


GOOD = {
    "default user": f"redis://:{DEFAULT_PASSWORD}@127.0.0.1:{{port}}/0",
    "acl user": f"redis://alice:{ALICE_PASSWORD}@127.0.0.1:{{port}}/0",
    "acl user, percent-encoded":
        f"redis://alice:{quote(ALICE_PASSWORD, safe='')}@127.0.0.1:{{port}}/0",
}  # fmt: skip


@pytest.mark.parametrize("template", GOOD.values(), ids=GOOD.keys())
def test_a_store_connects_with_an_unencoded_password_holding_url_delimiters(
    secured: SecuredServer, template: str
) -> None:
    """A RedisStore built from the URL as written authenticates, creates and loads a run."""
    prefix = f"t{uuid4().hex[:10]}"
    store = RedisStore(f"{template.format(port=secured.port)}?prefix={prefix}")
    try:
        expected_user = "default" if template.startswith("redis://:") else "alice"
        assert store.client.driver.acl_whoami() == expected_user
        run = sample_run("r1", EPOCH)
        store.create(run)
        assert store.load("r1") == run
    finally:
        store.close()


class Form(NamedTuple):
    """One URL form: a template (``{port}``: the server's, ``{dead}``: a port nothing listens
    on) and what building a store from it raises, or None if it opens."""

    template: str
    error: type[Exception] | None


SAFE = f"alice:{ALICE_PASSWORD}@"
FORMS = {
    **{name: Form(template, None) for name, template in GOOD.items()},
    "wrong password": Form(f"redis://alice:{WRONG_PASSWORD}@127.0.0.1:{{port}}/0",
                           StoreUnavailable),
    "unreachable": Form(f"redis://{SAFE}127.0.0.1:{{dead}}/0", StoreUnavailable),
    "tls, unreachable": Form(f"rediss://{SAFE}127.0.0.1:{{dead}}/0", StoreUnavailable),
    "cluster, unreachable": Form(f"redis://{SAFE}127.0.0.1:{{dead}}/0?cluster=1",
                                 StoreUnavailable),
    "cluster, not a cluster": Form(f"redis://{SAFE}127.0.0.1:{{port}}/0?cluster=1",
                                   StoreUnavailable),
    "cluster, db 1": Form(f"redis://{SAFE}127.0.0.1:{{port}}/1?cluster=1", InvalidArgument),
    "port not a number": Form(f"redis://{SAFE}127.0.0.1:abc/0", InvalidArgument),
    "port out of range": Form(f"redis://{SAFE}127.0.0.1:99999/0", InvalidArgument),
    "port zero": Form(f"redis://{SAFE}127.0.0.1:0/0", InvalidArgument),
    "ipv6 unclosed": Form(f"redis://{SAFE}[::1/0", InvalidArgument),
    "no host": Form(f"redis://{SAFE}:{{port}}/0", InvalidArgument),
    "path not a db": Form(f"redis://{SAFE}127.0.0.1:{{port}}/zero", InvalidArgument),
    "unknown driver option": Form(f"redis://{SAFE}127.0.0.1:{{port}}/0?no_such_option=1",
                                  InvalidArgument),
    "bad driver option": Form(f"redis://{SAFE}127.0.0.1:{{port}}/0?socket_timeout=soon",
                              InvalidArgument),
    **{f"driver option {option}": Form(f"redis://{SAFE}127.0.0.1:{{port}}/0?{option}",
                                       InvalidArgument)
       for option in ("socket_timeout=nan", "socket_timeout=-1", "socket_timeout=inf",
                      "socket_connect_timeout=nan", "encoding=rot13",
                      "encoding_errors=bogus")},
    "tls option without tls": Form(f"redis://{SAFE}127.0.0.1:{{port}}/0?ssl_ca_certs=%2Fca.pem",
                                   InvalidArgument),
    "bad escape": Form(f"redis://alice:{ALICE_PASSWORD}%FF@127.0.0.1:{{port}}/0",
                       InvalidArgument),
}  # fmt: skip


def form_url(form: Form, server: RedisServer, prefix: str) -> str:
    """The form's URL against `server`, with a prefix and quick retries."""
    joiner = "&" if "?" in form.template.rpartition("@")[2] else "?"
    address = form.template.format(port=server.port, dead=free_port())
    return f"{address}{joiner}prefix={prefix}&retry_seconds=0.2"


def exception_texts(exc: BaseException) -> Iterator[str]:
    """The text and repr of `exc` and of every exception chained to it, and its traceback."""
    yield "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        if current.__context__ is not None:
            yield from exception_texts(current.__context__)
        current = current.__cause__


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_no_password_appears_in_errors_logs_or_repr(
    secured: SecuredServer, form: Form, caplog: pytest.LogCaptureFixture
) -> None:
    """Whether the store opens or fails, no password shows in the exception chain, in a log
    record, or in the repr of the store, its client or its connection pool."""
    caplog.set_level(logging.DEBUG)
    address = form_url(form, secured, f"t{uuid4().hex[:10]}")
    if form.error is None:
        store = open_store(address)
        try:
            assert isinstance(store, RedisStore)
            store.create(sample_run("r1", EPOCH))
            pool = store.client.driver.connection_pool
            texts = [repr(store), str(store), repr(store.client.driver), repr(pool), store._where]
            assert not leaks(*texts)
            assert "***" in repr(store)
        finally:
            store.close()
    else:
        for build in (RedisStore, open_store):
            with pytest.raises(form.error) as info:
                build(address)
            assert not leaks(*exception_texts(info.value))
    records = [record.getMessage() for record in caplog.records]
    assert not leaks(caplog.text, *records, *(repr(record.args) for record in caplog.records))


def test_a_cluster_error_after_connecting_is_store_unavailable(secured: SecuredServer) -> None:
    """A RedisClusterException (not a RedisError) from a command is StoreUnavailable."""
    store = RedisStore(form_url(FORMS["acl user"], secured, f"t{uuid4().hex[:10]}"))

    def lost() -> None:
        raise redis.exceptions.RedisClusterException("Redis Cluster cannot be connected")

    try:
        with pytest.raises(StoreUnavailable, match="cannot be connected") as info:
            store.client.call(lost)
        assert not leaks(*exception_texts(info.value))
    finally:
        store.close()


COMMANDS = [("runs",), ("runs", "--json"), ("show", "some-run")]


def command_line(*args: str) -> subprocess.Popen[str]:
    """Start ``python -m statemachine ARGS`` from the repository root."""
    return subprocess.Popen(
        [sys.executable, "-m", "statemachine", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_no_password_appears_in_the_command_lines_output(
    secured: SecuredServer, form: Form
) -> None:
    """``runs``, ``runs --json`` and ``show`` print no password and no traceback; a failing
    form fails the command, an opening one lists and shows its run."""
    address = form_url(form, secured, f"t{uuid4().hex[:10]}")
    if form.error is None:
        store = RedisStore(address)
        store.create(sample_run("some-run", EPOCH))
        store.close()
    processes = {command: command_line(*command, "--store", address) for command in COMMANDS}
    # Every process is waited for before any assertion, so that none is left running.
    outputs = {command: process.communicate(timeout=60) for command, process in processes.items()}
    for command, (out, err) in outputs.items():
        assert not leaks(out, err), command
        assert "Traceback" not in out + err, command
        if form.error is not None:
            assert processes[command].returncode != 0, command
        elif command == ("runs", "--json"):
            assert [row["run_id"] for row in json.loads(out)] == ["some-run"]
        else:
            assert "some-run" in out, command
