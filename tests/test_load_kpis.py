"""Load KPIs against exact answers: results documents built from known response times, judged
both ways, whole-run, per request and in windows."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from gonogo.environment_load import KPI_NAMES, Kpis, WindowRule
from gonogo.latency import Histogram
from gonogo.load_kpis import Breach, Stats, judge_kpi, summarise, window_breaches

SECONDS, PER_SECOND = 60, 200
Response = tuple[int, str, float, bool]  # second, request name, ms, failed


def _name(i: int) -> str:
    """Three of four requests are "home", one "search"."""
    return "search" if i % 4 == 3 else "home"


def _responses(
    latency: Callable[[int, int], float] = lambda t, i: 100.0,
    failed: Callable[[int, int], bool] = lambda t, i: False,
    per_second: Callable[[int], int] = lambda t: PER_SECOND,
) -> list[Response]:
    return [
        (t, _name(i), latency(t, i), failed(t, i))
        for t in range(SECONDS)
        for i in range(per_second(t))
    ]


def _results(responses: list[Response], **fields: Any) -> dict[str, Any]:
    """The Locust side's document for these responses, through JSON as it arrives on disk."""
    slices: dict[tuple[int, str], tuple[Histogram, list[int]]] = defaultdict(
        lambda: (Histogram(), [0])
    )
    statuses: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t, name, ms, failed in responses:
        histogram, failures = slices[t, name]
        histogram.record(ms)
        failures[0] += failed
        statuses[t, name]["500" if failed else "200"] += 1
    document = {
        "format": 1,
        "started_at": 1_700_000_000.0,
        "ended_at": 1_700_000_000.0 + SECONDS,
        "planned_s": float(SECONDS),
        "stop_reason": "duration",
        "workers": 2,
        "slices": [
            {
                "t": t,
                "name": name,
                "method": "GET",
                "histogram": histogram.to_dict(),
                "failures": failures[0],
                "statuses": statuses[t, name],
            }
            for (t, name), (histogram, failures) in sorted(slices.items())
        ],
        **fields,
    }
    parsed: dict[str, Any] = json.loads(json.dumps(document))
    return parsed


def _exact(values: list[float], fraction: float) -> float:
    """Nearest rank, as the definition has it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _lognormal() -> list[Response]:
    rng = random.Random(7)  # noqa: S311 - reproducible test data, not secrets
    return _responses(
        latency=lambda t, i: rng.lognormvariate(math.log(120), 0.6),
        failed=lambda t, i: i % 40 == 0,  # 5 of 200 each second: 2.5 %
    )


def _assert_matches(stats: Stats, responses: list[Response]) -> None:
    times = [ms for _, _, ms, _ in responses]
    for kpi, fraction in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        assert stats.value(kpi) == pytest.approx(_exact(times, fraction), rel=0.01), kpi
    assert stats.max_ms == max(times)
    assert stats.avg_ms == pytest.approx(sum(times) / len(times), rel=1e-12)
    assert stats.count == len(times)
    assert stats.failures == sum(failed for *_, failed in responses)
    assert stats.error_rate == stats.failures / stats.count
    assert stats.rps == len(times) / SECONDS


# --- Whole run ----------------------------------------------------------------------------------


def test_whole_run_kpis_match_the_exact_values() -> None:
    responses = _lognormal()
    summary = summarise(_results(responses), [], 4)
    _assert_matches(summary.total, responses)
    assert summary.total.rps == PER_SECOND
    assert summary.total.error_rate == 0.025
    assert summary.total.statuses == {"200": 11_700, "500": 300}
    assert summary.duration_s == SECONDS
    assert (summary.stop_reason, summary.workers, summary.planned_s) == ("duration", 2, 60.0)


def test_each_request_has_its_own_kpis() -> None:
    responses = _lognormal()
    summary = summarise(_results(responses), [], 4)
    assert list(summary.per_request) == ["home", "search"]
    for name, stats in summary.per_request.items():
        _assert_matches(stats, [response for response in responses if response[1] == name])
    assert summary.per_request["search"].rps == 50
    assert summary.per_request["search"].failures == 0  # every failure is an i % 40 == 0 home


def test_p99_never_exceeds_the_max_where_locust_rounding_would() -> None:
    """Locust rounds 1001-1099 ms to 100 ms steps, reporting a p99 of 1100 ms above the max."""
    times = [1001.0 + i for i in range(99)]
    responses = [(0, "slow", ms, False) for ms in times]
    stats = summarise(_results(responses), [], 1).total
    assert stats.max_ms == 1099
    assert stats.p99_ms <= stats.max_ms
    assert stats.p99_ms == pytest.approx(_exact(times, 0.99), rel=0.01)
    assert stats.p50_ms == pytest.approx(_exact(times, 0.5), rel=0.01)


def test_slices_of_one_second_from_several_workers_merge() -> None:
    one = _results([(0, "home", 10.0, False), (1, "home", 30.0, True)])
    two = _results([(1, "home", 20.0, False)])
    one["slices"].extend(two["slices"])
    stats = summarise(one, [], 2).total
    assert (stats.count, stats.failures, stats.max_ms, stats.rps) == (3, 1, 30.0, 1.5)


def test_the_ramp_up_counts_and_the_shutdown_does_not() -> None:
    """First response in second 3, last in second 9: ten seconds measured, not seven nor 60."""
    responses = [(t, "home", 50.0, False) for t in range(3, 10) for _ in range(10)]
    summary = summarise(_results(responses), [], 1)
    assert summary.duration_s == 10
    assert summary.total.rps == 7.0


def test_an_unknown_results_format_is_refused() -> None:
    with pytest.raises(ValueError, match="results format 2; expected 1"):
        summarise(_results([], format=2), [], 1)


# --- Judging ------------------------------------------------------------------------------------

STATS = Stats(
    count=12_000,
    failures=300,
    error_rate=0.025,
    rps=412.5,
    p50_ms=180.04,
    p90_ms=401.0,
    p95_ms=612.34,
    p99_ms=1000.0,
    max_ms=2500.0,
    avg_ms=210.0,
    statuses={"200": 11_700, "500": 300},
)


@pytest.mark.parametrize(
    ("kpi", "limit", "finding"),
    [
        ("p50_ms", 250, None),
        ("p95_ms", 500, "p95 612.3 ms, limit 500 ms"),
        ("p95_ms", 700, None),
        ("p99_ms", 1000, None),  # met at equality
        ("p99_ms", 999.5, "p99 1000.0 ms, limit 999.5 ms"),
        ("max_ms", 2000, "max 2500.0 ms, limit 2000 ms"),
        ("avg_ms", 500, None),
        ("avg_ms", 200, "average 210.0 ms, limit 200 ms"),
        ("min_rps", 1000, "throughput 412.5 requests/s, floor 1000 requests/s"),
        ("min_rps", 412.5, None),
        ("max_error_rate", 0.001, "error rate 2.5 % (300 of 12000 requests failed), limit 0.1 %"),
        ("max_error_rate", 0.03, None),
    ],
)
def test_judge_kpi(kpi: str, limit: float, finding: str | None) -> None:
    assert judge_kpi(STATS, kpi, limit) == finding


def test_no_errors_meets_a_limit_of_no_errors() -> None:
    stats = summarise(_results(_responses()), [], 1).total
    assert judge_kpi(stats, "max_error_rate", 0) is None
    assert judge_kpi(stats, "p95_ms", 100) is None


def test_stats_name_window_and_kpi_fields_alike() -> None:
    assert STATS.value("rps") == STATS.value("min_rps") == 412.5
    assert STATS.value("error_rate") == STATS.value("max_error_rate") == 0.025
    with pytest.raises(ValueError, match="unknown KPI 'p75_ms'"):
        STATS.value("p75_ms")


def test_a_run_without_requests_fails_every_kpi() -> None:
    summary = summarise(_results([]), [], 1)
    stats = summary.total
    assert (stats.count, stats.rps, stats.error_rate, summary.duration_s) == (0, 0.0, 0.0, 0.0)
    assert {stats.value(kpi) for kpi in KPI_NAMES} == {0.0}
    asked = {**Kpis().asked(), "p90_ms": 1e6, "max_ms": 1e6, "min_rps": 0, "max_error_rate": 1}
    for kpi, limit in asked.items():
        finding = judge_kpi(stats, kpi, limit)
        assert finding is not None
        assert finding.startswith("no requests were made: "), finding
    assert judge_kpi(stats, "p95_ms", 500) == "no requests were made: p95 unmeasured, limit 500 ms"
    assert summary.per_request == {}
    assert summary.timeline == []


# --- Windows ------------------------------------------------------------------------------------


def _rule(**fields: Any) -> WindowRule:
    return WindowRule.model_validate(fields)


def _spike(t: int, i: int) -> float:
    """p95 at 2500 ms in seconds 10-14: 10 % of those seconds' requests take 2.5 s."""
    return 2500.0 if 10 <= t <= 14 and i % 10 == 0 else 100.0


def test_a_latency_spike_long_enough_breaches_for_s() -> None:
    results = _results(_responses(latency=_spike))
    for_3 = window_breaches(results, _rule(kpi="p95_ms", above=2000, for_s=3))
    assert len(for_3) == 1
    assert (for_3[0].start_s, for_3[0].end_s) == (10, 14)
    assert for_3[0].value == pytest.approx(2500, rel=0.005)
    assert len(window_breaches(results, _rule(kpi="p95_ms", above=2000, for_s=5))) == 1
    assert window_breaches(results, _rule(kpi="p95_ms", above=2000, for_s=6)) == []
    assert window_breaches(results, _rule(kpi="p50_ms", above=2000, for_s=1)) == []


def test_a_second_without_responses_ends_a_latency_run() -> None:
    responses = [r for r in _responses(latency=_spike) if r[0] != 12]
    results = _results(responses)
    breaches = window_breaches(results, _rule(kpi="max_ms", above=2000, for_s=2))
    assert [(b.start_s, b.end_s, b.value) for b in breaches] == [(10, 11, 2500), (13, 14, 2500)]
    assert window_breaches(results, _rule(kpi="max_ms", above=2000, for_s=3)) == []


def test_throughput_below_a_floor_counts_silent_seconds_as_zero() -> None:
    """50 requests/s in seconds 40-49, none at all in 50-52, then 200 again."""
    responses = _responses(per_second=lambda t: 50 if 40 <= t <= 49 else 0 if t <= 52 else 200)
    results = _results([r for r in responses if not 0 <= r[0] < 40] + _responses()[: 200 * 40])
    assert window_breaches(results, _rule(kpi="rps", below=100, for_s=5)) == [Breach(40, 52, 0.0)]
    assert window_breaches(results, _rule(kpi="rps", below=40, for_s=3)) == [Breach(50, 52, 0.0)]
    assert window_breaches(results, _rule(kpi="rps", below=40, for_s=4)) == []
    assert window_breaches(results, _rule(kpi="rps", above=150, for_s=5)) == [
        Breach(0, 39, 200.0),
        Breach(53, 59, 200.0),
    ]
    # From the window starting at 27, seven slow seconds cost 7 x 150 requests: under 3000.
    assert window_breaches(results, _rule(kpi="rps", below=150, over_s=20)) == [
        Breach(27, 59, 95.0)
    ]


def test_seconds_without_responses_have_no_error_rate() -> None:
    responses = _responses(
        failed=lambda t, i: True, per_second=lambda t: 0 if 20 <= t <= 29 else PER_SECOND
    )
    breaches = window_breaches(_results(responses), _rule(kpi="error_rate", above=0.5, for_s=1))
    assert breaches == [Breach(0, 19, 1.0), Breach(30, 59, 1.0)]


def _late_errors() -> dict[str, Any]:
    """10 % failures in seconds 30-59, none before: 5 % over the run."""
    return _results(_responses(failed=lambda t, i: t >= 30 and i % 10 == 0))


def test_an_error_rate_over_a_window() -> None:
    """A 20 s window starting at 21 holds 11 failing seconds: 11 x 20 / 4000 = 5.5 %."""
    breaches = window_breaches(_late_errors(), _rule(kpi="error_rate", above=0.05, over_s=20))
    assert breaches == [Breach(21, 59, 0.1)]
    assert window_breaches(_late_errors(), _rule(kpi="error_rate", above=0.1, over_s=20)) == []


@pytest.mark.parametrize("over_s", [60, 600])
def test_a_window_as_long_as_the_run_or_longer_is_the_whole_run(over_s: float) -> None:
    above_4 = _rule(kpi="error_rate", above=0.04, over_s=over_s)
    assert window_breaches(_late_errors(), above_4) == [Breach(0, 59, 0.05)]
    above_6 = _rule(kpi="error_rate", above=0.06, over_s=over_s)
    assert window_breaches(_late_errors(), above_6) == []


def test_a_rule_can_watch_one_request() -> None:
    """A spike in a tenth of the searches is 2.5 % of all requests: too few to move the
    total's p95."""
    spike = _responses(latency=lambda t, i: 3000.0 if 10 <= t < 20 and i % 40 == 3 else 100.0)
    results = _results(spike)
    search = _rule(kpi="p95_ms", above=2000, for_s=5, request="search")
    [breach] = window_breaches(results, search)
    assert (breach.start_s, breach.end_s) == (10, 19)
    assert breach.value == pytest.approx(3000, rel=0.005)
    assert window_breaches(results, _rule(kpi="p95_ms", above=2000, for_s=5)) == []
    home = _rule(kpi="p95_ms", above=2000, for_s=5, request="home")
    assert window_breaches(results, home) == []


def _from_scratch(histogram: Histogram, kpi: str, width: int) -> float | None:
    if kpi == "rps":
        return histogram.count / width
    if not histogram.count:
        return None
    if kpi == "max_ms":
        return histogram.max_ms
    return histogram.average_ms if kpi == "avg_ms" else histogram.percentile(int(kpi[1:3]) / 100)


@pytest.mark.parametrize("kpi", ["p50_ms", "p95_ms", "p99_ms", "max_ms", "avg_ms", "rps"])
@pytest.mark.parametrize("over_s", [1, 7, 25])
@pytest.mark.parametrize("bound", ["above", "below"])
def test_sliding_windows_agree_with_windows_merged_from_scratch(
    kpi: str, over_s: int, bound: str
) -> None:
    rng = random.Random(11)  # noqa: S311 - reproducible test data, not secrets
    responses = _responses(
        latency=lambda t, i: rng.lognormvariate(math.log(100 + 20 * (t % 13)), 0.8),
        per_second=lambda t: 0 if t % 17 == 5 else rng.randrange(1, 40),
    )
    seconds = [Histogram() for _ in range(SECONDS)]
    for t, _, ms, _ in responses:
        seconds[t].record(ms)
    values: list[tuple[int, float]] = []
    for start in range(SECONDS - over_s + 1):
        window = Histogram()
        for histogram in seconds[start : start + over_s]:
            window.merge(histogram)
        value = _from_scratch(window, kpi, over_s)
        if value is not None:
            values.append((start, value))
    # Between two windows' values, where adding and subtracting seconds cannot tip the balance.
    ordered = sorted({value for _, value in values})
    threshold = (ordered[len(ordered) // 2] + ordered[len(ordered) // 2 + 1]) / 2
    worst = max if bound == "above" else min
    expected: list[Breach] = []
    for start, value in values:
        if not (value > threshold if bound == "above" else value < threshold):
            continue
        if expected and start <= expected[-1].end_s + 1:
            last = expected.pop()
            expected.append(Breach(last.start_s, start + over_s - 1, worst(last.value, value)))
        else:
            expected.append(Breach(start, start + over_s - 1, value))
    rule = _rule(kpi=kpi, over_s=over_s, **{bound: threshold})
    breaches = window_breaches(_results(responses), rule)
    assert expected  # the median splits the windows
    assert [(b.start_s, b.end_s) for b in breaches] == [(b.start_s, b.end_s) for b in expected]
    assert [b.value for b in breaches] == pytest.approx([b.value for b in expected], rel=1e-9)


# --- Saturation, timeline, record -----------------------------------------------------------------


def test_a_saturated_generator_makes_latency_inconclusive() -> None:
    cpu = [(0.0, 100.0), (1.0, 100.0), (2.0, 96.0), (3.0, 98.0)]
    summary = summarise(_results(_responses()), cpu, 2)
    assert summary.saturated == (
        "load generator CPU at 97 % of 2 cores: the latency measured includes the generator's "
        "own queueing; add workers (processes) or machines"
    )
    assert summary.cpu_percent == 97.0
    one_core = summarise(_results(_responses()), cpu, 1).saturated
    assert one_core is not None
    assert one_core.startswith("load generator CPU at 97 % of 1 core: ")


@pytest.mark.parametrize(
    "cpu",
    [
        [],
        [(0.0, 100.0), (1.5, 100.0)],  # spawning only
        [(0.0, 100.0), (1.0, 100.0), (2.0, 60.0), (3.0, 90.0)],
        [(2.0, 90.0)],  # at the limit, not above it
    ],
)
def test_a_generator_with_cpu_to_spare_is_not_saturated(cpu: list[tuple[float, float]]) -> None:
    assert summarise(_results(_responses()), cpu, 2).saturated is None


def test_the_timeline_has_every_second_and_gaps_where_nothing_answered() -> None:
    responses = _responses(
        latency=_spike, failed=lambda t, i: t == 30, per_second=lambda t: 0 if t == 20 else 100
    )
    timeline = summarise(_results(responses), [], 1).timeline
    assert [point.t for point in timeline] == list(range(SECONDS))
    assert (timeline[20].rps, timeline[20].p95_ms, timeline[20].error_rate) == (0.0, None, None)
    assert (timeline[0].rps, timeline[0].p50_ms, timeline[0].error_rate) == (100.0, 100.0, 0.0)
    assert timeline[12].p95_ms == pytest.approx(2500, rel=0.005)
    assert timeline[30].error_rate == 1.0


def test_the_record_is_plain_json_with_every_kpi() -> None:
    summary = summarise(_results(_lognormal()), [(3.0, 40.0)], 4)
    record = json.loads(json.dumps(summary.to_dict(), allow_nan=False))
    kpis = {"count", "failures", "error_rate", "rps", "max_ms", "avg_ms", "statuses"}
    kpis |= {"p50_ms", "p90_ms", "p95_ms", "p99_ms"}
    assert set(record["total"]) == kpis
    assert set(record["per_request"]) == {"home", "search"}
    assert record["total"]["p95_ms"] == summary.total.p95_ms
    assert (record["cpu_percent"], record["cores"], record["saturated"]) == (40.0, 4, None)
    assert len(record["timeline"]) == SECONDS
    empty = summarise(_results([]), [], 1).to_dict()
    assert json.loads(json.dumps(empty, allow_nan=False))["total"]["count"] == 0
