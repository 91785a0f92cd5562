"""Security headers of one HTTPS response, judged and graded as Mozilla's HTTP Observatory does.

Pure judgement: no network and no pytest, so a check can ask about any response a probe fetched.
Headers come as `gonogo.probes.http.HttpResponse` holds them: lower-cased names, repeated fields
joined with ", ", and each Set-Cookie apart, since an Expires date has a comma of its own. Where
a browser and a spec disagree with a literal reading of a header, this follows the browser.
Cookie values are never kept: a session cookie's value is a credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "GRADES",
    "SCORING",
    "Cookie",
    "Deduction",
    "Grade",
    "Hsts",
    "at_least",
    "csp_weaknesses",
    "frame_ancestors",
    "grade",
    "information_leaks",
    "parse_hsts",
    "parse_set_cookie",
]

# Points per outcome, after the Observatory's published table: negative is a deduction, positive
# a bonus, and bonuses count only when the deductions leave a score of 90 or more. Each header
# earns one outcome, its worst, so a weak policy never scores below a missing one; cookies are
# the exception, as a missing Secure and a missing HttpOnly are two separate ways to lose them.
SCORING: Mapping[str, int] = MappingProxyType(
    {
        "csp-missing": -25,
        # also a policy with neither script-src nor default-src: inline script runs there too
        "csp-unsafe-inline": -20,
        "csp-unsafe-eval": -10,
        "csp-weak-source": -10,  # *, http:, https: (and data: where scripts or plugins load)
        "csp-strict": 5,  # no finding from csp_weaknesses
        "hsts-missing": -20,
        "hsts-invalid": -20,  # browsers ignore it, so it is as good as missing
        "hsts-disabled": -20,  # max-age=0 tells browsers to forget HSTS
        "hsts-short": -10,  # max-age under 15552000 s (6 months)
        "hsts-preload": 5,  # preload, includeSubDomains and max-age of a year or more
        "xcto-not-nosniff": -5,
        # Missing, "0" or unreadable, as in the Observatory's first version: browsers have since
        # dropped the filter, so a strict CSP (no CSP finding) excuses a missing or "0" one.
        "xss-protection-off": -10,
        "xfo-missing": -20,  # missing or invalid, and no CSP frame-ancestors either
        "xfo-via-frame-ancestors": 5,  # frame-ancestors set, and not to any origin
        "referrer-unsafe": -5,  # unsafe-url, no-referrer-when-downgrade
        "referrer-private": 5,  # no-referrer, same-origin, strict-origin[-when-cross-origin]
        "cookie-not-secure": -20,
        "cookie-session-not-httponly": -30,
        "cookie-samesite": 5,  # every cookie SameSite=Strict or Lax; None protects nothing
        "information-leak": -5,  # once, however many headers leak
    }
)
_START, _BONUS_FLOOR = 100, 90
# The Observatory's range: never below 0, and 135 is the most its bonuses can reach. Ours reach
# 125; the ceiling is there so that a bonus added to SCORING cannot push past the chart.
_MIN_SCORE, _MAX_SCORE = 0, 135
_LETTERS = (
    (100, "A+"),
    (90, "A"),
    (85, "A-"),
    (80, "B+"),
    (70, "B"),
    (65, "B-"),
    (60, "C+"),
    (50, "C"),
    (45, "C-"),
    (40, "D+"),
    (30, "D"),
    (25, "D-"),
    (_MIN_SCORE, "F"),
)
GRADES: tuple[str, ...] = tuple(letter for _, letter in _LETTERS)

_SIX_MONTHS, _ONE_YEAR = 15_552_000, 31_536_000
_HSTS_FLAGS = {"includesubdomains": "includeSubDomains", "preload": "preload"}
# Browsers clamp absurd max-ages; int() would refuse one thousands of digits long.
_HSTS_DIGITS = 18
_ASCII_SPACE = re.compile(r"[\t\n\f\r ]+")
# CSP3: with a nonce or a hash in the list, browsers ignore 'unsafe-inline' (old browsers obey
# it instead, which is why it is sent alongside); 'strict-dynamic' also ignores hosts and schemes.
_INLINE_NEUTRALISERS = ("'nonce-", "'sha256-", "'sha384-", "'sha512-", "'strict-dynamic'")
_ANY_HOST_SCHEMES = frozenset({"http:", "https:"})
_CONTENT = (  # what a policy restricts: (content, its own directive, whether data: can run code)
    ("script", "script-src", True),
    ("object", "object-src", True),
    ("other", "default-src", False),
)
_REFERRER_POLICIES = frozenset(
    {
        "no-referrer",
        "no-referrer-when-downgrade",
        "same-origin",
        "origin",
        "strict-origin",
        "origin-when-cross-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
    }
)
_UNSAFE_REFERRER = frozenset({"unsafe-url", "no-referrer-when-downgrade"})
_PRIVATE_REFERRER = frozenset(
    {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
)
_SAME_SITE = {"strict": "Strict", "lax": "Lax", "none": "None"}
_SESSION_NAME = re.compile("sess|sid|token|auth", re.IGNORECASE)  # sess covers session
# "nginx" is fine, "nginx/1.22.1", "Apache/2.4.57 (Debian)" or "Jetty(9.4.44)" name a version.
_VERSIONED = re.compile(r"/\s*v?\d|\d+\.\d+")
_PLATFORM_HEADERS = {
    "x-powered-by": "X-Powered-By",
    "x-aspnet-version": "X-AspNet-Version",
    "x-aspnetmvc-version": "X-AspNetMvc-Version",
}


@dataclass(frozen=True)
class Hsts:
    """One Strict-Transport-Security header as RFC 6797 reads it.

    `problems` are what the RFC finds wrong: most make browsers ignore the header, a repeated
    header has them obey only its first field. The other fields describe that first field
    whatever the problems, so a message can quote what was asked for.
    """

    max_age: int | None
    include_subdomains: bool
    preload: bool
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Cookie:
    """What one Set-Cookie asks of the browser, the value left out because it may be a secret."""

    name: str  # empty when the header has no "=": browsers then take it all as the value
    secure: bool
    http_only: bool
    same_site: str | None  # Strict, Lax or None; None (no value) when absent or unknown
    path: str | None  # None when absent, or when browsers ignore it for not starting with "/"
    domain: str | None  # lower-cased, leading dot dropped, as browsers store it
    raw_attributes: tuple[str, ...]  # everything after the name=value pair, as sent

    @property
    def looks_like_session(self) -> bool:
        """Whether the name suggests a login: such a cookie is what an XSS steals."""
        return bool(_SESSION_NAME.search(self.name))


@dataclass(frozen=True)
class Deduction:
    """One outcome in a grade: negative points for a deduction, positive for a bonus."""

    header: str
    points: int
    reason: str


@dataclass(frozen=True)
class Grade:
    """An Observatory-style score and letter, with the outcomes that make it up."""

    score: int
    letter: str
    items: tuple[Deduction, ...]

    def breakdown(self) -> str:
        """The arithmetic on one line, so a failing check shows how the grade came about."""
        total = _START + sum(item.points for item in self.items)
        result = str(total) if total == self.score else f"{total}, clamped to {self.score}"
        steps = [f"{item.points:+d} {item.reason}" for item in self.items]
        return " ".join([str(_START), *steps, f"= {result} ({self.letter})"])


def parse_hsts(value: str | None) -> Hsts | None:
    """A Strict-Transport-Security value read as RFC 6797 says; None when it was not sent.

    Only the first header field counts, as the RFC has browsers do; sending more is reported.
    """
    if value is None:
        return None
    fields = [field for field in _split_unquoted(value, ",") if field.strip()] or [""]
    problems = [f"sent {len(fields)} times; browsers obey only the first"] if fields[1:] else []
    directives: dict[str, str | None] = {}
    for directive in _split_unquoted(fields[0], ";"):
        if not directive.strip():
            continue
        name, equals, raw = (part.strip() for part in directive.partition("="))
        if name.lower() in directives:
            problems.append(f"directive {name} given more than once")
        else:
            directives[name.lower()] = _unquoted(raw) if equals else None
    max_age = None
    if "max-age" not in directives:
        problems.append("no max-age directive")
    elif not re.fullmatch("[0-9]+", seconds := directives["max-age"] or ""):
        problems.append(f"max-age {seconds!r} is not a whole number of seconds")
    else:
        digits = seconds.lstrip("0") or "0"
        max_age = int(digits) if len(digits) <= _HSTS_DIGITS else 10**_HSTS_DIGITS
    problems.extend(
        f"{spelling} takes no value"
        for key, spelling in _HSTS_FLAGS.items()
        if directives.get(key) is not None
    )
    return Hsts(
        max_age=max_age,
        include_subdomains="includesubdomains" in directives,
        preload="preload" in directives,
        problems=tuple(problems),
    )


def csp_weaknesses(value: str) -> list[str]:
    """Where a Content-Security-Policy still lets an attacker's script or plugin run.

    CSP3 semantics: a nonce, a hash or 'strict-dynamic' neutralises 'unsafe-inline', and
    'strict-dynamic' also host and scheme sources. Policies joined by commas are all enforced,
    so a weakness counts only when every policy restricting that content has it. Empty: strict.
    """
    return [finding.message for finding in _csp_findings(value)]


def frame_ancestors(value: str) -> str | None:
    """The frame-ancestors sources of a Content-Security-Policy; None when it sets none.

    An empty string is an answer, not an absence: it allows no framing at all, like 'none'.
    """
    sources = _frame_ancestors(value)
    return None if sources is None else " ".join(sources)


def information_leaks(headers: Mapping[str, str]) -> list[str]:
    """Headers that tell an attacker which software, and which version, to look up exploits for."""
    return [f"{name}: {value} {what}" for name, value, what in _leaks(_lowered(headers))]


def parse_set_cookie(value: str) -> Cookie:
    """One raw Set-Cookie value as browsers read it (RFC 6265bis: the last of an attribute wins)."""
    pair, _, attributes = value.partition(";")
    raw = tuple(attribute.strip() for attribute in attributes.split(";") if attribute.strip())
    found: dict[str, str] = {}
    for attribute in raw:
        key, _, attribute_value = (part.strip() for part in attribute.partition("="))
        if key.lower() != "domain" or attribute_value:  # browsers skip an empty Domain
            found[key.lower()] = attribute_value
    path = found.get("path", "")
    return Cookie(
        name=pair.partition("=")[0].strip() if "=" in pair else "",
        secure="secure" in found,
        http_only="httponly" in found,
        same_site=_SAME_SITE.get(found.get("samesite", "").lower()),
        path=path if path.startswith("/") else None,
        domain=found.get("domain", "").removeprefix(".").lower() or None,
        raw_attributes=raw,
    )


def grade(headers: Mapping[str, str], set_cookies: Sequence[str] = ()) -> Grade:
    """Score one HTTPS response from 100 by SCORING, then the letter for that score.

    Bonuses count only when the deductions leave 90 or more, so they cannot hide a flaw.
    `set_cookies` holds each Set-Cookie value apart; a "set-cookie" entry in `headers` is not
    read, since joined values cannot be told apart. The score is clamped to 0..135.
    """
    headers = _lowered(headers)
    outcomes = [
        *_csp_outcomes(headers),
        *_hsts_outcomes(headers),
        *_content_type_outcomes(headers),
        *_xss_protection_outcomes(headers),
        *_framing_outcomes(headers),
        *_referrer_outcomes(headers),
        *_cookie_outcomes([parse_set_cookie(cookie) for cookie in set_cookies]),
        *_leak_outcomes(headers),
    ]
    earns_bonus = _START + sum(o.points for o in outcomes if o.points < 0) >= _BONUS_FLOOR
    items = tuple(o for o in outcomes if o.points < 0 or earns_bonus)
    score = min(_MAX_SCORE, max(_MIN_SCORE, _START + sum(item.points for item in items)))
    return Grade(score=score, letter=_letter(score), items=items)


def at_least(letter: str, minimum: str) -> bool:
    """Whether `letter` is as good as `minimum` or better, for thresholds like "B or above"."""
    for name in (letter, minimum):
        if name not in GRADES:
            raise ValueError(f"unknown grade {name!r}; expected one of {', '.join(GRADES)}")
    return GRADES.index(letter) <= GRADES.index(minimum)


@dataclass(frozen=True)
class _Finding:
    outcome: str  # a SCORING key
    message: str


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    # HttpResponse lower-cases already; a hand-written mapping might not, and a missed header
    # would pass a check it should fail.
    return {name.lower(): value for name, value in headers.items()}


def _split_unquoted(text: str, separator: str) -> list[str]:
    """Split where the separator is outside an RFC 9110 quoted-string; inside, it is text."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _policies(value: str) -> Iterator[dict[str, list[str]]]:
    """CSP3 parsing: a comma starts another policy; of a repeated directive, the first counts."""
    for serialized in value.split(","):
        policy: dict[str, list[str]] = {}
        for directive in serialized.split(";"):
            if tokens := [token for token in _ASCII_SPACE.split(directive) if token]:
                policy.setdefault(tokens[0].lower(), tokens[1:])
        yield policy


def _any_host(source: str, *, data_runs: bool) -> bool:
    """Whether a lower-cased source expression admits every host: *, https:, https://*..."""
    if source in _ANY_HOST_SCHEMES or (data_runs and source == "data:"):
        return True
    return re.split("[:/]", source.rpartition("://")[2], maxsplit=1)[0] == "*"


def _policy_findings(policy: dict[str, list[str]]) -> dict[str, dict[str, _Finding]]:
    """Per content the policy restricts, its weaknesses keyed by what they allow."""
    found: dict[str, dict[str, _Finding]] = {}
    for content, own, data_runs in _CONTENT:
        directive = own if own in policy else "default-src"
        if directive not in policy:
            continue
        sources = {source.lower(): source for source in policy[directive]}
        weak: dict[str, _Finding] = {}
        scripts = content == "script"
        if scripts and "'unsafe-inline'" in sources and not _inline_neutralised(sources):
            weak["'unsafe-inline'"] = _Finding(
                "csp-unsafe-inline", f"{directive} allows 'unsafe-inline'"
            )
        if scripts and "'unsafe-eval'" in sources:
            weak["'unsafe-eval'"] = _Finding("csp-unsafe-eval", f"{directive} allows 'unsafe-eval'")
        if not (scripts and "'strict-dynamic'" in sources):
            weak.update(
                (source, _Finding("csp-weak-source", f"{directive} allows {spelled}"))
                for source, spelled in sources.items()
                if _any_host(source, data_runs=data_runs)
            )
        found[content] = weak
    return found


def _inline_neutralised(sources: Iterable[str]) -> bool:
    return any(source.startswith(_INLINE_NEUTRALISERS) for source in sources)


def _csp_findings(value: str) -> list[_Finding]:
    policies = [_policy_findings(policy) for policy in _policies(value)]
    unrestricted = {
        "script": _Finding(
            "csp-unsafe-inline",
            "neither default-src nor script-src is set, so any script runs, inline ones too",
        ),
        "object": _Finding(
            "csp-weak-source",
            "neither default-src nor object-src is set, so plugins load from anywhere",
        ),
    }
    found: dict[str, _Finding] = {}  # by message: default-src may speak for several contents
    for content, _, _ in _CONTENT:
        restricting = [policy[content] for policy in policies if content in policy]
        if not restricting:
            if content in unrestricted:
                found.setdefault(unrestricted[content].message, unrestricted[content])
            continue
        for key, finding in restricting[0].items():
            if all(key in weak for weak in restricting[1:]):
                found.setdefault(finding.message, finding)
    return list(found.values())


def _frame_ancestors(value: str) -> list[str] | None:
    return next((p["frame-ancestors"] for p in _policies(value) if "frame-ancestors" in p), None)


def _leaks(headers: Mapping[str, str]) -> Iterator[tuple[str, str, str]]:
    server = headers.get("server")
    if server is not None and _VERSIONED.search(server):
        yield "Server", server, "gives away the version"
    for key, name in _PLATFORM_HEADERS.items():
        if key in headers:
            yield name, headers[key], "gives away the platform"


def _outcome(key: str, header: str, reason: str) -> Deduction:
    return Deduction(header=header, points=SCORING[key], reason=reason)


def _csp_outcomes(headers: Mapping[str, str]) -> list[Deduction]:
    header = "Content-Security-Policy"
    value = headers.get("content-security-policy")
    if value is None:
        return [_outcome("csp-missing", header, f"no {header}")]
    findings = _csp_findings(value)
    if not findings:
        return [_outcome("csp-strict", header, f"{header} restricts scripts and plugins")]
    worst = min(findings, key=lambda finding: SCORING[finding.outcome])
    reason = f"{header}: {'; '.join(finding.message for finding in findings)}"
    return [_outcome(worst.outcome, header, reason)]


def _hsts_outcomes(headers: Mapping[str, str]) -> list[Deduction]:
    header = "Strict-Transport-Security"
    hsts = parse_hsts(headers.get("strict-transport-security"))
    if hsts is None:
        return [_outcome("hsts-missing", header, f"no {header}")]
    if hsts.problems or hsts.max_age is None:
        return [_outcome("hsts-invalid", header, f"{header} invalid: {'; '.join(hsts.problems)}")]
    if hsts.max_age == 0:
        return [_outcome("hsts-disabled", header, f"{header} max-age=0 switches HSTS off")]
    if hsts.max_age < _SIX_MONTHS:
        reason = f"{header} max-age={hsts.max_age} is under 6 months ({_SIX_MONTHS})"
        return [_outcome("hsts-short", header, reason)]
    if hsts.preload and hsts.include_subdomains and hsts.max_age >= _ONE_YEAR:
        return [_outcome("hsts-preload", header, f"{header} is ready for preloading")]
    return []


def _content_type_outcomes(headers: Mapping[str, str]) -> list[Deduction]:
    header = "X-Content-Type-Options"
    value = headers.get("x-content-type-options")
    if value is None:
        return [_outcome("xcto-not-nosniff", header, f"no {header}")]
    # Fetch reads only the first of repeated values.
    if value.split(",")[0].strip().lower() != "nosniff":
        return [_outcome("xcto-not-nosniff", header, f"{header} {value!r} is not nosniff")]
    return []


def _xss_protection_outcomes(headers: Mapping[str, str]) -> list[Deduction]:
    header = "X-XSS-Protection"
    value = headers.get("x-xss-protection")
    switch = "" if value is None else value.split(";")[0].strip()
    if switch == "1":
        return []
    if switch not in ("", "0"):
        return [_outcome("xss-protection-off", header, f"{header} {value!r} is not 0 or 1")]
    if not _csp_findings(headers.get("content-security-policy", "")):
        return []  # a strict CSP stops what the filter would have
    reason = f"{header} {value!r} switches the filter off" if switch == "0" else f"no {header}"
    return [_outcome("xss-protection-off", header, f"{reason}, and no strict CSP")]


def _framing_outcomes(headers: Mapping[str, str]) -> list[Deduction]:
    header = "X-Frame-Options"
    ancestors = _frame_ancestors(headers.get("content-security-policy", ""))
    if ancestors is not None:  # browsers then ignore X-Frame-Options, so it is not judged
        if any(_any_host(source.lower(), data_runs=False) for source in ancestors):
            return []
        reason = f"CSP frame-ancestors {' '.join(ancestors) or '(empty)'} controls framing"
        return [_outcome("xfo-via-frame-ancestors", "Content-Security-Policy", reason)]
    value = headers.get("x-frame-options")
    if value is None:
        return [_outcome("xfo-missing", header, f"no {header} and no CSP frame-ancestors")]
    # The HTML standard: several different values block framing, one unknown value allows it.
    options = {option.strip().lower() for option in value.split(",")}
    if len(options) > 1:
        protects = bool(options & {"deny", "sameorigin", "allowall"})
    else:
        protects = options <= {"deny", "sameorigin"}
    if protects:
        return []
    reason = f"{header} {value!r} is neither DENY nor SAMEORIGIN, so browsers allow framing"
    return [_outcome("xfo-missing", header, reason)]


def _referrer_outcomes(headers: Mapping[str, str]) -> list[Deduction]:
    header = "Referrer-Policy"
    # Browsers take the last policy they know, so a new one can be sent after a fallback.
    known = [
        token.strip().lower()
        for token in headers.get("referrer-policy", "").split(",")
        if token.strip().lower() in _REFERRER_POLICIES
    ]
    if not known:
        return []
    if known[-1] in _UNSAFE_REFERRER:
        reason = f"{header} {known[-1]} sends full URLs to other sites"
        return [_outcome("referrer-unsafe", header, reason)]
    if known[-1] in _PRIVATE_REFERRER:
        reason = f"{header} {known[-1]} keeps paths from other sites"
        return [_outcome("referrer-private", header, reason)]
    return []


def _cookie_outcomes(cookies: Sequence[Cookie]) -> list[Deduction]:
    header = "Set-Cookie"
    outcomes = []
    if insecure := [_label(cookie) for cookie in cookies if not cookie.secure]:
        reason = f"cookies without Secure: {', '.join(insecure)}"
        outcomes.append(_outcome("cookie-not-secure", header, reason))
    if exposed := [_label(c) for c in cookies if c.looks_like_session and not c.http_only]:
        reason = f"session cookies without HttpOnly: {', '.join(exposed)}"
        outcomes.append(_outcome("cookie-session-not-httponly", header, reason))
    if cookies and all(cookie.same_site in ("Strict", "Lax") for cookie in cookies):
        reason = "every cookie is SameSite=Strict or Lax"
        outcomes.append(_outcome("cookie-samesite", header, reason))
    return outcomes


def _label(cookie: Cookie) -> str:
    return cookie.name or "(nameless)"


def _leak_outcomes(headers: Mapping[str, str]) -> list[Deduction]:
    leaks = list(_leaks(headers))
    if not leaks:
        return []
    reason = "; ".join(f"{name}: {value}" for name, value, _ in leaks)
    return [_outcome("information-leak", ", ".join(name for name, _, _ in leaks), reason)]


def _letter(score: int) -> str:
    return next(letter for floor, letter in _LETTERS if score >= floor)
