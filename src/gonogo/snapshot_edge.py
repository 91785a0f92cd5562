"""The edge sections of a snapshot: smoke checks, ports, TLS, redirects, headers, cookies.

Each function turns what the snapshot saw into the entries of one section, leaving out every
key whose default (the source documents' policy) the deployment already meets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from gonogo._yaml_writer import Commented
from gonogo.environment_edge import DIGEST_HEADERS
from gonogo.probes.http import HttpResponse
from gonogo.probes.ports import PortState, ScanResult
from gonogo.probes.tls import TlsFacts
from gonogo.security_headers import (
    at_least,
    csp_weaknesses,
    grade,
    information_leaks,
    parse_hsts,
    parse_set_cookie,
)
from gonogo.snapshot import RISKY_PORTS, Answer, Observation, Site, path_of
from gonogo.snapshot_spots import WeakSpots

__all__ = [
    "cookies_section",
    "headers_section",
    "ports_section",
    "redirects_section",
    "slug",
    "smoke_section",
    "tls_section",
    "wait_section",
]

MODERN = ("TLSv1.2", "TLSv1.3")
_HSTS_YEAR = 31_536_000
_EXTRA_HEADERS = (
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
    "Cross-Origin-Embedder-Policy",
    "Cross-Origin-Resource-Policy",
)
_STATUS_KEYS = ("status", "state")
_CRITICAL_PATH = re.compile(r"health|live|ready", re.IGNORECASE)
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(path: str, fallback: str = "root") -> str:
    """A check name from a path: `/health/live` -> `health-live`."""
    text = _NOT_NAME.sub("-", urlsplit(path).path.strip("/")).strip("-._")
    return (text or fallback)[:63]


def smoke_section(site: Site, spots: WeakSpots) -> list[Any]:
    """A smoke check for each health path that answered 2xx (and, asking for 200, each that
    answered 5xx: an endpoint that exists but reports trouble), unless a path that cannot
    exist got the very same answer."""
    checks: list[Any] = []
    for answer in site.health:
        response = answer.response
        if response is None or not (200 <= response.status < 300 or response.status >= 500):
            continue
        if _same_answer(response, site.absent):
            continue  # a catch-all route, not a health endpoint
        name = slug(answer.path)
        check: dict[str, Any] = {"name": name, "request": {"url": answer.path}}
        expect: dict[str, Any] = {"status": 200}
        if response.status < 500:
            expect = {"status": response.status}
            fields = dict(_status_fields(_json(response)))
            if fields:
                expect["json"] = fields
        elif spots.as_is:
            continue
        check["expect"] = expect
        if _CRITICAL_PATH.search(answer.path):
            check["severity"] = "critical"
        if response.status >= 500:
            note = spots.note(name, f"GET {answer.path} answers {response.status}")
            checks.append(Commented(check, above=(note,)))
        else:
            checks.append(check)
    return checks


def _same_answer(response: HttpResponse, absent: Answer | None) -> bool:
    other = absent.response if absent else None
    return other is not None and (other.status, other.body) == (response.status, response.body)


def wait_section(smoke: list[Any]) -> dict[str, Any] | None:
    """Poll the liveness check (else the first) before judging anything."""
    names = [(item.value if isinstance(item, Commented) else item)["name"] for item in smoke]
    if not names:
        return None
    live = [name for name in names if "live" in name]
    return {"check": (live or names)[0]}


def ports_section(observation: Observation, spots: WeakSpots) -> list[Any]:
    """Per host: what accepts, the risky ports that must not, and the scanned ranges in which
    nothing else may open."""
    ranges = observation.targets.ports
    entries = []
    for result in observation.scans:
        opened = set(result.open_ports())
        notes = []
        risky_open = sorted(port for port in opened if port in RISKY_PORTS)
        for port in risky_open:
            notes.append(spots.note(result.host, f"port {port} ({RISKY_PORTS[port]}) accepts"))
        keep_open = opened if spots.as_is else opened - set(risky_open)
        closed = [
            port
            for port in sorted(RISKY_PORTS)
            if (port not in opened or not spots.as_is) and not _in_ranges(port, ranges)
        ]
        entry: dict[str, Any] = {"host": result.host, "open": sorted(keep_open), "closed": closed}
        if ranges:
            entry["nothing_else_open_in"] = ", ".join(_range_text(r) for r in ranges)
        filtered = _filtered(result)
        after = f"no answer (filtered): {filtered}" if filtered else ""
        entries.append(Commented(entry, above=tuple(notes), after=after))
    return entries


def tls_section(observation: Observation, base_origin: str, spots: WeakSpots) -> list[Any]:
    entries = []
    for site in observation.sites:
        if not site.https:
            continue
        entry: dict[str, Any] = {}
        label = urlsplit(site.url).netloc
        if site.origin != base_origin:
            entry["url"] = site.origin
        server_name = observation.targets.server_name
        if server_name and server_name != urlsplit(site.url).hostname:
            entry["server_name"] = server_name
        if site.tls is None:
            note = spots.note(label, f"no TLS handshake: {site.tls_error}")
            entries.append(Commented(entry, above=(note,)))
            continue
        entries.append(_tls_entry(site.tls, entry, label, spots))
    return entries


def _tls_entry(facts: TlsFacts, entry: dict[str, Any], label: str, spots: WeakSpots) -> Commented:
    notes = []
    accepted = list(facts.accepted)
    legacy = [version for version in accepted if version not in MODERN]
    modern = [version for version in accepted if version in MODERN]
    if legacy:
        notes.append(spots.note(label, f"accepts {', '.join(legacy)}"))
    protocols = accepted if spots.as_is else (modern or list(MODERN))
    if protocols != list(MODERN):
        entry["protocols"] = protocols
    weak = facts.weak_ciphers
    cbc = sorted(suite for suite, found in weak.items() if "CBC" in found)
    no_fs = sorted(suite for suite, found in weak.items() if "no forward secrecy" in found)
    broken = sorted(
        suite for suite, found in weak.items() if set(found) - {"CBC", "no forward secrecy"}
    )
    if cbc:
        notes.append(spots.note(label, f"TLS 1.2 accepts CBC suites: {', '.join(cbc)}"))
        if spots.as_is:
            entry["allow_cbc"] = True
    if no_fs:
        notes.append(
            spots.note(label, f"TLS 1.2 suites without forward secrecy: {', '.join(no_fs)}")
        )
        if spots.as_is:
            entry["forward_secrecy"] = False
    if broken:
        notes.append(spots.note(label, f"broken suites no setting allows: {', '.join(broken)}"))
    cert = facts.certificate
    if not cert.verified:
        notes.append(spots.note(label, f"certificate not trusted: {cert.problem} (--ca-file?)"))
    if cert.days_left < 30:
        notes.append(spots.note(label, f"certificate has {cert.days_left} days left"))
        if spots.as_is:
            entry["min_days_left"] = max(cert.days_left, 0)
    if cert.key_type == "RSA" and cert.key_size < 2048:
        notes.append(spots.note(label, f"RSA key of {cert.key_size} bits"))
        if spots.as_is:
            entry["min_rsa_bits"] = max(cert.key_size, 1024)
    names = ", ".join(cert.sans) or cert.subject
    about = (
        f"certificate for {names}, {cert.key_type} {cert.key_size}, issued by {cert.issuer}, "
        f"valid until {cert.not_after:%Y-%m-%d} (the check wants 30 days left)"
    )
    untestable = (
        f"; not testable from here: {', '.join(facts.untestable)}" if facts.untestable else ""
    )
    return Commented(entry, above=(about + untestable, *notes))


def redirects_section(observation: Observation, spots: WeakSpots) -> list[Any]:
    """http:// URLs must send the client to https:// permanently."""
    entries: list[Any] = []
    for site in observation.sites:
        if site.https:
            continue
        chain = site.redirect
        entry: dict[str, Any] = {"url": site.url}
        if chain is None or not chain.hops:
            continue
        first = chain.hops[0]
        location = urlsplit(first.location or "")
        if first.location is None:
            if not spots.as_is:
                note = spots.note(
                    site.url, f"serves plain HTTP (status {first.status}), no redirect"
                )
                entries.append(Commented(entry, above=(note,)))
            continue
        if location.scheme != "https":
            note = spots.note(site.url, f"redirects to {first.location}, not to https://")
            if not spots.as_is:
                entries.append(Commented(entry, above=(note,)))
            continue
        if location.hostname != urlsplit(site.url).hostname:
            entry["to"] = first.location
        elif (location.port or 443) != 443:
            entry["https_port"] = location.port
        notes = []
        if first.status not in (301, 308):
            notes.append(spots.note(site.url, f"answers {first.status} (temporary)"))
            if spots.as_is:
                entry["status"] = [first.status]
        entries.append(Commented(entry, above=tuple(notes)) if notes else entry)
    return entries


def headers_section(observation: Observation, base_origin: str, spots: WeakSpots) -> list[Any]:
    """The security headers of each URL given, with their values as served."""
    entries = []
    for site in _header_sites(observation):
        response = site.page.response
        if response is None:
            continue
        url = _url_for(site, base_origin)
        entry: dict[str, Any] = {"url": url}
        notes: list[str] = []
        headers = response.headers
        expect = _expected_headers(headers, url, spots, notes)
        if {k.lower(): v for k, v in expect.items()} != {
            k.lower(): v for k, v in DIGEST_HEADERS.items()
        }:
            entry["expect"] = expect
        _hsts(headers.get("strict-transport-security"), url, entry, spots, notes)
        _csp(headers.get("content-security-policy"), url, entry, spots, notes)
        leaks = information_leaks(headers)
        if leaks:
            notes.append(spots.note(url, "; ".join(leaks)))
            if spots.as_is:
                entry["allow_information_leaks"] = True
        letter = grade(headers, response.set_cookies).letter
        if not (at_least(letter, "B") or spots.as_is):
            notes.append(spots.note(url, f"header grade {letter}"))
        entry["min_grade"] = letter if spots.as_is or at_least(letter, "B") else "B"
        entries.append(Commented(entry, above=tuple(notes)))
    return entries


def cookies_section(observation: Observation, base_origin: str, spots: WeakSpots) -> list[Any]:
    """Cookies set on a plain GET of each URL: Secure, HttpOnly, SameSite=Strict."""
    entries = []
    for site in _header_sites(observation):
        response = site.page.response
        if response is None or not response.set_cookies:
            continue
        url = _url_for(site, base_origin)
        cookies = [parse_set_cookie(raw) for raw in response.set_cookies]
        names = sorted({cookie.name for cookie in cookies if cookie.name})
        entry: dict[str, Any] = {
            "name": f"{slug(url)}-cookies",
            "request": {"url": url},
            "cookies": names,
        }
        notes = []
        for flag, attribute in (("secure", "Secure"), ("http_only", "HttpOnly")):
            lacking = sorted(c.name for c in cookies if not getattr(c, flag))
            if lacking:
                notes.append(spots.note(url, f"no {attribute} on {', '.join(lacking)}"))
                if spots.as_is:
                    entry[flag] = False
        same_sites = {cookie.same_site for cookie in cookies}
        if same_sites != {"Strict"}:
            shown = ", ".join(sorted(str(value) for value in same_sites))
            notes.append(spots.note(url, f"SameSite {shown}, not Strict"))
            if spots.as_is:
                entry["same_site"] = same_sites.pop() if len(same_sites) == 1 else None
        entries.append(Commented(entry, above=tuple(notes)))
    return entries


def _expected_headers(
    headers: dict[str, str], url: str, spots: WeakSpots, notes: list[str]
) -> dict[str, str]:
    expect = {}
    for name, secure in DIGEST_HEADERS.items():
        found = headers.get(name.lower())
        if found is not None:
            expect[name] = found
        elif not spots.as_is:
            notes.append(spots.note(url, f"{name} missing"))
            expect[name] = secure
        else:
            notes.append(spots.note(url, f"{name} missing"))
    for name in _EXTRA_HEADERS:
        if (found := headers.get(name.lower())) is not None:
            expect[name] = found
    return expect


def _hsts(
    raw: str | None, url: str, entry: dict[str, Any], spots: WeakSpots, notes: list[str]
) -> None:
    hsts = parse_hsts(raw)
    if hsts is None:
        notes.append(spots.note(url, "no Strict-Transport-Security"))
        if spots.as_is:
            entry["hsts"] = None
        return
    wanted: dict[str, Any] = {}
    if hsts.problems:
        notes.append(spots.note(url, f"Strict-Transport-Security: {'; '.join(hsts.problems)}"))
    if hsts.max_age is None or hsts.max_age < _HSTS_YEAR:
        notes.append(spots.note(url, f"HSTS max-age {hsts.max_age}, under a year"))
        if spots.as_is:
            wanted["min_max_age"] = hsts.max_age or 0
    elif hsts.max_age > _HSTS_YEAR:
        wanted["min_max_age"] = hsts.max_age
    if not hsts.include_subdomains:
        notes.append(spots.note(url, "HSTS without includeSubDomains"))
        if spots.as_is:
            wanted["include_subdomains"] = False
    if hsts.preload:
        wanted["preload"] = True
    if wanted:
        entry["hsts"] = wanted


def _csp(
    raw: str | None, url: str, entry: dict[str, Any], spots: WeakSpots, notes: list[str]
) -> None:
    if raw is None:
        notes.append(spots.note(url, "no Content-Security-Policy"))
        if spots.as_is:
            entry["csp"] = None
        return
    weak = csp_weaknesses(raw)
    if weak:
        notes.append(spots.note(url, f"Content-Security-Policy: {'; '.join(weak)}"))
        if spots.as_is:
            entry["csp"] = "present"


def _status_fields(body: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """`status`/`state` values of a health answer, nested ones as dotted paths (`checks.db.status`);
    versions and timings are left out, since they change with every release or request."""
    if not isinstance(body, dict) or depth > 2:
        return
    for key in sorted(body, key=str):
        value = body[key]
        path = f"{prefix}{key}"
        if key in _STATUS_KEYS and isinstance(value, str | bool | int) and "." not in str(key):
            yield path, value
        elif isinstance(value, dict) and "." not in str(key):
            yield from _status_fields(value, f"{path}.", depth + 1)


def _header_sites(observation: Observation) -> list[Site]:
    """The https URLs, or the http ones when there is no https at all."""
    https = [site for site in observation.sites if site.https]
    return https or [site for site in observation.sites if _serves(site.page)]


def _serves(answer: Answer) -> bool:
    return answer.response is not None and answer.response.status < 300


def _url_for(site: Site, base_origin: str) -> str:
    return path_of(site.url) if site.origin == base_origin else site.url


def _filtered(result: ScanResult) -> str:
    ports = sorted({f.port for f in result.by_state()[PortState.FILTERED]})
    return ", ".join(map(str, ports))


def _in_ranges(port: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(first <= port <= last for first, last in ranges)


def _range_text(span: tuple[int, int]) -> str:
    first, last = span
    return str(first) if first == last else f"{first}-{last}"


def _json(response: HttpResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
