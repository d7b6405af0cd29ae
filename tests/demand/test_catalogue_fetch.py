"""Fetching catalogues: the address guard (no server-side request forgery), time, size and
redirect limits, and every way a catalogue can answer badly, against a local fake server."""

from __future__ import annotations

import socket

import pytest

from demand import catalogue
from demand.catalogue import CatalogueError, fetch_json
from tests.demand.fake_catalogue import running_server


@pytest.fixture
def fake():
    return running_server()


def _code(url: str, **kwargs) -> str:
    with pytest.raises(CatalogueError) as info:
        fetch_json(url, **kwargs)
    return info.value.code


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.3.4.5",
        "10.0.0.8",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
    ],
)
def test_private_loopback_link_local_multicast_and_reserved_addresses_are_refused(address):
    assert not catalogue._address_allowed(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "200.23.8.1", "2001:4860:4860::8888"])
def test_public_addresses_are_allowed(address):
    assert catalogue._address_allowed(address)


def test_loopback_fetch_is_refused_unless_allowed(app, ctx, fake):
    app.config["CATALOGUE_ALLOW_PRIVATE"] = False
    assert _code(fake.url("/dcat/data.json")) == "refused_address"
    assert _code(fake.url("/dcat/data.json", host="localhost")) == "refused_address"
    assert fake.requests == []  # refused before any connection
    app.config["CATALOGUE_ALLOW_PRIVATE"] = True
    assert fetch_json(fake.url("/dcat/data.json"))["dataset"][0]["identifier"] == "conagua-presas-2025"


def test_production_config_refuses_private_addresses_by_default(monkeypatch, tmp_path):
    from core.config import load_config

    monkeypatch.delenv("CATALOGUE_ALLOW_PRIVATE", raising=False)
    assert load_config(str(tmp_path))["CATALOGUE_ALLOW_PRIVATE"] is False
    monkeypatch.setenv("CATALOGUE_ALLOW_PRIVATE", "1")
    assert load_config(str(tmp_path))["CATALOGUE_ALLOW_PRIVATE"] is True


def test_every_resolved_address_is_checked(app, ctx, fake, monkeypatch):
    app.config["CATALOGUE_ALLOW_PRIVATE"] = False

    def two_answers(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(catalogue.socket, "getaddrinfo", two_answers)
    assert _code(f"http://catalogue.example:{fake.port}/dcat/data.json") == "refused_address"


def test_the_connection_goes_to_the_checked_address_with_the_host_name(app, ctx, fake, monkeypatch):
    """The name is resolved once; the socket connects to that address (DNS cannot swap it after
    the check) while the request still names the host."""
    lookups = []

    def resolve_once(host, port, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(catalogue.socket, "getaddrinfo", resolve_once)
    connected = []
    real_connect = socket.create_connection

    def spy(address, *args, **kwargs):
        connected.append(address)
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(catalogue.socket, "create_connection", spy)
    document = fetch_json(f"http://catalogue.example:{fake.port}/dcat/data.json")
    assert document["dataset"]
    # The name is looked up once (the connection itself only turns "127.0.0.1" into a sockaddr).
    assert [host for host in lookups if host != "127.0.0.1"] == ["catalogue.example"]
    assert connected == [("127.0.0.1", fake.port)]
    assert fake.requests[-1]["host"] == f"catalogue.example:{fake.port}"


def test_redirects_are_followed_and_each_target_is_checked_again(app, ctx, fake, monkeypatch):
    assert fetch_json(fake.url("/redirect/data.json"))["dataset"]
    assert [r["path"] for r in fake.requests] == ["/redirect/data.json", "/dcat/data.json"]
    # Only 127.0.0.1 counts as allowed here: a redirect to another loopback address is refused.
    monkeypatch.setattr(catalogue, "_address_allowed", lambda address: address == "127.0.0.1")
    app.config["CATALOGUE_ALLOW_PRIVATE"] = False
    fake.redirect_target = f"http://127.0.0.2:{fake.port}/dcat/data.json"
    assert _code(fake.url("/redirect-away/data.json")) == "refused_address"
    fake.redirect_target = "file:///etc/passwd"
    assert _code(fake.url("/redirect-away/data.json")) == "bad_url"


def test_redirect_loops_stop(app, ctx, fake):
    app.config["CATALOGUE_MAX_REDIRECTS"] = 3
    assert _code(fake.url("/loop/data.json")) == "too_many_redirects"
    assert len(fake.requests) == 4


def test_a_slow_catalogue_times_out(app, ctx, fake):
    app.config["CATALOGUE_TIMEOUT"] = 0.5
    fake.slow_seconds = 2
    assert _code(fake.url("/slow/data.json")) == "timeout"


def test_http_errors_malformed_json_and_oversized_answers(app, ctx, fake):
    assert _code(fake.url("/error/data.json")) == "http_error"
    assert _code(fake.url("/missing/data.json")) == "http_error"
    assert _code(fake.url("/broken/data.json")) == "bad_json"
    assert _code(fake.url("/html/data.json")) == "bad_json"
    app.config["CATALOGUE_MAX_BYTES"] = 100_000
    assert _code(fake.url("/big/data.json")) == "too_large"


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/data.json", "file:///etc/passwd", "http://", "javascript:alert(1)", "http://[::1"],
)
def test_only_http_urls_are_fetched(app, ctx, url):
    assert _code(url) == "bad_url"


def test_connection_refused_is_a_connection_error(app, ctx):
    from tests.conftest import free_port

    assert _code(f"http://127.0.0.1:{free_port()}/data.json") == "connection_error"


def test_unknown_hosts_are_a_dns_error(app, ctx):
    assert _code("http://no-such-host.invalid/data.json") == "dns_error"
