"""The demo's own Prometheus: its config, the documents' rollback triggers as alert rules, and its
command line.

The rules carry the documents' thresholds and `for` durations (error ratio > 5 % for 5m, P95 >
2 s for 3m, CPU > 90 % for 5m, memory > 95 % for 3m, down for 1m) so the gate's alert checks meet
the rules a real deployment would run, written against the demo API's own metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gonogo.demo._files import write_file
from gonogo.demo._processes import executable
from gonogo.demo.config import DemoConfig
from gonogo.durations import format_duration

__all__ = [
    "ALERT_RULES",
    "GROUP",
    "HIGH_MEMORY_BYTES",
    "JOB",
    "SCRAPE_INTERVAL_S",
    "prometheus_argv",
    "prometheus_argv_for",
    "write_prometheus_config",
]

JOB = "demo-api"
GROUP = "gonogo-demo"
# Short watch windows need fresh samples: a `for: 5s` check at a 15 s scrape sees one sample.
SCRAPE_INTERVAL_S = 1.0
# The documents' trigger is 95 % of a container's memory limit; the demo's processes run
# without one, so a fixed figure stands in, far above the demo API's own use: a leak's mark.
HIGH_MEMORY_BYTES = 1.5e9

_SELECTOR = f'job="{JOB}"'
_RULES: list[dict[str, Any]] = [
    {
        "alert": "ServiceDown",
        "expr": f"up{{{_SELECTOR}}} == 0",
        "for": "1m",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "demo API {{ $labels.instance }} down for 1m"},
    },
    {
        "alert": "HighErrorRate",
        # By instance: blue and green are both scraped, and the idle one's 0/0 is no alert.
        "expr": (
            f'sum by (instance) (rate(http_requests_total{{{_SELECTOR}, status=~"5.."}}[1m]))'
            f" / sum by (instance) (rate(http_requests_total{{{_SELECTOR}}}[1m])) > 0.05"
        ),
        "for": "5m",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "HTTP 5xx above 5% on {{ $labels.instance }} for 5m"},
    },
    {
        "alert": "HighLatencyP95",
        "expr": (
            "histogram_quantile(0.95, sum by (instance, le) "
            f"(rate(http_request_duration_seconds_bucket{{{_SELECTOR}}}[1m]))) > 2"
        ),
        "for": "3m",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "P95 latency above 2s on {{ $labels.instance }} for 3m"},
    },
    {
        "alert": "HighCpu",
        "expr": f"rate(process_cpu_seconds_total{{{_SELECTOR}}}[1m]) > 0.9",
        "for": "5m",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "CPU above 90% of a core on {{ $labels.instance }} for 5m"},
    },
    {
        "alert": "HighMemory",
        "expr": f"process_resident_memory_bytes{{{_SELECTOR}}} > {HIGH_MEMORY_BYTES:g}",
        "for": "3m",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "resident memory above 1.5 GB on {{ $labels.instance }} for 3m"},
    },
]
ALERT_RULES: tuple[str, ...] = tuple(rule["alert"] for rule in _RULES)


def write_prometheus_config(
    directory: Path,
    *,
    scrape_targets: list[str],
    scrape_interval_s: float,
    rules_file_name: str = "rules.yml",
) -> Path:
    """Write prometheus.yml (scraping `scrape_targets`, host:port, at /metrics) and the rules
    file beside it; returns prometheus.yml's path.

    Rules are evaluated as often as targets are scraped, so a `for` starts counting at the
    first scrape that shows the problem.
    """
    interval = format_duration(scrape_interval_s)
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [rules_file_name],  # Prometheus resolves it beside prometheus.yml
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": "/metrics",
                "scheme": "http",
                "static_configs": [{"targets": list(scrape_targets)}],
            }
        ],
    }
    rules = {"groups": [{"name": GROUP, "rules": _RULES}]}
    path = directory / "prometheus.yml"
    write_file(directory / rules_file_name, yaml.safe_dump(rules, sort_keys=False, width=200))
    write_file(path, yaml.safe_dump(config, sort_keys=False))
    return path


def prometheus_argv_for(config: DemoConfig) -> list[str]:
    """The demo's Prometheus, its files written under run_dir/prometheus, scraping both
    releases: the gate's metrics follow whichever one nginx sends traffic to."""
    directory = config.run_dir / "prometheus"
    directory.mkdir(parents=True, exist_ok=True)
    path = write_prometheus_config(
        directory,
        scrape_targets=[f"{config.host}:{config.blue_port}", f"{config.host}:{config.green_port}"],
        scrape_interval_s=SCRAPE_INTERVAL_S,
    )
    return prometheus_argv(
        executable("prometheus"),
        config=path,
        data_dir=directory / "data",
        port=config.prometheus_port,
        host=config.host,
    )


def prometheus_argv(
    executable: str, *, config: Path, data_dir: Path, port: int, host: str = "127.0.0.1"
) -> list[str]:
    """Loopback only, no lifecycle or admin API (nothing outside may reload or delete), a day
    of data: the demo's Prometheus lives as long as the demo."""
    return [
        executable,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={host}:{port}",
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
