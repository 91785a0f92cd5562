"""Building blocks of the gate report, all through `Markup`, so that text from a record (findings,
ids, command output: user data) is escaped by construction rather than by remembering to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from markupsafe import Markup, escape

__all__ = [
    "Markup",
    "badge",
    "clip",
    "days_left",
    "el",
    "first_line",
    "get_list",
    "join",
    "moment",
    "ms",
    "parse_time",
    "percent",
    "seconds",
    "split_id",
    "table",
    "tone_of",
]

_VOID = frozenset({"col", "meta"})  # elements without content or end tag
# Outcomes and statuses to the CSS class that colours them; anything else is shown neutral.
_TONES = {
    "passed": "ok",
    "success": "ok",
    "GO": "ok",
    "failed": "bad",
    "failure": "bad",
    "fired": "bad",
    "NO-GO": "warn",
    "error": "err",
    "errored": "err",
    "ROLLBACK": "err",
    "xpassed": "warn",
    "critical": "bad",
    "major": "warn",
}


def el(tag: str, *children: object, **attrs: object) -> Markup:
    """`<tag attrs>children</tag>`; `class_` stands for `class`, `font_size` for `font-size`,
    and a None attribute is left out."""
    rendered = join(
        Markup(' {}="{}"').format(name.rstrip("_").replace("_", "-"), value)
        for name, value in attrs.items()
        if value is not None
    )
    if tag in _VOID:
        return Markup("<{0}{1}>").format(tag, rendered)
    return Markup("<{0}{1}>{2}</{0}>").format(tag, rendered, join(children))


def join(parts: Iterable[object], separator: str = "") -> Markup:
    """Concatenate, escaping every part that is not already Markup."""
    return escape(separator).join(escape(part) for part in parts)


def badge(word: str, tone: str | None = None) -> Markup:
    """A coloured word: an outcome, a severity, a decision."""
    return el("span", word, class_=f"badge {tone or tone_of(word)}")


def tone_of(word: str) -> str:
    return _TONES.get(word, "plain")


def table(
    head: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    row_class: Sequence[str | None] | None = None,
    numeric: Iterable[int] = (),
    widths: Sequence[str] = (),
) -> Markup:
    """A plain table; `numeric` columns are right-aligned, `row_class` tints rows. With
    `widths` (CSS widths per column) the layout is fixed: tables of the same kind line up, and
    a long finding wraps inside its column instead of squeezing the short ones."""
    right = set(numeric)
    header = join(el("th", h, class_="n" if i in right else None) for i, h in enumerate(head))
    body = [
        el(
            "tr",
            *(el("td", cell, class_="n" if i in right else None) for i, cell in enumerate(row)),
            class_=row_class[r] if row_class else None,
        )
        for r, row in enumerate(rows)
    ]
    columns = el("colgroup", *(el("col", style=f"width:{w}") for w in widths)) if widths else ""
    head_and_body = (columns, el("thead", el("tr", header)), el("tbody", *body))
    return el("table", *head_and_body, class_="fixed" if widths else None)


def split_id(check_id: str) -> tuple[str, str]:
    """(check name, target): the target is the parametrisation inside the id's brackets."""
    name, bracket, rest = check_id.partition("[")
    return name, rest[:-1] if bracket and rest.endswith("]") else rest


def first_line(text: str | None, limit: int = 300) -> str:
    """A finding's headline for a table cell; the whole finding is shown elsewhere."""
    lines = (text or "").strip().splitlines()
    return clip(lines[0], limit) if lines else ""


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest} s"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{100 * ratio:.2f} %"


def parse_time(text: object) -> datetime | None:
    """An ISO time from the record, as UTC when it carries no offset; None if unreadable."""
    try:
        parsed = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def moment(text: object) -> str:
    """A record's ISO time for people: to the second, in UTC, said so."""
    parsed = parse_time(text)
    if parsed is None:
        return str(text or "-")
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def days_left(expires: object, today: date | None) -> str:
    """How soon a waiver runs out, counted from the run's day, so an old report stays true."""
    try:
        end = date.fromisoformat(str(expires))
    except ValueError:
        return ""
    if today is None:
        return ""
    left = (end - today).days
    return "expired" if left < 0 else "today" if left == 0 else f"in {left} d"


def get_list(record: Mapping[str, Any], key: str) -> list[Any]:
    """A list field that may be absent or null in an older or partial record."""
    value = record.get(key)
    return list(value) if isinstance(value, list) else []
