"""TLS facts of one endpoint: versions and suites it accepts, its certificate, why trust fails.

Knows nothing of pytest or of expectations. Every answer comes from a real handshake made with
this machine's OpenSSL; a version it can no longer offer (SSLv3 on current builds) is reported
as untestable, never as refused. `timeout_s` bounds each TCP connect and, separately, each whole
handshake, so a server that stalls mid-handshake costs at most twice that per connection.
"""

from __future__ import annotations

import _ssl
import datetime
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from gonogo.errors import TargetTimeoutError, TargetUnreachableError
from gonogo.probes._connect import NOT_TLS, connect

__all__ = [
    "PROTOCOLS",
    "CertificateFacts",
    "TlsFacts",
    "certificate",
    "probe",
    "protocols",
    "tls12_ciphers",
    "tls13_suites",
    "untestable_protocols",
    "weaknesses",
]

PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_VERSIONS = {
    "SSLv3": ssl.TLSVersion.SSLv3,
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
# OpenSSL 3 will not even offer TLS 1.0/1.1, SHA-1 handshake signatures or short keys above
# security level 0; asking whether a server still accepts them needs that level.
_EVERYTHING = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"
# Anonymous suites send no certificate, so the handshake that fetches one must not settle on them.
_WITH_CERTIFICATE = "ALL:COMPLEMENTOFALL:!aNULL:@SECLEVEL=0"
# X509_V_ERR_* codes that get operator words; the rest are quoted as OpenSSL words them.
_NOT_YET_VALID, _EXPIRED = 9, 10
_SELF_SIGNED, _SELF_SIGNED_IN_CHAIN = 18, 19
_UNKNOWN_ISSUER = frozenset({2, 20, 21})
_NAME_MISMATCH = frozenset({62, 64})
_EE_KEY_TOO_SMALL, _CA_KEY_TOO_SMALL, _DIGEST_TOO_WEAK = 66, 67, 68
_DEPRECATED_SETTINGS = threading.Lock()
_T = TypeVar("_T")
_P = ParamSpec("_P")


@dataclass(frozen=True)
class CertificateFacts:
    """The leaf as served, the chain as served (subjects, leaf first) and the trust verdict.

    `verified` is what a default client (Python's defaults: OpenSSL security level 2, TLS 1.2+)
    concludes against the system store, or against `ca_file` alone when one is given;
    `problems` says why not, in operator words, the first one being OpenSSL's own reason.
    """

    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    days_left: int  # whole days, rounded down; negative once expired
    key_type: str  # RSA, EC, DSA, Ed25519, Ed448
    key_size: int  # bits; the curve size for EC
    signature_algorithm: str  # e.g. sha256WithRSAEncryption, ecdsa-with-SHA256
    chain: tuple[str, ...]  # empty only where this Python cannot read the served chain
    verified: bool
    problems: tuple[str, ...]

    @property
    def problem(self) -> str | None:
        """All problems on one line, or None when the certificate verified."""
        return "; ".join(self.problems) or None


@dataclass(frozen=True)
class TlsFacts:
    """Everything `probe` learnt about one endpoint."""

    host: str
    port: int
    server_name: str
    version: str  # negotiated when offering every version and suite this machine has
    cipher: str
    protocols: dict[str, bool]  # version -> accepted, for each version testable here
    untestable: tuple[str, ...]  # versions this machine's OpenSSL cannot offer
    tls12_ciphers: tuple[str, ...]  # OpenSSL names, in the order the server chose them
    tls13_suites: tuple[str, ...]  # a lower bound: see tls13_suites()
    certificate: CertificateFacts
    elapsed_ms: float

    @property
    def accepted(self) -> tuple[str, ...]:
        """The versions the server completed a handshake with, oldest first."""
        return tuple(version for version, ok in self.protocols.items() if ok)

    @property
    def weak_ciphers(self) -> dict[str, list[str]]:
        """Accepted TLS 1.2 suites with at least one weakness, and what the weaknesses are."""
        return {name: found for name in self.tls12_ciphers if (found := weaknesses(name))}


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    server_name: str
    timeout_s: float

    def __str__(self) -> str:
        named = "" if self.server_name == self.host else f" (server name {self.server_name})"
        return f"{self.host}:{self.port}{named}"


@dataclass(frozen=True)
class _Hello:
    """A completed handshake; `chain` is DER, leaf first, empty if this Python cannot say."""

    version: str
    cipher: str
    leaf: bytes | None
    chain: tuple[bytes, ...]


class _RefusedError(Exception):
    """The server turned this ClientHello down (an alert, or it hung up): an answer, no outage."""


def weaknesses(cipher_name: str) -> list[str]:
    """What is wrong with a suite, by its OpenSSL name (IANA names are understood too).

    Labels: NULL, EXPORT, anonymous, RC4, 3DES, DES, CBC (not AEAD), no forward secrecy.
    TLS 1.3 suites are all AEAD with ephemeral key exchange, so they have none.
    """
    name = cipher_name.upper()
    if name.startswith(("TLS_", "SSL_")) and "_WITH_" in name:
        exchange, _, cipher = name[4:].partition("_WITH_")
        kx = exchange.split("_")
        tokens = kx + cipher.split("_")
    elif name.startswith("TLS_"):
        return []
    else:
        tokens = name.split("-")
        kx = tokens[1:] if tokens[0].startswith("EXP") else tokens
    anonymous = kx[0] in ("ADH", "AECDH") or "ANON" in kx
    ephemeral = anonymous or kx[0] in ("ECDHE", "DHE", "EDH")
    aead = any(t.startswith(("GCM", "CCM", "POLY1305")) for t in tokens) or "CHACHA20" in name
    found = []
    if "NULL" in tokens:
        found.append("NULL")
    if any(t.startswith("EXP") for t in tokens):
        found.append("EXPORT")
    if anonymous:
        found.append("anonymous")
    if any(t.startswith("RC4") for t in tokens):
        found.append("RC4")
    if "3DES" in tokens or "DES-CBC3" in name:
        found.append("3DES")
    elif any(t.startswith("DES") for t in tokens):
        found.append("DES")
    if not aead and not {"NULL", "RC4"} & set(found):
        found.append("CBC")
    if not ephemeral:
        found.append("no forward secrecy")
    return found


@lru_cache(maxsize=1)
def untestable_protocols() -> tuple[str, ...]:
    """Versions this machine's OpenSSL cannot put in a ClientHello; found without any network."""
    return tuple(version for version in PROTOCOLS if not _can_offer(version))


def protocols(host: str, port: int, *, server_name: str, timeout_s: float) -> dict[str, bool]:
    """Whether the server completes a handshake pinned to each version this machine can offer.

    Untestable versions are left out (see `untestable_protocols`). Raises
    TargetUnreachableError when nothing answers, the answer is not TLS, or no version works.
    """
    target = _Target(host, port, server_name, timeout_s)
    testable = [v for v in PROTOCOLS if v not in untestable_protocols()]
    attempts = {v: _Job(_attempt, target, _pinned(v, v)) for v in testable}
    _Job.finish(*attempts.values())
    return _accepted(target, {v: attempt.result() for v, attempt in attempts.items()})


def tls12_ciphers(host: str, port: int, *, server_name: str, timeout_s: float) -> list[str]:
    """The TLS 1.2 suites the server accepts (OpenSSL names), found by offering every suite,
    striking the one chosen and asking again until the server refuses; empty without TLS 1.2.
    Only suites this machine's OpenSSL can offer are asked about.
    """
    return _tls12_ciphers(_Target(host, port, server_name, timeout_s))


def tls13_suites(host: str, port: int, *, server_name: str, timeout_s: float) -> list[str]:
    """The TLS 1.3 suite the server picks from OpenSSL's default offer; empty without TLS 1.3.

    A lower bound, not an enumeration: Python's ssl module has no set_ciphersuites, so the
    offer cannot be narrowed to ask about the other suites. All TLS 1.3 suites are AEAD with
    ephemeral key exchange, so no weakness verdict depends on the ones left unasked.
    """
    hello = _attempt(_Target(host, port, server_name, timeout_s), _pinned("TLSv1.3", "TLSv1.3"))
    return [hello.cipher] if isinstance(hello, _Hello) else []


def certificate(
    host: str, port: int, *, server_name: str, timeout_s: float, ca_file: Path | None = None
) -> CertificateFacts:
    """The served certificate and chain, and whether a default client trusts it (see
    CertificateFacts). An untrusted certificate is still described: distrust is a fact, not
    an outage. `server_name` is sent as SNI (unless an IP address) and checked against the SANs.
    """
    target = _Target(host, port, server_name, timeout_s)
    seen, trust = _Job(_handshake, target, _widest()), _Job(_distrust, target, ca_file)
    _Job.finish(seen, trust)
    return _certificate_facts(target, _reached(target, seen), trust.result())


def probe(
    host: str, port: int, *, server_name: str, timeout_s: float, ca_file: Path | None = None
) -> TlsFacts:
    """All of the above for one endpoint, the handshakes run side by side.

    Raises TargetUnreachableError when the connection is refused or times out, or the answer
    is not TLS, or no handshake completes even when offering everything this machine can.
    """
    target = _Target(host, port, server_name, timeout_s)
    testable = [v for v in PROTOCOLS if v not in untestable_protocols()]
    started = time.perf_counter()
    ciphers = _Job(_tls12_ciphers, target)  # the longest chain of handshakes: first
    seen = _Job(_handshake, target, _widest())
    trust = _Job(_distrust, target, ca_file)
    attempts = {v: _Job(_attempt, target, _pinned(v, v)) for v in testable}
    _Job.finish(ciphers, seen, trust, *attempts.values())
    hello = _reached(target, seen)
    outcomes = {v: attempt.result() for v, attempt in attempts.items()}
    tls13 = outcomes.get("TLSv1.3")
    return TlsFacts(
        host=host,
        port=port,
        server_name=server_name,
        version=hello.version,
        cipher=hello.cipher,
        protocols=_accepted(target, outcomes),
        untestable=untestable_protocols(),
        tls12_ciphers=tuple(ciphers.result()),
        tls13_suites=(tls13.cipher,) if isinstance(tls13, _Hello) else (),
        certificate=_certificate_facts(target, hello, trust.result()),
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


class _Job(Generic[_T]):
    """One call on its own thread, its result or exception kept for whoever asks.

    Not concurrent.futures: importing it (logging comes along) costs a process ~10 ms,
    a good part of what a whole probe of a local endpoint takes.
    """

    def __init__(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> None:
        self._outcome: list[_T] = []
        self._error: Exception | None = None

        def run() -> None:
            try:
                self._outcome.append(call(*args, **kwargs))
            except Exception as exc:  # re-raised by result(), in the caller's thread
                self._error = exc

        self._thread = threading.Thread(target=run, name="gonogo-tls", daemon=True)
        self._thread.start()

    @staticmethod
    def finish(*jobs: _Job[Any]) -> None:
        """Wait for every job, so no handshake outlives the call that started it."""
        for job in jobs:
            job._thread.join()

    def result(self) -> _T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._outcome[0]


def _context(minimum: str, maximum: str, ciphers: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers(ciphers)
    if not {minimum, maximum} & {"SSLv3", "TLSv1", "TLSv1.1"}:
        context.minimum_version, context.maximum_version = _VERSIONS[minimum], _VERSIONS[maximum]
        return context
    # Each set of SSLv3/TLSv1/TLSv1.1 warns; asking about them is this probe's whole point.
    # The lock keeps our own catch_warnings blocks from interleaving; such contexts are
    # cached, so this happens a handful of times per process.
    with _DEPRECATED_SETTINGS, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = _VERSIONS[minimum]
        context.maximum_version = _VERSIONS[maximum]
    return context


@lru_cache(maxsize=16)
def _default_client(ca_file: Path | None) -> ssl.SSLContext:
    # Not gonogo.probes.http.tls_context, which is the same: importing httpx with it would
    # double what a process pays to start probing TLS. Trust stores take milliseconds to load.
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


@cache
def _pinned(minimum: str, maximum: str) -> ssl.SSLContext:
    return _context(minimum, maximum, _EVERYTHING)


@lru_cache(maxsize=1)
def _widest() -> ssl.SSLContext:
    return _context("TLSv1", "TLSv1.3", _WITH_CERTIFICATE)


@lru_cache(maxsize=1)
def _tls12_candidates() -> tuple[str, ...]:
    # PSK and SRP suites need credentials a probe does not have; OpenSSL would not offer them.
    return tuple(
        c["name"]
        for c in _pinned("TLSv1.2", "TLSv1.2").get_ciphers()
        if c["protocol"] != "TLSv1.3" and not any(k in c["kea"] for k in ("psk", "srp"))
    )


def _can_offer(version: str) -> bool:
    try:
        context = _pinned(version, version)
    except (ValueError, ssl.SSLError):
        return False
    hello = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
    try:
        hello.do_handshake()
    except ssl.SSLWantReadError:
        return True  # the ClientHello is written, now it would wait for the server
    except ssl.SSLError:
        return False
    return False


def _handshake(target: _Target, context: ssl.SSLContext) -> _Hello:
    """One handshake; _RefusedError if the server declines, TargetUnreachableError if no TLS."""
    raw = connect(target.host, target.port, target.timeout_s, target)
    with raw:
        try:
            with context.wrap_socket(raw, server_hostname=target.server_name or None) as tls:
                cipher = tls.cipher()
                return _Hello(
                    version=tls.version() or "",
                    cipher=cipher[0] if cipher else "",
                    leaf=tls.getpeercert(binary_form=True),
                    chain=_served_chain(tls),
                )
        except ssl.SSLCertVerificationError:
            raise
        except (ssl.SSLEOFError, ConnectionError):
            raise _RefusedError("closed the connection") from None
        except ssl.SSLError as exc:
            reason = exc.reason or type(exc).__name__
            if reason in NOT_TLS:
                raise TargetUnreachableError(
                    f"{target}: answered with something that is not TLS ({_words(reason)}); "
                    "plain HTTP or another protocol on this port?"
                ) from None
            raise _RefusedError(_words(reason)) from None
        except TimeoutError:
            raise TargetTimeoutError(
                f"{target}: no TLS answer within {target.timeout_s:g} s (not a TLS port?)"
            ) from None
        except OSError as exc:
            raise TargetUnreachableError(
                f"{target}: connection failed during the TLS handshake ({exc})"
            ) from None


def _served_chain(tls: ssl.SSLSocket) -> tuple[bytes, ...]:
    public = getattr(tls, "get_unverified_chain", None)
    if public is not None:  # Python 3.13+
        return tuple(public() or ())
    # Python 3.10-3.12 have the same call on the internal object, certificates as _ssl objects.
    internal = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if internal is None:
        return ()
    return tuple(cert.public_bytes(_ssl.ENCODING_DER) for cert in internal() or ())


def _attempt(target: _Target, context: ssl.SSLContext) -> _Hello | _RefusedError:
    try:
        return _handshake(target, context)
    except _RefusedError as exc:
        return exc


def _accepted(target: _Target, outcomes: dict[str, _Hello | _RefusedError]) -> dict[str, bool]:
    accepted = {version: isinstance(o, _Hello) for version, o in outcomes.items()}
    if not any(accepted.values()):
        why = "; ".join(f"{version}: {o}" for version, o in outcomes.items())
        raise TargetUnreachableError(f"{target}: completed no TLS handshake ({why})")
    return accepted


def _reached(target: _Target, seen: _Job[_Hello]) -> _Hello:
    try:
        return seen.result()
    except _RefusedError as exc:
        raise TargetUnreachableError(
            f"{target}: TLS handshake failed ({exc}) even when offering every version and "
            "suite this machine has"
        ) from None


def _tls12_ciphers(target: _Target) -> list[str]:
    remaining = list(_tls12_candidates())
    accepted: list[str] = []
    while remaining:
        offer = _context("TLSv1.2", "TLSv1.2", ":".join(remaining) + ":@SECLEVEL=0")
        hello = _attempt(target, offer)
        if not isinstance(hello, _Hello) or hello.cipher not in remaining:
            break
        accepted.append(hello.cipher)
        remaining.remove(hello.cipher)
    return accepted


@dataclass(frozen=True)
class _Distrust:
    """Why a default client did not trust the server: an X509_V_ERR code, or no handshake."""

    code: int | None
    detail: str


def _distrust(target: _Target, ca_file: Path | None) -> _Distrust | None:
    try:
        _handshake(target, _default_client(ca_file))
    except ssl.SSLCertVerificationError as exc:
        return _Distrust(exc.verify_code, exc.verify_message)
    except _RefusedError as exc:
        return _Distrust(None, str(exc))
    return None


def _certificate_facts(
    target: _Target, hello: _Hello, distrust: _Distrust | None
) -> CertificateFacts:
    if not hello.leaf:
        raise TargetUnreachableError(f"{target}: completed the handshake without a certificate")
    try:
        leaf = x509.load_der_x509_certificate(hello.leaf)
        chain = [x509.load_der_x509_certificate(der) for der in hello.chain]
        key_type, key_size = _key(leaf)
        sans = _sans(leaf)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TargetUnreachableError(
            f"{target}: served a certificate that cannot be read ({exc})"
        ) from None
    now = datetime.datetime.now(datetime.UTC)
    problems: list[str] = []
    if distrust is not None:
        problems.append(_explain(distrust, target, leaf, chain, now))
        # OpenSSL stops at its first complaint; the leaf's dates are worth saying regardless.
        if leaf.not_valid_after_utc < now and distrust.code != _EXPIRED:
            problems.append(f"expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
        if leaf.not_valid_before_utc > now and distrust.code != _NOT_YET_VALID:
            problems.append(f"not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    return CertificateFacts(
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        sans=sans,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        days_left=(leaf.not_valid_after_utc - now) // datetime.timedelta(days=1),
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=leaf.signature_algorithm_oid._name,
        chain=tuple(cert.subject.rfc4514_string() for cert in chain),
        verified=distrust is None,
        problems=tuple(problems),
    )


def _explain(
    distrust: _Distrust,
    target: _Target,
    leaf: x509.Certificate,
    chain: list[x509.Certificate],
    now: datetime.datetime,
) -> str:
    """OpenSSL's verdict in the words an operator would search the certificate for."""
    code, top = distrust.code, (chain or [leaf])[-1]
    if code is None:
        return f"not verified: a default client cannot complete the handshake ({distrust.detail})"
    if code == _EXPIRED:
        if leaf.not_valid_after_utc < now:
            return f"expired on {leaf.not_valid_after_utc:%Y-%m-%d}"
        return f"a certificate in the chain has expired ({distrust.detail})"
    if code == _NOT_YET_VALID and leaf.not_valid_before_utc > now:
        return f"not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if code in _NAME_MISMATCH:
        return (
            f"host name {target.server_name} not in certificate "
            f"(SAN: {', '.join(_sans(leaf)) or 'none'})"
        )
    if code == _SELF_SIGNED:
        return f"self-signed ({leaf.subject.rfc4514_string()}) and not trusted"
    if code == _SELF_SIGNED_IN_CHAIN:
        return (
            f"unknown issuer {top.subject.rfc4514_string()} "
            "(the served chain ends in a self-signed root that is not trusted)"
        )
    if code in _UNKNOWN_ISSUER:
        return f"unknown issuer {top.issuer.rfc4514_string()}"
    if code == _EE_KEY_TOO_SMALL:
        key_type, key_size = _key(leaf)
        return f"{key_type} {key_size}-bit key too weak for a default client"
    if code == _CA_KEY_TOO_SMALL:
        return f"an issuing CA's key is too weak for a default client ({distrust.detail})"
    if code == _DIGEST_TOO_WEAK:
        return f"signature algorithm too weak ({leaf.signature_algorithm_oid._name})"
    return f"not trusted: {distrust.detail}"


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        [f"DNS:{name}" for name in names.get_values_for_type(x509.DNSName)]
        + [f"IP:{address}" for address in names.get_values_for_type(x509.IPAddress)]
    )


def _key(cert: x509.Certificate) -> tuple[str, int]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return ("RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"), key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 448
    return type(key).__name__, 0


def _words(reason: str) -> str:
    """SSLV3_ALERT_HANDSHAKE_FAILURE -> alert handshake failure."""
    for prefix in ("SSLV3_", "TLSV1_", "TLSV13_"):
        reason = reason.removeprefix(prefix)
    return reason.lower().replace("_", " ")
