"""The writer behind `gonogo snapshot`: what it writes reads back as the data it was given."""

from __future__ import annotations

import yaml

from gonogo._yaml_writer import WIDTH, Commented, Variable, plain, render

DOCUMENT = {
    "name": "shop",
    "on": "yes",  # YAML 1.1 would read both as booleans unquoted
    "defaults": {"headers": {"X-Api-Key": Variable("${SHOP_X_API_KEY}")}},
    "smoke": Commented(
        [
            {"name": "live", "request": {"url": "/live"}, "expect": {"status": 200}},
            Commented({"name": "ready", "expect": {"json": {"a.b": "ok"}}}, above=("FAILS NOW",)),
        ],
        above=("Health paths",),
    ),
    "headers": [{"expect": {"Content-Security-Policy": "script-src 'nonce-$x', 'self'"}}],
    "ports": [{"open": [443, 80], "closed": [], "nested": [[1, 2], [3]]}],
    "empty": {},
}


def test_reads_back_as_the_data() -> None:
    text = render(DOCUMENT, ["header"])
    assert yaml.safe_load(text) == plain(DOCUMENT)
    assert plain(DOCUMENT)["on"] == "yes"


def test_dollars_are_doubled_except_in_placeholders() -> None:
    text = render(DOCUMENT)
    assert "X-Api-Key: '${SHOP_X_API_KEY}'" in text
    assert "'nonce-$$x'" in text


def test_comments_sit_above_what_they_explain() -> None:
    lines = render(DOCUMENT).splitlines()
    assert lines[lines.index("smoke:") - 1] == "# Health paths"
    assert lines[lines.index("  - name: ready") - 1] == "  # FAILS NOW"


def test_short_values_on_one_line_long_ones_wrapped() -> None:
    text = render({"a": {"b": {"c": 1}}, "long": [Commented("x", above=("word " * 60,))]})
    assert "  b: {c: 1}" in text
    assert all(len(line) <= WIDTH for line in text.splitlines())
    assert text.count("# word") >= 3


def test_trailing_comment_and_no_flow_with_comments() -> None:
    text = render({"tls": [{"csp": Commented("present", after="weak")}]})
    assert "  - csp: present  # weak" in text
    assert yaml.safe_load(text) == {"tls": [{"csp": "present"}]}
