"""Certificates for TLS tests, issued on the spot: valid, expired, wrong host, weak key...

Every case a deployment can get wrong, signed by a throw-away CA, so tests see real chains.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.UTC)
DAY, HOUR = datetime.timedelta(days=1), datetime.timedelta(hours=1)


@dataclass(frozen=True)
class Leaf:
    cert: x509.Certificate
    pem: Path
    key: Path


def issue(
    directory: Path,
    name: str,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    signer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    valid: tuple[datetime.datetime, datetime.datetime] = (NOW - HOUR, NOW + 90 * DAY + HOUR),
    sans: tuple[x509.GeneralName, ...] = (
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ),
    digest: hashes.HashAlgorithm | None = None,
) -> Leaf:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    issuer_cert, issuer_key = signer or (None, key)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        .sign(issuer_key, digest or hashes.SHA256())
    )
    pem, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    served = [cert] + ([issuer_cert] if issuer_cert else [])  # the chain nginx serves
    pem.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in served))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Leaf(cert, pem, key_file)


def _ca(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    signer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.Certificate:
    """A CA certificate: the root when `signer` is None, else an intermediate under it."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_cert, issuer_key = signer or (None, key)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=None if signer else 1), critical=True
        )
        .sign(issuer_key, hashes.SHA256())
    )


def standard_pki(directory: Path) -> dict[str, Leaf | Path | str]:
    """A CA (ca.pem) and one leaf per certificate case; `sha1` holds why it is missing, if so.

    `chained` is issued by an intermediate, and its pem holds the leaf and the intermediate.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _ca("gonogo test CA", ca_key, None, NOW - DAY, NOW + 365 * DAY)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    signer = (ca, ca_key)

    def p256() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    weak_key = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the weakness under test
    made: dict[str, Leaf | Path | str] = {
        "ca": directory / "ca.pem",
        "valid": issue(directory, "valid", p256(), signer),
        "valid-rsa": issue(directory, "valid-rsa", rsa.generate_private_key(65537, 2048), signer),
        "expired": issue(directory, "expired", p256(), signer, valid=(NOW - 92 * DAY, NOW - DAY)),
        "not-yet-valid": issue(
            directory, "not-yet-valid", p256(), signer, valid=(NOW + 3 * DAY, NOW + 93 * DAY)
        ),
        "wrong-host": issue(
            directory, "wrong-host", p256(), signer, sans=(x509.DNSName("other.example"),)
        ),
        "self-signed": issue(directory, "self-signed", p256(), None),
        "rsa-1024": issue(directory, "rsa-1024", weak_key, signer),
        "expiring": issue(
            directory, "expiring", p256(), signer, valid=(NOW - HOUR, NOW + 10 * DAY + HOUR)
        ),
    }
    intermediate_key = p256()
    intermediate = _ca(
        "gonogo test intermediate", intermediate_key, (ca, ca_key), NOW - DAY, NOW + 365 * DAY
    )
    made["chained"] = issue(directory, "chained", p256(), (intermediate, intermediate_key))
    try:
        made["sha1"] = issue(directory, "sha1", p256(), signer, digest=hashes.SHA1())  # noqa: S303
    except (UnsupportedAlgorithm, ValueError) as exc:
        made["sha1"] = f"cryptography refuses to sign with SHA-1 ({exc})"
    return made


def trusted_leaf(directory: Path) -> tuple[Leaf, Path]:
    """A valid leaf for localhost and 127.0.0.1, and the CA file that trusts it."""
    pki = standard_pki(directory)
    leaf, ca = pki["valid"], pki["ca"]
    assert isinstance(leaf, Leaf) and isinstance(ca, Path)
    return leaf, ca
