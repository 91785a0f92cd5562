"""A throwaway CA and a localhost server certificate, so the demo serves TLS a client can verify."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gonogo.demo._files import write_file

__all__ = ["LEAF_DAYS", "RENEW_BEFORE_DAYS", "PkiFiles", "ensure_pki"]

CA_DAYS = 3650
# Same lifetime and renewal margin as Let's Encrypt, so the demo's expiry looks like production's.
LEAF_DAYS = 90
RENEW_BEFORE_DAYS = 30
# Tolerates a client clock slightly behind ours.
_BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class PkiFiles:
    """Where the demo's TLS material lives; `server_cert` carries the leaf followed by the CA."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def ensure_pki(run_dir: Path) -> PkiFiles:
    """Reuse the certificates under `run_dir/pki` while the leaf has enough life left, else reissue.

    The CA key is never written to disk: a CA that a user may add to a trust store must not
    be able to sign anything after this call, so renewal issues a fresh CA as well.
    """
    pki_dir = run_dir / "pki"
    files = PkiFiles(
        ca_cert=pki_dir / "ca.pem",
        server_cert=pki_dir / "server.pem",
        server_key=pki_dir / "server.key",
    )
    if _reusable(files):
        return files
    pki_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, now)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = _leaf_certificate(leaf_key, ca_key, ca_cert, now)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_file(files.server_key, key_pem, 0o600)
    write_file(
        files.server_cert, leaf_cert.public_bytes(serialization.Encoding.PEM) + ca_pem, 0o644
    )
    write_file(files.ca_cert, ca_pem, 0o644)
    return files


def _reusable(files: PkiFiles) -> bool:
    if not (files.ca_cert.is_file() and files.server_key.is_file()):
        return False
    try:
        leaf = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    except (OSError, ValueError):
        return False
    left = leaf.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    return leaf.issuer == ca.subject and left > datetime.timedelta(days=RENEW_BEFORE_DAYS)


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: datetime.datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gonogo demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, "gonogo demo CA"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: datetime.datetime,
) -> x509.Certificate:
    names = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(names, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
