"""OCSP stapling of one endpoint: whether it staples, what the staple says, whether it is current.

Knows nothing of pytest or of expectations. Python's ssl module cannot ask for a stapled
response, so the one handshake is pyOpenSSL's. Neither the certificate nor the response's
signature is verified: trust is the TLS probe's business, this one reports what was stapled.
`timeout_s` bounds the TCP connect and the whole handshake together.
"""

from __future__ import annotations

import datetime
import ipaddress
import selectors
import socket
import time
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509 import ocsp
from OpenSSL import SSL

from gonogo.errors import TargetTimeoutError, TargetUnreachableError
from gonogo.probes._connect import connect

__all__ = ["OcspStaple", "stapled_ocsp"]

# RFC 6960 names, as responders and OpenSSL's `ocsp` command print them.
_RESPONSE_STATUS = {
    ocsp.OCSPResponseStatus.SUCCESSFUL: "successful",
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST: "malformedRequest",
    ocsp.OCSPResponseStatus.INTERNAL_ERROR: "internalError",
    ocsp.OCSPResponseStatus.TRY_LATER: "tryLater",
    ocsp.OCSPResponseStatus.SIG_REQUIRED: "sigRequired",
    ocsp.OCSPResponseStatus.UNAUTHORIZED: "unauthorized",
}
# What OpenSSL, as a client, says when the first bytes back cannot be a TLS record at all.
_NOT_TLS = frozenset({"wrong version number", "packet length too long", "unknown protocol"})


@dataclass(frozen=True)
class OcspStaple:
    """The OCSP response the server stapled to one handshake, and what is wrong with it.

    `status` and the update times come from the single response for the served certificate
    (or the first one, when none is for it); all are None when nothing usable was stapled.
    """

    stapled: bool
    status: str | None  # good, revoked, unknown
    response_status: str | None  # successful, tryLater, ... (RFC 6960 responseStatus)
    this_update: datetime.datetime | None
    next_update: datetime.datetime | None
    fresh: bool  # now is between this_update and next_update (no next_update: after this_update)
    problems: tuple[str, ...]


def stapled_ocsp(host: str, port: int, *, server_name: str, timeout_s: float) -> OcspStaple:
    """Ask for a stapled OCSP response in one handshake and read what comes back.

    SNI is `server_name` unless that is an IP address. Raises TargetUnreachableError when
    nothing listens, nothing answers within `timeout_s`, or the answer is not TLS.
    """
    where, deadline = f"{host}:{port}", time.monotonic() + timeout_s
    stapled: list[bytes] = []
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE)

    def keep(_tls: SSL.Connection, der: bytes, _data: object) -> bool:
        stapled.append(der)
        return True  # judging the staple is this probe's answer, not a reason to hang up

    context.set_ocsp_client_callback(keep)
    raw = connect(host, port, timeout_s, where)
    with raw:
        tls = SSL.Connection(context, raw)
        if server_name and not _is_ip(server_name):
            tls.set_tlsext_host_name(server_name.encode("idna"))
        tls.request_ocsp()
        tls.set_connect_state()
        try:
            _handshake(tls, raw, deadline)
        except TimeoutError:
            raise TargetTimeoutError(
                f"{where}: no TLS answer within {timeout_s:g} s (not a TLS port?)"
            ) from None
        except (SSL.SysCallError, SSL.ZeroReturnError, OSError):
            raise TargetUnreachableError(
                f"{where}: closed the connection during the TLS handshake (not a TLS port?)"
            ) from None
        except SSL.Error as exc:
            reason = "; ".join(str(error[2]) for error in exc.args[0]) or type(exc).__name__
            if reason in _NOT_TLS:
                raise TargetUnreachableError(
                    f"{where}: answered with something that is not TLS ({reason}); "
                    "plain HTTP or another protocol on this port?"
                ) from None
            raise TargetUnreachableError(f"{where}: TLS handshake failed ({reason})") from None
        leaf = tls.get_peer_certificate(as_cryptography=True)
    if leaf is None:
        raise TargetUnreachableError(f"{where}: completed the handshake without a certificate")
    return _read(b"".join(stapled), leaf)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _handshake(tls: SSL.Connection, raw: socket.socket, deadline: float) -> None:
    """Drive the handshake on the non-blocking socket (a timeout makes it so) until `deadline`."""
    with selectors.DefaultSelector() as selector:
        selector.register(raw, selectors.EVENT_READ)
        while True:
            try:
                tls.do_handshake()
                return
            except SSL.WantReadError:
                selector.modify(raw, selectors.EVENT_READ)
            except SSL.WantWriteError:
                selector.modify(raw, selectors.EVENT_WRITE)
            if not selector.select(deadline - time.monotonic()):
                raise TimeoutError


def _read(der: bytes, leaf: x509.Certificate) -> OcspStaple:
    if not der:
        return OcspStaple(False, None, None, None, None, False, ("no OCSP response stapled",))
    try:
        response = ocsp.load_der_ocsp_response(der)
        outcome = _RESPONSE_STATUS[response.response_status]
        if outcome != "successful":
            problem = f"stapled OCSP response is {outcome}, not successful"
            return OcspStaple(True, None, outcome, None, None, False, (problem,))
        singles = list(response.responses)
        if not singles:
            raise ValueError("it holds no certificate status")
        single = next((s for s in singles if s.serial_number == leaf.serial_number), singles[0])
    except ValueError as exc:
        problem = f"stapled response not parseable: {exc}"
        return OcspStaple(True, None, None, None, None, False, (problem,))
    now = datetime.datetime.now(datetime.UTC)
    status = single.certificate_status.name.lower()
    this_update, next_update = single.this_update_utc, single.next_update_utc
    problems = []
    if single.serial_number != leaf.serial_number:
        problems.append(
            f"stapled response is for another certificate (serial {single.serial_number:x}, "
            f"served certificate has {leaf.serial_number:x})"
        )
    if single.certificate_status is ocsp.OCSPCertStatus.REVOKED:
        when, reason = single.revocation_time_utc, single.revocation_reason
        why = f" ({reason.value})" if reason else ""
        problems.append(f"stapled response says revoked on {when:%Y-%m-%d %H:%M} UTC{why}")
    elif single.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
        problems.append(
            "stapled response says status unknown (the responder does not know this certificate)"
        )
    if this_update > now:
        problems.append(f"stapled OCSP response not valid before {this_update:%Y-%m-%d %H:%M} UTC")
    if next_update is not None and next_update <= now:
        problems.append(f"stapled OCSP response expired on {next_update:%Y-%m-%d %H:%M} UTC")
    fresh = this_update <= now and (next_update is None or now < next_update)
    return OcspStaple(True, status, outcome, this_update, next_update, fresh, tuple(problems))
