"""The OCSP stapling probe against one real nginx stapling prepared responses; no mocks.

nginx (1.22 here) serves an `ssl_stapling_file` exactly as it is, from the very first
handshake, without checking it and without needing the issuer: expired, revoked, tryLater,
for another certificate, even a response whose inner bytes are not OCSP at all. So every case
a deployment can get wrong reaches the probe as a real staple.
"""

from __future__ import annotations

import datetime
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from gonogo.errors import TargetUnreachableError
from gonogo.probes.ocsp import OcspStaple, stapled_ocsp
from tests.certificates import DAY, HOUR, NOW, Leaf, issue
from tests.nginx_server import free_ports, running_nginx

# OCSP times have whole seconds; what the probe reads back is these, truncated.
THIS_UPDATE, NEXT_UPDATE = (NOW - HOUR).replace(microsecond=0), (NOW + DAY).replace(microsecond=0)
REVOKED_AT = (NOW - 2 * DAY).replace(microsecond=0)


class Pki:
    """A throw-away CA that keeps its key, to sign OCSP responses about its own leaves."""

    def __init__(self, directory: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gonogo OCSP test CA")])
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY)
            .not_valid_after(NOW + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        signer = (self.ca, self.key)
        self.leaf = issue(directory, "leaf", ec.generate_private_key(ec.SECP256R1()), signer)
        self.other = issue(directory, "other", ec.generate_private_key(ec.SECP256R1()), signer)

    def response(
        self,
        status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
        *,
        valid: tuple[datetime.datetime, datetime.datetime] = (THIS_UPDATE, NEXT_UPDATE),
        about: Leaf | None = None,
    ) -> bytes:
        revoked = status is ocsp.OCSPCertStatus.REVOKED
        return (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=(about or self.leaf).cert,
                issuer=self.ca,
                algorithm=hashes.SHA256(),
                cert_status=status,
                this_update=valid[0],
                next_update=valid[1],
                revocation_time=REVOKED_AT if revoked else None,
                revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, self.ca)
            .sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag, len(body)]) + body  # short-form length: every piece here is < 128 bytes


# A successful OCSPResponse whose BasicOCSPResponse is plain text: OpenSSL, hence nginx, never
# looks inside it; cryptography does.
NOT_OCSP_INSIDE = _der(
    0x30,
    _der(0x0A, b"\x00")
    + _der(
        0xA0,
        _der(0x30, _der(0x06, bytes.fromhex("2b0601050507300101")) + _der(0x04, b"plain text")),
    ),
)
TRY_LATER = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)

# Site -> the staple nginx serves there (None: stapling off).
STAPLES: dict[str, Callable[[Pki], bytes | None]] = {
    "good": lambda pki: pki.response(),
    "good-tls12": lambda pki: pki.response(),
    "none": lambda pki: None,
    "revoked": lambda pki: pki.response(ocsp.OCSPCertStatus.REVOKED),
    "unknown": lambda pki: pki.response(ocsp.OCSPCertStatus.UNKNOWN),
    "expired": lambda pki: pki.response(valid=(NOW - 3 * DAY, NOW - DAY)),
    "not-yet-valid": lambda pki: pki.response(valid=(NOW + HOUR, NOW + DAY)),
    "another": lambda pki: pki.response(about=pki.other),
    "try-later": lambda pki: TRY_LATER.public_bytes(serialization.Encoding.DER),
    "not-ocsp-inside": lambda pki: NOT_OCSP_INSIDE,
}
# Every other site speaks TLS 1.2 and 1.3; TLS 1.2 carries the staple in a message of its own.
PROTOCOLS = {"good-tls12": "TLSv1.2", "tls1-only": "TLSv1"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("ocsp-pki"))


def _tls_server(pki: Pki, directory: Path, site: str, listen: str, extra: str = "") -> str:
    staple = STAPLES[site](pki) if site in STAPLES else None
    if staple is not None:
        (directory / f"{site}.der").write_bytes(staple)
        extra += f' ssl_stapling on; ssl_stapling_file "{directory / site}.der";'
    return f"""
    server {{
        listen {listen} ssl;
        ssl_certificate "{pki.leaf.pem}";
        ssl_certificate_key "{pki.leaf.key}";
        ssl_protocols {PROTOCOLS.get(site, "TLSv1.2 TLSv1.3")};
        {extra}
        return 200 "{site}\\n";
    }}"""


@pytest.fixture(scope="module")
def sites(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """One nginx: a port per entry of STAPLES, one for SNI, one TLS 1.0 only, one plain HTTP."""
    directory = tmp_path_factory.mktemp("ocsp-nginx")
    names = [*STAPLES, "tls1-only", "sni", "plain-http"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    servers = [
        _tls_server(pki, directory, site, f"127.0.0.1:{ports[site]}")
        for site in [*STAPLES, "tls1-only"]
    ]
    # Clients that send no SNI get the default server, which staples nothing.
    servers.append(_tls_server(pki, directory, "none", f"127.0.0.1:{ports['sni']} default_server"))
    servers.append(
        _tls_server(
            pki, directory, "good", f"127.0.0.1:{ports['sni']}", "server_name localhost 127.0.0.1;"
        )
    )
    servers.append(f'server {{ listen 127.0.0.1:{ports["plain-http"]}; return 200 "plain"; }}')
    with running_nginx(directory, "".join(servers), list(ports.values())):
        yield ports


@pytest.fixture(scope="module")
def probed(sites: dict[str, int]) -> dict[str, OcspStaple]:
    """Each site's answer to the first TLS handshake nginx ever made on it."""
    return {
        site: stapled_ocsp("127.0.0.1", sites[site], server_name="localhost", timeout_s=5)
        for site in STAPLES
    }


@pytest.mark.parametrize("site", ["good", "good-tls12"])
def test_good_fresh_staple_has_no_problems(site: str, probed: dict[str, OcspStaple]) -> None:
    assert probed[site] == OcspStaple(
        stapled=True,
        status="good",
        response_status="successful",
        this_update=THIS_UPDATE,
        next_update=NEXT_UPDATE,
        fresh=True,
        problems=(),
    )


def test_nginx_staples_the_same_file_from_the_first_handshake_on(
    sites: dict[str, int], probed: dict[str, OcspStaple]
) -> None:
    for site in STAPLES:
        again = stapled_ocsp("127.0.0.1", sites[site], server_name="localhost", timeout_s=5)
        assert again == probed[site], site
        assert again.stapled is (site != "none"), site


def test_no_staple_is_a_problem(probed: dict[str, OcspStaple]) -> None:
    assert probed["none"] == OcspStaple(
        stapled=False,
        status=None,
        response_status=None,
        this_update=None,
        next_update=None,
        fresh=False,
        problems=("no OCSP response stapled",),
    )


@pytest.mark.parametrize(
    ("site", "status", "fresh", "problem"),
    [
        (
            "revoked",
            "revoked",
            True,
            f"stapled response says revoked on {REVOKED_AT:%Y-%m-%d %H:%M} UTC (keyCompromise)",
        ),
        (
            "unknown",
            "unknown",
            True,
            "stapled response says status unknown (the responder does not know this certificate)",
        ),
        (
            "expired",
            "good",
            False,
            f"stapled OCSP response expired on {NOW - DAY:%Y-%m-%d %H:%M} UTC",
        ),
        (
            "not-yet-valid",
            "good",
            False,
            f"stapled OCSP response not valid before {NOW + HOUR:%Y-%m-%d %H:%M} UTC",
        ),
    ],
)
def test_successful_staple_with_a_problem_names_it(
    site: str, status: str, fresh: bool, problem: str, probed: dict[str, OcspStaple]
) -> None:
    staple = probed[site]
    assert (staple.stapled, staple.response_status) == (True, "successful")
    assert (staple.status, staple.fresh, staple.problems) == (status, fresh, (problem,))


def test_staple_for_another_certificate_names_both_serials(
    pki: Pki, probed: dict[str, OcspStaple]
) -> None:
    assert probed["another"].status == "good"
    assert probed["another"].problems == (
        f"stapled response is for another certificate (serial {pki.other.cert.serial_number:x}, "
        f"served certificate has {pki.leaf.cert.serial_number:x})",
    )


def test_unsuccessful_response_has_no_certificate_status(probed: dict[str, OcspStaple]) -> None:
    assert probed["try-later"] == OcspStaple(
        stapled=True,
        status=None,
        response_status="tryLater",
        this_update=None,
        next_update=None,
        fresh=False,
        problems=("stapled OCSP response is tryLater, not successful",),
    )


def test_unparseable_staple_says_why(probed: dict[str, OcspStaple]) -> None:
    staple = probed["not-ocsp-inside"]
    assert (staple.stapled, staple.status, staple.response_status) == (True, None, None)
    assert not staple.fresh
    (problem,) = staple.problems
    assert problem.startswith("stapled response not parseable: ")
    assert len(problem) > len("stapled response not parseable: ")


def test_server_name_is_sent_unless_it_is_an_ip_address(sites: dict[str, int]) -> None:
    port = sites["sni"]
    named = stapled_ocsp("127.0.0.1", port, server_name="localhost", timeout_s=5)
    assert named.status == "good"
    # nginx would pick the stapling server for an SNI of 127.0.0.1 too; the probe sends none.
    by_ip = stapled_ocsp("127.0.0.1", port, server_name="127.0.0.1", timeout_s=5)
    assert by_ip.problems == ("no OCSP response stapled",)


def test_closed_port_is_unreachable_and_says_refused() -> None:
    (port,) = free_ports(1)
    with pytest.raises(TargetUnreachableError) as caught:
        stapled_ocsp("127.0.0.1", port, server_name="localhost", timeout_s=2)
    assert str(caught.value) == f"127.0.0.1:{port}: connection refused (nothing listening?)"


def test_plain_http_port_is_unreachable_and_says_not_tls(sites: dict[str, int]) -> None:
    port = sites["plain-http"]
    with pytest.raises(TargetUnreachableError) as caught:
        stapled_ocsp("127.0.0.1", port, server_name="localhost", timeout_s=2)
    assert str(caught.value) == (
        f"127.0.0.1:{port}: answered with something that is not TLS (wrong version number); "
        "plain HTTP or another protocol on this port?"
    )


def test_silent_port_times_out_within_the_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # accepted by the kernel, never answered
        port = int(listener.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(TargetUnreachableError) as caught:
            stapled_ocsp("127.0.0.1", port, server_name="localhost", timeout_s=0.3)
        assert time.monotonic() - started < 1
    assert str(caught.value) == (f"127.0.0.1:{port}: no TLS answer within 0.3 s (not a TLS port?)")


def test_failed_handshake_is_unreachable_and_says_why(sites: dict[str, int]) -> None:
    port = sites["tls1-only"]
    with pytest.raises(TargetUnreachableError) as caught:
        stapled_ocsp("127.0.0.1", port, server_name="localhost", timeout_s=2)
    assert (
        str(caught.value)
        == f"127.0.0.1:{port}: TLS handshake failed (tlsv1 alert protocol version)"
    )
