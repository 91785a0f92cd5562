"""Security header judgement: each rule passes a good value and names each bad one, as graded."""

from __future__ import annotations

from typing import get_args

import pytest

from gonogo.environment_edge import Grade
from gonogo.security_headers import (
    GRADES,
    SCORING,
    Cookie,
    Hsts,
    at_least,
    csp_weaknesses,
    frame_ancestors,
    grade,
    information_leaks,
    parse_hsts,
    parse_set_cookie,
)

NO_PLUGINS = "neither default-src nor object-src is set, so plugins load from anywhere"
NO_SCRIPTS = "neither default-src nor script-src is set, so any script runs, inline ones too"

# The source documents' header set.
DIGEST_HEADERS: dict[str, str] = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "x-xss-protection": "1; mode=block",
    "content-security-policy": "default-src 'self'",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def _with(**changes: str | None) -> dict[str, str]:
    """The digest's headers with some replaced (name_with_underscores=value) or dropped (None)."""
    headers = dict(DIGEST_HEADERS)
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            headers.pop(key)
        else:
            headers[key] = value
    return headers


def _points(headers: dict[str, str], header: str, cookies: tuple[str, ...] = ()) -> list[int]:
    return [item.points for item in grade(headers, cookies).items if item.header == header]


# --- Strict-Transport-Security -------------------------------------------------------------


def test_hsts_absent_parses_to_none() -> None:
    assert parse_hsts(None) is None


def test_hsts_with_every_directive_parses() -> None:
    assert parse_hsts("max-age=31536000; includeSubDomains; preload") == Hsts(
        max_age=31536000, include_subdomains=True, preload=True, problems=()
    )


def test_hsts_directive_names_ignore_case_and_spacing() -> None:
    assert parse_hsts("  MAX-AGE=10 ;INCLUDESUBDOMAINS;;") == Hsts(10, True, False, ())


@pytest.mark.parametrize("value", ['max-age="100"', 'max-age="1\\00"'])  # a quoted-pair too
def test_hsts_quoted_max_age_is_legal(value: str) -> None:
    assert parse_hsts(value) == Hsts(100, False, False, ())


def test_hsts_non_numeric_max_age_is_a_problem() -> None:
    hsts = parse_hsts("max-age=abc; includeSubDomains")
    assert hsts == Hsts(None, True, False, ("max-age 'abc' is not a whole number of seconds",))


@pytest.mark.parametrize("value", ["max-age=-1", "max-age=1.5", "max-age", 'max-age="1;2"'])
def test_hsts_max_age_must_be_digits(value: str) -> None:
    hsts = parse_hsts(value)
    assert hsts is not None
    assert hsts.max_age is None
    assert len(hsts.problems) == 1
    assert "is not a whole number of seconds" in hsts.problems[0]


def test_hsts_without_max_age_is_a_problem() -> None:
    assert parse_hsts("includeSubDomains") == Hsts(None, True, False, ("no max-age directive",))


def test_hsts_repeated_directive_is_a_problem() -> None:
    hsts = parse_hsts("max-age=600; Max-Age=31536000")
    assert hsts == Hsts(600, False, False, ("directive Max-Age given more than once",))


def test_hsts_flag_with_a_value_is_a_problem() -> None:
    hsts = parse_hsts("max-age=31536000; includeSubDomains=yes")
    assert hsts == Hsts(31536000, True, False, ("includeSubDomains takes no value",))


def test_hsts_sent_twice_is_read_from_the_first_and_reported() -> None:
    hsts = parse_hsts("max-age=300, max-age=31536000; preload")
    assert hsts == Hsts(300, False, False, ("sent 2 times; browsers obey only the first",))


def test_hsts_absurd_max_age_does_not_crash() -> None:
    hsts = parse_hsts("max-age=" + "9" * 5000)
    assert hsts is not None
    assert hsts.problems == ()
    assert hsts.max_age is not None
    assert hsts.max_age > 10**17


# --- Content-Security-Policy ---------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        "default-src 'self'",
        "default-src 'none'",
        "default-src 'none'; script-src 'self'",
        "script-src 'self'; object-src 'none'",
        "script-src 'nonce-r4nd0m' 'unsafe-inline'; object-src 'none'",
        "script-src 'sha256-abc=' 'unsafe-inline'; object-src 'none'",
        "script-src 'strict-dynamic' 'nonce-r4nd0m' 'unsafe-inline' https:; object-src 'none'",
        "default-src 'self'; img-src data: *; style-src 'unsafe-inline'",
        "script-src 'self'; script-src 'unsafe-inline'; object-src 'none'",  # first one counts
        "default-src 'self' https://*.example.com",
    ],
)
def test_strict_policy_has_no_weaknesses(policy: str) -> None:
    assert csp_weaknesses(policy) == []


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("default-src 'self' 'unsafe-inline'", ["default-src allows 'unsafe-inline'"]),
        ("default-src 'self' 'UNSAFE-INLINE'", ["default-src allows 'unsafe-inline'"]),
        ("script-src 'unsafe-inline'; object-src 'none'", ["script-src allows 'unsafe-inline'"]),
        ("default-src 'self'; script-src 'unsafe-eval'", ["script-src allows 'unsafe-eval'"]),
        (
            "script-src 'nonce-r4nd0m' 'unsafe-eval'; object-src 'none'",
            ["script-src allows 'unsafe-eval'"],
        ),
        ("default-src *", ["default-src allows *"]),
        ("default-src 'self'; script-src https:", ["script-src allows https:"]),
        ("default-src 'self'; script-src http:", ["script-src allows http:"]),
        ("default-src 'self'; script-src 'self' data:", ["script-src allows data:"]),
        ("default-src 'self'; object-src *", ["object-src allows *"]),
        ("default-src 'self'; object-src data:", ["object-src allows data:"]),
        ("default-src https://*", ["default-src allows https://*"]),
        ("default-src *; script-src 'self'; object-src 'none'", ["default-src allows *"]),
        ("script-src 'self'", [NO_PLUGINS]),
        ("object-src 'none'", [NO_SCRIPTS]),
        ("frame-ancestors 'none'", [NO_SCRIPTS, NO_PLUGINS]),
        ("", [NO_SCRIPTS, NO_PLUGINS]),
    ],
)
def test_weak_policy_names_directive_and_source(policy: str, expected: list[str]) -> None:
    assert csp_weaknesses(policy) == expected


def test_strict_dynamic_does_not_excuse_unsafe_eval() -> None:
    policy = "script-src 'strict-dynamic' 'nonce-r4nd0m' 'unsafe-eval'; object-src 'none'"
    assert csp_weaknesses(policy) == ["script-src allows 'unsafe-eval'"]


def test_weakness_closed_by_another_enforced_policy_is_not_reported() -> None:
    # Two Content-Security-Policy headers arrive joined by a comma; a script must pass both.
    assert csp_weaknesses("default-src *, script-src 'self'; object-src 'none'") == [
        "default-src allows *"
    ]
    assert csp_weaknesses("default-src 'unsafe-inline', default-src 'self'") == []


def test_weakness_in_every_enforced_policy_is_reported() -> None:
    policy = "script-src 'unsafe-inline'; object-src 'none', default-src 'unsafe-inline'"
    assert csp_weaknesses(policy) == ["script-src allows 'unsafe-inline'"]


def test_frame_ancestors_is_returned_when_set() -> None:
    policy = "default-src 'self'; frame-ancestors 'self' https://a.example"
    assert frame_ancestors(policy) == "'self' https://a.example"


def test_frame_ancestors_is_none_when_not_set() -> None:
    assert frame_ancestors("default-src 'self'") is None


def test_empty_frame_ancestors_is_an_answer() -> None:
    assert frame_ancestors("default-src 'self'; frame-ancestors") == ""


# --- Information leaks ---------------------------------------------------------------------


@pytest.mark.parametrize("server", ["nginx", "Apache", "cloudflare", "uvicorn"])
def test_server_without_version_is_no_leak(server: str) -> None:
    assert information_leaks({"server": server}) == []


@pytest.mark.parametrize(
    "server", ["nginx/1.22.1", "Apache/2.4.57 (Debian)", "Microsoft-IIS/10.0", "Jetty(9.4.44)"]
)
def test_server_with_version_is_a_leak(server: str) -> None:
    assert information_leaks({"server": server}) == [f"Server: {server} gives away the version"]


@pytest.mark.parametrize(
    ("key", "name", "value"),
    [
        ("x-powered-by", "X-Powered-By", "Express"),
        ("x-aspnet-version", "X-AspNet-Version", "4.0.30319"),
        ("x-aspnetmvc-version", "X-AspNetMvc-Version", "5.2"),
    ],
)
def test_platform_headers_are_leaks(key: str, name: str, value: str) -> None:
    assert information_leaks({key: value}) == [f"{name}: {value} gives away the platform"]


def test_leaks_are_found_whatever_the_key_case() -> None:
    assert information_leaks({"Server": "nginx/1.22.1", "X-Powered-By": "PHP/8.2.1"}) == [
        "Server: nginx/1.22.1 gives away the version",
        "X-Powered-By: PHP/8.2.1 gives away the platform",
    ]


def test_security_headers_alone_leak_nothing() -> None:
    assert information_leaks(DIGEST_HEADERS) == []


# --- Set-Cookie ----------------------------------------------------------------------------


def test_cookie_with_every_flag_parses() -> None:
    assert parse_set_cookie("sid=abc; Path=/; Secure; HttpOnly; SameSite=strict") == Cookie(
        name="sid",
        secure=True,
        http_only=True,
        same_site="Strict",
        path="/",
        domain=None,
        raw_attributes=("Path=/", "Secure", "HttpOnly", "SameSite=strict"),
    )


def test_cookie_expires_comma_stays_in_its_attribute() -> None:
    cookie = parse_set_cookie("id=a3fWa; Expires=Thu, 21 Oct 2026 07:28:00 GMT; Secure")
    assert cookie.name == "id"
    assert cookie.secure
    assert cookie.raw_attributes == ("Expires=Thu, 21 Oct 2026 07:28:00 GMT", "Secure")


def test_cookie_without_flags_has_none() -> None:
    cookie = parse_set_cookie("prefs=dark")
    assert (cookie.secure, cookie.http_only, cookie.same_site) == (False, False, None)
    assert (cookie.path, cookie.domain, cookie.raw_attributes) == (None, None, ())


@pytest.mark.parametrize(
    ("attribute", "same_site"),
    [("SameSite=LAX", "Lax"), ("samesite=none", "None"), ("SameSite=sideways", None)],
)
def test_cookie_same_site_is_normalised(attribute: str, same_site: str | None) -> None:
    assert parse_set_cookie(f"a=b; {attribute}").same_site == same_site


def test_cookie_domain_and_path_are_read_as_browsers_store_them() -> None:
    cookie = parse_set_cookie("a=b; Domain=.Example.COM; Domain=; Path=app")
    assert (cookie.domain, cookie.path) == ("example.com", None)


def test_cookie_without_equals_sign_has_no_name() -> None:
    assert parse_set_cookie("s3cr3t-token-value; Secure").name == ""


def test_cookie_value_is_never_kept() -> None:
    secret = "s3cr3t-session-value"
    cookie = parse_set_cookie(f"session={secret}; Secure; HttpOnly")
    assert secret not in repr(cookie)
    assert secret not in grade({}, [f"session={secret}"]).breakdown()


@pytest.mark.parametrize("name", ["sessionid", "PHPSESSID", "sid", "auth_token", "JWT-Token"])
def test_session_like_names_look_like_sessions(name: str) -> None:
    assert parse_set_cookie(f"{name}=x").looks_like_session


@pytest.mark.parametrize("name", ["prefs", "theme", "_ga", "lang"])
def test_other_names_do_not_look_like_sessions(name: str) -> None:
    assert not parse_set_cookie(f"{name}=x").looks_like_session


# --- Grade: anchors and arithmetic ---------------------------------------------------------


def test_digest_headers_grade_at_least_a() -> None:
    graded = grade(DIGEST_HEADERS)
    assert at_least(graded.letter, "A"), graded.breakdown()
    assert (graded.score, graded.letter) == (110, "A+")


def test_no_security_headers_grade_f_with_deductions_listed() -> None:
    graded = grade({})
    assert (graded.score, graded.letter) == (20, "F")
    assert [(item.header, item.points) for item in graded.items] == [
        ("Content-Security-Policy", -25),
        ("Strict-Transport-Security", -20),
        ("X-Content-Type-Options", -5),
        ("X-XSS-Protection", -10),
        ("X-Frame-Options", -20),
    ]
    assert graded.breakdown() == (
        "100 -25 no Content-Security-Policy -20 no Strict-Transport-Security "
        "-5 no X-Content-Type-Options -10 no X-XSS-Protection, and no strict CSP "
        "-20 no X-Frame-Options and no CSP frame-ancestors = 20 (F)"
    )


def test_bonuses_do_not_apply_below_90() -> None:
    graded = grade(_with(strict_transport_security=None))  # 80 before the CSP/referrer bonuses
    assert all(item.points < 0 for item in graded.items), graded.breakdown()
    assert (graded.score, graded.letter) == (80, "B+")


def test_bonuses_apply_at_exactly_90() -> None:
    graded = grade(_with(strict_transport_security="max-age=300"))
    assert [item.points for item in graded.items] == [5, -10, 5]
    assert graded.score == 100


def test_score_is_clamped_at_zero() -> None:
    cookies = ("sid=1", "token=2")
    graded = grade({"server": "nginx/1.22.1", "referrer-policy": "unsafe-url"}, cookies)
    assert (graded.score, graded.letter) == (0, "F")
    assert graded.breakdown().endswith("= -40, clamped to 0 (F)")


def test_capitalised_header_names_are_read() -> None:
    capitalised = {name.title(): value for name, value in DIGEST_HEADERS.items()}
    assert grade(capitalised) == grade(DIGEST_HEADERS)


SHORT_HSTS = "max-age=300"  # -10
LEAKY_SERVER = "nginx/1.22.1"  # -5


@pytest.mark.parametrize(
    ("changes", "score", "letter"),
    [
        ({"referrer_policy": "unsafe-url"}, 100, "A+"),  # 95: bonuses still apply
        ({"strict_transport_security": SHORT_HSTS, "referrer_policy": "origin"}, 95, "A"),
        ({"strict_transport_security": SHORT_HSTS, "x_content_type_options": None}, 85, "A-"),
        ({"strict_transport_security": None}, 80, "B+"),
        ({"x_frame_options": None, "x_content_type_options": None}, 75, "B"),
        ({"content_security_policy": None, "strict_transport_security": SHORT_HSTS}, 65, "B-"),
        ({"strict_transport_security": None, "x_frame_options": None}, 60, "C+"),
        ({"content_security_policy": None, "strict_transport_security": None}, 55, "C"),
        (
            {
                "content_security_policy": None,
                "strict_transport_security": None,
                "x_content_type_options": None,
                "referrer_policy": "unsafe-url",
            },
            45,
            "C-",
        ),
        (
            {
                "content_security_policy": None,
                "strict_transport_security": None,
                "x_content_type_options": None,
                "referrer_policy": "unsafe-url",
                "server": LEAKY_SERVER,
            },
            40,
            "D+",
        ),
        (
            {
                "content_security_policy": None,
                "strict_transport_security": None,
                "x_frame_options": None,
            },
            35,
            "D",
        ),
        (
            {
                "content_security_policy": None,
                "strict_transport_security": None,
                "x_frame_options": None,
                "x_content_type_options": None,
                "referrer_policy": "unsafe-url",
            },
            25,
            "D-",
        ),
    ],
)
def test_score_maps_to_letter(changes: dict[str, str | None], score: int, letter: str) -> None:
    graded = grade(_with(**changes))
    assert (graded.score, graded.letter) == (score, letter), graded.breakdown()


def test_scoring_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        SCORING["csp-missing"] = 0  # type: ignore[index]


# --- Grade: each rule, both ways -----------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "points", "reason"),
    [
        (
            "default-src 'self' 'unsafe-inline' 'unsafe-eval'",
            -20,
            "Content-Security-Policy: default-src allows 'unsafe-inline'; "
            "default-src allows 'unsafe-eval'",
        ),
        (
            "default-src 'self' 'unsafe-eval'",
            -10,
            "Content-Security-Policy: default-src allows 'unsafe-eval'",
        ),
        ("default-src https:", -10, "Content-Security-Policy: default-src allows https:"),
        ("frame-ancestors 'none'", -20, f"Content-Security-Policy: {NO_SCRIPTS}; {NO_PLUGINS}"),
    ],
)
def test_weak_csp_costs_its_worst_finding_once(policy: str, points: int, reason: str) -> None:
    graded = grade({"content-security-policy": policy})
    csp = [item for item in graded.items if item.reason.startswith("Content-Security-Policy:")]
    assert [(item.points, item.reason) for item in csp] == [(points, reason)]


def test_weak_csp_never_costs_more_than_none() -> None:
    weakest = "script-src 'unsafe-inline' 'unsafe-eval' *; object-src *"
    assert _points({"content-security-policy": weakest}, "Content-Security-Policy")[0] > -25


def test_missing_csp_costs_25() -> None:
    assert _points(_with(content_security_policy=None), "Content-Security-Policy") == [-25]


def test_strict_csp_earns_bonus() -> None:
    headers = _with(content_security_policy="default-src 'none'")
    assert _points(headers, "Content-Security-Policy") == [5]
    assert _points(DIGEST_HEADERS, "Content-Security-Policy") == [5]


@pytest.mark.parametrize(
    ("value", "points"),
    [
        (None, [-20]),
        ("max-age=abc", [-20]),
        ("max-age=0", [-20]),
        ("max-age=15551999", [-10]),
        ("max-age=15552000", []),
        ("max-age=31536000; includeSubDomains", []),
        ("max-age=31536000; preload", []),
        ("max-age=31535999; includeSubDomains; preload", []),
        ("max-age=31536000; includeSubDomains; preload", [5]),
    ],
)
def test_hsts_is_graded(value: str | None, points: list[int]) -> None:
    headers = _with(strict_transport_security=value)
    assert _points(headers, "Strict-Transport-Security") == points


def test_invalid_hsts_names_its_problem() -> None:
    graded = grade(_with(strict_transport_security="max-age=abc"))
    assert "Strict-Transport-Security invalid: max-age 'abc' is not a whole number of seconds" in (
        graded.breakdown()
    )


@pytest.mark.parametrize(
    ("value", "points"),
    [("nosniff", []), ("NoSniff", []), ("nosniff, nosniff", []), (None, [-5]), ("sniff", [-5])],
)
def test_content_type_options_is_graded(value: str | None, points: list[int]) -> None:
    assert _points(_with(x_content_type_options=value), "X-Content-Type-Options") == points


@pytest.mark.parametrize(
    ("value", "policy", "points"),
    [
        ("1; mode=block", "default-src *", []),
        ("1", "default-src *", []),
        (None, "default-src 'self'", []),
        ("0", "default-src 'self'", []),
        (None, "default-src *", [-10]),
        ("0", "default-src 'self' 'unsafe-inline'", [-10]),
        ("yes", "default-src 'self'", [-10]),
    ],
)
def test_xss_protection_is_graded(value: str | None, policy: str, points: list[int]) -> None:
    headers = _with(x_xss_protection=value, content_security_policy=policy)
    assert _points(headers, "X-XSS-Protection") == points


@pytest.mark.parametrize(
    ("value", "points"),
    [
        ("DENY", []),
        ("sameorigin", []),
        ("DENY, SAMEORIGIN", []),  # conflicting values block framing altogether
        (None, [-20]),
        ("ALLOW-FROM https://a.example", [-20]),
        ("", [-20]),
    ],
)
def test_frame_options_is_graded(value: str | None, points: list[int]) -> None:
    assert _points(_with(x_frame_options=value), "X-Frame-Options") == points


def test_invalid_frame_options_is_named() -> None:
    graded = grade(_with(x_frame_options="ALLOW-FROM https://a.example"))
    assert (
        "X-Frame-Options 'ALLOW-FROM https://a.example' is neither DENY nor SAMEORIGIN"
        in graded.breakdown()
    )


@pytest.mark.parametrize(
    ("ancestors", "points"), [("'none'", [5]), ("'self'", [5]), ("", [5]), ("*", [])]
)
def test_frame_ancestors_replaces_frame_options(ancestors: str, points: list[int]) -> None:
    headers = _with(
        content_security_policy=f"default-src 'self'; frame-ancestors {ancestors}",
        x_frame_options=None,
    )
    graded = grade(headers)
    assert _points(headers, "X-Frame-Options") == []
    framing = [item.points for item in graded.items if "frame-ancestors" in item.reason]
    assert framing == points, graded.breakdown()


@pytest.mark.parametrize(
    ("value", "points"),
    [
        ("unsafe-url", [-5]),
        ("no-referrer-when-downgrade", [-5]),
        ("no-referrer", [5]),
        ("same-origin", [5]),
        ("strict-origin", [5]),
        ("Strict-Origin-When-Cross-Origin", [5]),
        ("origin", []),
        ("origin-when-cross-origin", []),
        (None, []),
        ("bogus", []),
        ("no-referrer, unsafe-url", [-5]),  # the last known policy wins
        ("unsafe-url, strict-origin, brand-new-policy", [5]),
    ],
)
def test_referrer_policy_is_graded(value: str | None, points: list[int]) -> None:
    assert _points(_with(referrer_policy=value), "Referrer-Policy") == points


def test_well_flagged_cookies_earn_bonus() -> None:
    cookies = ("sid=1; Secure; HttpOnly; SameSite=Lax", "prefs=dark; Secure; SameSite=Strict")
    assert _points(DIGEST_HEADERS, "Set-Cookie", cookies) == [5]


def test_no_cookies_earn_nothing() -> None:
    assert _points(DIGEST_HEADERS, "Set-Cookie") == []


def test_cookie_without_same_site_or_with_none_earns_no_bonus() -> None:
    cookies = ("sid=1; Secure; HttpOnly; SameSite=None", "prefs=dark; Secure")
    assert _points(DIGEST_HEADERS, "Set-Cookie", cookies) == []


def test_cookie_without_secure_costs_20_once() -> None:
    cookies = ("prefs=dark; SameSite=Lax", "theme=1", "sid=1; Secure; HttpOnly")
    graded = grade(DIGEST_HEADERS, cookies)
    items = [item for item in graded.items if item.header == "Set-Cookie"]
    assert [(item.points, item.reason) for item in items] == [
        (-20, "cookies without Secure: prefs, theme")
    ]


def test_session_cookie_without_http_only_costs_30() -> None:
    cookies = ("SESSIONID=1; Secure; SameSite=Lax", "prefs=dark; Secure; SameSite=Lax")
    graded = grade(DIGEST_HEADERS, cookies)
    items = [item for item in graded.items if item.header == "Set-Cookie"]
    assert [(item.points, item.reason) for item in items] == [
        (-30, "session cookies without HttpOnly: SESSIONID")
    ]


def test_session_cookie_without_either_flag_costs_both() -> None:
    assert _points(DIGEST_HEADERS, "Set-Cookie", ("auth=1",)) == [-20, -30]


def test_information_leaks_cost_5_once() -> None:
    headers = _with(server="nginx/1.22.1", x_powered_by="PHP/8.2.1")
    graded = grade(headers)
    leaks = [item for item in graded.items if item.points == -5]
    assert [(item.header, item.reason) for item in leaks] == [
        ("Server, X-Powered-By", "Server: nginx/1.22.1; X-Powered-By: PHP/8.2.1")
    ]


def test_server_without_version_costs_nothing() -> None:
    assert grade(_with(server="nginx")) == grade(DIGEST_HEADERS)


# --- Letters -------------------------------------------------------------------------------


def test_grades_run_from_best_to_worst() -> None:
    assert GRADES == ("A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F")


@pytest.mark.parametrize(
    ("letter", "minimum", "expected"),
    [("B", "A", False), ("A+", "B", True), ("B", "B", True), ("F", "D-", False)],
)
def test_at_least_compares_letters(letter: str, minimum: str, expected: bool) -> None:
    assert at_least(letter, minimum) is expected


@pytest.mark.parametrize(("letter", "minimum"), [("E", "B"), ("A", "a+")])
def test_at_least_rejects_unknown_letters(letter: str, minimum: str) -> None:
    with pytest.raises(ValueError, match=r"unknown grade '(E|a\+)'; expected one of A\+, A, A-"):
        at_least(letter, minimum)


def test_the_schema_knows_the_same_grades() -> None:
    assert get_args(Grade) == GRADES
