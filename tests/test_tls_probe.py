"""The TLS probe against one real nginx: every verdict checked both ways, no mocks."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from gonogo.errors import TargetUnreachableError
from gonogo.probes.tls import (
    PROTOCOLS,
    TlsFacts,
    certificate,
    probe,
    protocols,
    tls12_ciphers,
    tls13_suites,
    untestable_protocols,
    weaknesses,
)
from tests.certificates import Leaf, standard_pki
from tests.nginx_server import free_ports, running_nginx

CA_NAME = "CN=gonogo test CA"


def _openssl_offers(cipher: str) -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.set_ciphers(f"{cipher}:@SECLEVEL=0")
    except ssl.SSLError:
        return False
    return True


# Some OpenSSL 3 builds (Debian 12's among them) ship no 3DES suites at all; then nginx cannot
# serve one either, and 3DES is covered by name only (test_weaknesses_by_name).
HAS_3DES = _openssl_offers("DES-CBC3-SHA")
LEGACY_CIPHERS = {
    "ECDHE-RSA-AES256-GCM-SHA384": [],
    "ECDHE-RSA-AES128-SHA": ["CBC"],
    "AES128-SHA": ["CBC", "no forward secrecy"],
    "AES256-SHA256": ["CBC", "no forward secrecy"],
    "AES256-GCM-SHA384": ["no forward secrecy"],
    "NULL-SHA": ["NULL", "no forward secrecy"],
    "AECDH-AES128-SHA": ["anonymous", "CBC"],
} | ({"DES-CBC3-SHA": ["3DES", "CBC", "no forward secrecy"]} if HAS_3DES else {})
MODERN_CIPHERS = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"}


@dataclass(frozen=True)
class Site:
    leaf: str
    protocols: str
    ciphers: str = "HIGH:!aNULL:!MD5"
    extra: str = ""


SITES = {
    "modern": Site("valid", "TLSv1.2 TLSv1.3", "ECDHE+AESGCM"),
    "legacy": Site("valid-rsa", "TLSv1 TLSv1.1 TLSv1.2", ":".join(LEGACY_CIPHERS) + ":@SECLEVEL=0"),
    "tls13": Site(
        "valid", "TLSv1.3", extra="ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256;"
    ),
    **{
        name: Site(name, "TLSv1.2 TLSv1.3")
        for name in ("expired", "not-yet-valid", "wrong-host", "self-signed", "rsa-1024")
    },
    "tls1-only": Site("valid-rsa", "TLSv1", "ECDHE-RSA-AES128-SHA:@SECLEVEL=0"),
    # OpenSSL's default TLS 1.3 offer, which Python cannot change, has no CCM suite.
    "tls13-ccm": Site(
        "valid", "TLSv1.3", extra="ssl_conf_command Ciphersuites TLS_AES_128_CCM_SHA256;"
    ),
    "expiring": Site("expiring", "TLSv1.2 TLSv1.3"),
    "sha1": Site("sha1", "TLSv1.2 TLSv1.3"),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Leaf | Path | str]:
    """A CA (ca.pem) and one leaf per certificate case; `sha1` holds why it is missing, if so."""
    return standard_pki(tmp_path_factory.mktemp("pki"))


def _server_blocks(pki: dict[str, Leaf | Path | str], ports: dict[str, int]) -> str:
    servers = []
    for name, port in ports.items():
        site, leaf = SITES[name], pki[SITES[name].leaf]
        assert isinstance(leaf, Leaf)
        servers.append(
            f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate "{leaf.pem}";
        ssl_certificate_key "{leaf.key}";
        ssl_protocols {site.protocols};
        ssl_ciphers "{site.ciphers}";
        {site.extra}
        return 200 "{name}\\n";
    }}"""
        )
    return "".join(servers)


@pytest.fixture(scope="module")
def sites(
    pki: dict[str, Leaf | Path | str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    """One nginx, one port per site in SITES (sha1 only if it could be issued); stopped by pid."""
    directory = tmp_path_factory.mktemp("nginx")
    names = [name for name in SITES if isinstance(pki[SITES[name].leaf], Leaf)]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    with running_nginx(directory, _server_blocks(pki, ports), list(ports.values())):
        yield ports


@pytest.fixture(scope="module")
def probed(sites: dict[str, int], pki: dict[str, Leaf | Path | str]) -> dict[str, TlsFacts]:
    """`probe` of each site once (not tls13-ccm: unreachable), trusting the test CA."""
    ca = pki["ca"]
    assert isinstance(ca, Path)
    return {
        name: probe("127.0.0.1", port, server_name="localhost", timeout_s=5, ca_file=ca)
        for name, port in sites.items()
        if name != "tls13-ccm"
    }


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        ("modern", {"TLSv1.2", "TLSv1.3"}),
        ("legacy", {"TLSv1", "TLSv1.1", "TLSv1.2"}),
        ("tls13", {"TLSv1.3"}),
    ],
)
def test_versions_are_accepted_exactly_as_configured(
    site: str, expected: set[str], sites: dict[str, int], probed: dict[str, TlsFacts]
) -> None:
    testable = [v for v in PROTOCOLS if v not in untestable_protocols()]
    by_itself = protocols("127.0.0.1", sites[site], server_name="localhost", timeout_s=5)
    assert by_itself == {version: version in expected for version in testable}
    assert probed[site].protocols == by_itself
    assert set(probed[site].accepted) == expected


def test_sslv3_is_untestable_here_rather_than_refused(probed: dict[str, TlsFacts]) -> None:
    if ssl.HAS_SSLv3:
        pytest.skip("this OpenSSL can still offer SSLv3, so it is tested like the others")
    assert untestable_protocols() == ("SSLv3",)
    assert probed["legacy"].untestable == ("SSLv3",)
    assert "SSLv3" not in probed["legacy"].protocols


def test_default_handshake_records_the_best_version_and_cipher(
    probed: dict[str, TlsFacts],
) -> None:
    assert (probed["modern"].version, probed["modern"].cipher) == (
        "TLSv1.3",
        probed["modern"].tls13_suites[0],
    )
    assert probed["legacy"].version == "TLSv1.2"
    assert probed["legacy"].cipher == "ECDHE-RSA-AES256-GCM-SHA384"
    assert 0 < probed["modern"].elapsed_ms < 5000


@pytest.mark.parametrize(
    ("site", "expected"),
    [("modern", MODERN_CIPHERS), ("legacy", set(LEGACY_CIPHERS)), ("tls13", set())],
)
def test_tls12_ciphers_equal_the_configured_set(
    site: str, expected: set[str], sites: dict[str, int], probed: dict[str, TlsFacts]
) -> None:
    by_itself = tls12_ciphers("127.0.0.1", sites[site], server_name="localhost", timeout_s=5)
    assert set(by_itself) == expected
    assert len(by_itself) == len(expected)  # each suite reported once
    assert set(probed[site].tls12_ciphers) == expected


def test_tls13_suite_is_the_one_the_server_allows(
    sites: dict[str, int], probed: dict[str, TlsFacts]
) -> None:
    only = tls13_suites("127.0.0.1", sites["tls13"], server_name="localhost", timeout_s=5)
    assert only == ["TLS_CHACHA20_POLY1305_SHA256"]
    assert probed["tls13"].tls13_suites == ("TLS_CHACHA20_POLY1305_SHA256",)
    assert probed["modern"].tls13_suites[0].startswith("TLS_")
    assert probed["legacy"].tls13_suites == ()


def test_weak_suites_are_flagged_on_legacy_only(probed: dict[str, TlsFacts]) -> None:
    assert probed["legacy"].weak_ciphers == {
        name: found for name, found in LEGACY_CIPHERS.items() if found
    }
    assert probed["modern"].weak_ciphers == {}
    assert probed["tls13"].weak_ciphers == {}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ECDHE-ECDSA-CHACHA20-POLY1305", []),
        ("TLS_AES_128_GCM_SHA256", []),
        ("DHE-RSA-AES128-CCM", []),
        ("DES-CBC3-SHA", ["3DES", "CBC", "no forward secrecy"]),
        ("EDH-RSA-DES-CBC3-SHA", ["3DES", "CBC"]),
        ("EXP-EDH-RSA-DES-CBC-SHA", ["EXPORT", "DES", "CBC"]),
        ("RC4-MD5", ["RC4", "no forward secrecy"]),
        ("EXP-RC4-MD5", ["EXPORT", "RC4", "no forward secrecy"]),
        ("ADH-AES256-GCM-SHA384", ["anonymous"]),
        ("AECDH-NULL-SHA", ["NULL", "anonymous"]),
        ("ECDH-RSA-AES128-GCM-SHA256", ["no forward secrecy"]),
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", ["3DES", "CBC", "no forward secrecy"]),
        ("TLS_DH_anon_WITH_AES_128_CBC_SHA", ["anonymous", "CBC"]),
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", []),
    ],
)
def test_weaknesses_by_name(name: str, expected: list[str]) -> None:
    assert weaknesses(name) == expected


def test_weaknesses_agree_with_openssl_on_every_suite_it_knows() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    for suite in context.get_ciphers():
        found = weaknesses(suite["name"])
        described = suite["description"]
        assert ("CBC" in found or "RC4" in found or "NULL" in found) == (not suite["aead"]), (
            described
        )
        assert ("NULL" in found) == (suite["symmetric"] is None), described
        assert ("anonymous" in found) == (suite["auth"] == "auth-null"), described
        ephemeral = suite["kea"] in ("kx-ecdhe", "kx-dhe", "kx-ecdhe-psk", "kx-dhe-psk", "kx-any")
        assert ("no forward secrecy" in found) == (not ephemeral), described


def test_valid_certificate_is_described_and_verified(
    probed: dict[str, TlsFacts], pki: dict[str, Leaf | Path | str]
) -> None:
    cert = probed["modern"].certificate
    leaf = pki["valid"]
    assert isinstance(leaf, Leaf)
    assert (cert.verified, cert.problem, cert.problems) == (True, None, ())
    assert (cert.subject, cert.issuer) == ("CN=localhost", CA_NAME)
    assert cert.sans == ("DNS:localhost", "IP:127.0.0.1")
    assert (cert.not_before, cert.not_after) == (
        leaf.cert.not_valid_before_utc,
        leaf.cert.not_valid_after_utc,
    )
    assert cert.days_left == 90
    assert (cert.key_type, cert.key_size) == ("EC", 256)
    assert cert.signature_algorithm == "ecdsa-with-SHA256"
    assert cert.chain == ("CN=localhost", CA_NAME)
    legacy = probed["legacy"].certificate
    assert (legacy.verified, legacy.key_type, legacy.key_size) == (True, "RSA", 2048)


def test_ip_server_name_is_checked_against_ip_sans(
    sites: dict[str, int], pki: dict[str, Leaf | Path | str]
) -> None:
    ca = pki["ca"]
    assert isinstance(ca, Path)
    cert = certificate(
        "127.0.0.1", sites["modern"], server_name="127.0.0.1", timeout_s=5, ca_file=ca
    )
    assert cert.verified
    wrong = certificate(
        "127.0.0.1", sites["wrong-host"], server_name="127.0.0.1", timeout_s=5, ca_file=ca
    )
    assert wrong.problems == ("host name 127.0.0.1 not in certificate (SAN: DNS:other.example)",)


def test_unknown_issuer_against_the_system_store(sites: dict[str, int]) -> None:
    cert = certificate("127.0.0.1", sites["modern"], server_name="localhost", timeout_s=5)
    assert not cert.verified
    assert cert.problem is not None
    assert cert.problem.startswith(f"unknown issuer {CA_NAME}")


def test_certificate_problems_are_named(
    probed: dict[str, TlsFacts], pki: dict[str, Leaf | Path | str]
) -> None:
    def leaf(name: str) -> x509.Certificate:
        made = pki[name]
        assert isinstance(made, Leaf)
        return made.cert

    expired_on = leaf("expired").not_valid_after_utc
    not_before = leaf("not-yet-valid").not_valid_before_utc
    problems = {name: probed[name].certificate.problems for name in probed}
    assert problems["expired"] == (f"expired on {expired_on:%Y-%m-%d}",)
    assert problems["not-yet-valid"] == (f"not valid before {not_before:%Y-%m-%d %H:%M} UTC",)
    assert problems["wrong-host"] == (
        "host name localhost not in certificate (SAN: DNS:other.example)",
    )
    assert problems["self-signed"] == ("self-signed (CN=localhost) and not trusted",)
    assert problems["rsa-1024"] == ("RSA 1024-bit key too weak for a default client",)
    assert problems["expiring"] == ()
    assert probed["expired"].certificate.days_left == -2
    assert probed["not-yet-valid"].certificate.days_left == 92
    assert probed["expiring"].certificate.days_left == 10
    assert probed["self-signed"].certificate.chain == ("CN=localhost",)
    assert (probed["rsa-1024"].certificate.key_type, probed["rsa-1024"].certificate.key_size) == (
        "RSA",
        1024,
    )
    for name in ("expired", "not-yet-valid", "wrong-host", "self-signed", "rsa-1024"):
        assert not probed[name].certificate.verified, name
        assert probed[name].protocols["TLSv1.2"], f"{name}: distrust is not unreachability"


def test_sha1_signature_is_named(
    probed: dict[str, TlsFacts], pki: dict[str, Leaf | Path | str]
) -> None:
    if isinstance(pki["sha1"], str):
        pytest.skip(pki["sha1"])
    cert = probed["sha1"].certificate
    assert cert.problems == ("signature algorithm too weak (ecdsa-with-SHA1)",)


@pytest.fixture
def garbage_port() -> Iterator[int]:
    """A plain TCP server that answers every ClientHello with bytes that are not TLS."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(b"this is not a ServerHello\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_garbage_instead_of_server_hello_is_unreachable(garbage_port: int) -> None:
    for call in (probe, protocols, certificate, tls12_ciphers):
        with pytest.raises(TargetUnreachableError) as caught:
            call("127.0.0.1", garbage_port, server_name="localhost", timeout_s=2)
        assert str(caught.value) == (
            f"127.0.0.1:{garbage_port} (server name localhost): answered with something that "
            "is not TLS (wrong version number); plain HTTP or another protocol on this port?"
        ), call.__name__


def test_closed_port_is_unreachable_and_says_refused() -> None:
    (port,) = free_ports(1)
    for call in (probe, protocols, certificate, tls13_suites):
        with pytest.raises(TargetUnreachableError) as caught:
            call("127.0.0.1", port, server_name="127.0.0.1", timeout_s=2)
        assert str(caught.value) == f"127.0.0.1:{port}: connection refused (nothing listening?)"


def test_silent_port_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepted by the kernel, never answered
    try:
        port = int(listener.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(TargetUnreachableError) as caught:
            probe("127.0.0.1", port, server_name="localhost", timeout_s=0.3)
        assert time.monotonic() - started < 2
    finally:
        listener.close()
    assert str(caught.value) == (
        f"127.0.0.1:{port} (server name localhost): no TLS answer within 0.3 s (not a TLS port?)"
    )


def test_a_default_client_that_cannot_connect_is_a_trust_problem(
    sites: dict[str, int], probed: dict[str, TlsFacts]
) -> None:
    facts = probed["tls1-only"]
    assert facts.accepted == ("TLSv1",)
    assert facts.certificate.problems == (
        "not verified: a default client cannot complete the handshake (alert protocol version)",
    )


def test_tls13_suites_python_cannot_offer_look_unreachable(sites: dict[str, int]) -> None:
    port = sites["tls13-ccm"]
    with pytest.raises(TargetUnreachableError) as caught:
        protocols("127.0.0.1", port, server_name="localhost", timeout_s=5)
    assert str(caught.value) == (
        f"127.0.0.1:{port} (server name localhost): completed no TLS handshake ("
        "TLSv1: alert protocol version; TLSv1.1: alert protocol version; "
        "TLSv1.2: alert protocol version; TLSv1.3: alert handshake failure)"
    )
    with pytest.raises(TargetUnreachableError) as caught:
        probe("127.0.0.1", port, server_name="localhost", timeout_s=5)
    assert str(caught.value) == (
        f"127.0.0.1:{port} (server name localhost): TLS handshake failed (alert handshake "
        "failure) even when offering every version and suite this machine has"
    )
