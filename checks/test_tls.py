"""TLS of each endpoint: versions, suites, the certificate and its chain, OCSP stapling."""

from __future__ import annotations

import pytest

from fixtures.edge import OcspProber, TlsProber
from gonogo.environment_edge import TlsPolicy

pytestmark = pytest.mark.edge

# Always weak, whatever the environment allows.
_BROKEN = frozenset({"NULL", "EXPORT", "anonymous", "RC4", "3DES", "DES"})
_WEAK_SIGNATURES = ("md5", "sha1")


def test_tls_protocols(tls_endpoint: TlsPolicy, probe_tls: TlsProber) -> None:
    facts = probe_tls(tls_endpoint)
    expected = [v for v in tls_endpoint.protocols if v not in facts.untestable]
    accepted = set(facts.accepted)
    unexpected = [v for v in facts.protocols if v in accepted and v not in expected]
    refused = [v for v in expected if v not in accepted]
    problems = [f"{', '.join(unexpected)} accepted"] if unexpected else []
    if refused:
        problems.append(f"{', '.join(refused)} refused")
    untestable = f" ({', '.join(facts.untestable)} not testable here)" if facts.untestable else ""
    assert not problems, (
        f"{tls_endpoint.label}: {'; '.join(problems)}, expected only "
        f"{', '.join(tls_endpoint.protocols)}; accepted: {', '.join(facts.accepted)}{untestable}"
    )


def test_tls_ciphers(tls_endpoint: TlsPolicy, probe_tls: TlsProber) -> None:
    facts = probe_tls(tls_endpoint)
    forbidden = set(_BROKEN)
    if not tls_endpoint.allow_cbc:
        forbidden.add("CBC")
    if tls_endpoint.forward_secrecy:
        forbidden.add("no forward secrecy")
    weak = {
        suite: found
        for suite, weaknesses in facts.weak_ciphers.items()
        if (found := [w for w in weaknesses if w in forbidden])
    }
    listed = "; ".join(f"{suite} ({', '.join(found)})" for suite, found in weak.items())
    assert not weak, (
        f"{tls_endpoint.label}: TLS 1.2 accepts {len(weak)} weak suite(s): {listed}; "
        f"all accepted: {', '.join(facts.tls12_ciphers)}"
    )


def test_tls_certificate_trusted(
    tls_endpoint: TlsPolicy, probe_tls: TlsProber, request: pytest.FixtureRequest
) -> None:
    facts = probe_tls(tls_endpoint)
    cert = facts.certificate
    # What the probe saw, for the reports, whatever the verdict.
    request.node.user_properties.append(
        (
            "evidence",
            f"negotiated {facts.version} {facts.cipher}; subject {cert.subject}; issuer "
            f"{cert.issuer}; SAN {', '.join(cert.sans) or 'none'}; not after "
            f"{cert.not_after:%Y-%m-%d}; {cert.key_type} {cert.key_size}; "
            f"chain of {len(cert.chain)}",
        )
    )
    assert cert.verified, (
        f"{tls_endpoint.label}: certificate {cert.subject} (issuer {cert.issuer}, "
        f"SAN {', '.join(cert.sans) or 'none'}) not trusted for {tls_endpoint.sni()}: "
        f"{cert.problem}"
    )


def test_tls_certificate_lifetime(tls_endpoint: TlsPolicy, probe_tls: TlsProber) -> None:
    cert = probe_tls(tls_endpoint).certificate
    until = cert.not_after.strftime("%Y-%m-%d %H:%M UTC")
    state = "expired on" if cert.days_left < 0 else f"{cert.days_left} days left, expires"
    assert cert.days_left >= tls_endpoint.min_days_left, (
        f"{tls_endpoint.label}: certificate {cert.subject} {state} {until}; "
        f"expected at least {tls_endpoint.min_days_left} days left"
    )


def test_tls_certificate_key(tls_endpoint: TlsPolicy, probe_tls: TlsProber) -> None:
    cert = probe_tls(tls_endpoint).certificate
    problems = []
    minimum = {"RSA": tls_endpoint.min_rsa_bits, "EC": tls_endpoint.min_ec_bits}.get(cert.key_type)
    if cert.key_type == "DSA":
        problems.append("DSA key (not accepted by current clients)")
    elif minimum is not None and cert.key_size < minimum:
        problems.append(f"{cert.key_type} {cert.key_size}-bit key, expected at least {minimum}")
    if any(weak in cert.signature_algorithm.lower() for weak in _WEAK_SIGNATURES):
        problems.append(f"signed with {cert.signature_algorithm}, expected SHA-256 or better")
    assert not problems, f"{tls_endpoint.label}: certificate {cert.subject}: {'; '.join(problems)}"


def test_tls_chain_served(tls_chain: TlsPolicy, probe_tls: TlsProber) -> None:
    cert = probe_tls(tls_chain).certificate
    # A client completes a chain only from what is served plus its store; with just the
    # leaf from an issuer no store holds, every client without a cached intermediate fails.
    leaf_only = len(cert.chain) == 1 and cert.subject != cert.issuer
    assert not (leaf_only and not cert.verified), (
        f"{tls_chain.label}: only the leaf {cert.subject} is served, issued by {cert.issuer}, "
        f"which is not trusted on its own ({cert.problem}); serve the intermediate "
        "certificate(s) after the leaf"
    )


def test_tls_ocsp_stapled(tls_ocsp: TlsPolicy, probe_ocsp: OcspProber) -> None:
    staple = probe_ocsp(tls_ocsp)
    assert staple.stapled and staple.status == "good" and staple.fresh, (
        f"{tls_ocsp.label}: OCSP stapling expected, "
        f"{'; '.join(staple.problems) or f'status {staple.status}'}"
    )
