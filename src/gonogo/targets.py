"""Which environment entries a check's parameter stands for: `smoke_check` -> every smoke entry.

A check names a parameter; the plugin parametrizes it with the matching entries, using their
YAML names as test ids, so adding a target is a YAML edit and never a Python one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gonogo.environment import Environment
from gonogo.environment_flows import flow_steps
from gonogo.environment_inside import host_items
from gonogo.environment_load import kpi_targets

__all__ = ["TARGETS"]

Selector = Callable[[Environment], Sequence[Any]]

TARGETS: dict[str, Selector] = {
    "smoke_check": lambda env: env.smoke,
    "smoke_json_check": lambda env: [c for c in env.smoke if c.expect.json_fields],
    "smoke_latency_check": lambda env: [c for c in env.smoke if c.expect.latency_ms],
    "wait": lambda env: [env.wait] if env.wait else [],
    "open_ports": lambda env: [p for p in env.ports if p.open],
    "closed_ports": lambda env: [p for p in env.ports if p.closed],
    "port_range": lambda env: [p for p in env.ports if p.nothing_else_open_in],
    "tls_endpoint": lambda env: env.tls,
    "tls_chain": lambda env: [t for t in env.tls if t.full_chain],
    "tls_ocsp": lambda env: [t for t in env.tls if t.ocsp_stapling],
    "redirect": lambda env: env.redirects,
    "header_values": lambda env: [h for h in env.headers if h.expect],
    "header_hsts": lambda env: [h for h in env.headers if h.hsts],
    "header_csp": lambda env: [h for h in env.headers if h.csp],
    "header_leaks": lambda env: [h for h in env.headers if not h.allow_information_leaks],
    "header_grade": lambda env: [h for h in env.headers if h.min_grade],
    "cookie_policy": lambda env: env.cookies,
    "cors_policy": lambda env: env.cors,
    "compressed_endpoint": lambda env: [e for e in env.endpoints if e.compression],
    "cached_endpoint": lambda env: [e for e in env.endpoints if e.cache],
    "body_limited_endpoint": lambda env: [e for e in env.endpoints if e.body_limit_bytes],
    "rate_limit": lambda env: env.rate_limits,
    "exposed_path": lambda env: env.exposed_paths,
    "container_policy": lambda env: env.containers,
    "container_health": lambda env: [c for c in env.containers if c.health != "ignore"],
    "container_restart_policy": lambda env: [c for c in env.containers if c.restart_policy],
    "container_restarts": lambda env: [c for c in env.containers if c.max_restarts is not None],
    "container_non_root": lambda env: [c for c in env.containers if c.non_root],
    "container_limits": lambda env: [c for c in env.containers if c.limits.asks()],
    "container_image": lambda env: [c for c in env.containers if c.image != "any"],
    "container_ports": lambda env: [c for c in env.containers if c.published_ports is not None],
    "container_read_only": lambda env: [c for c in env.containers if c.read_only_rootfs],
    "container_log_rotation": lambda env: [c for c in env.containers if c.logs and c.logs.rotation],
    "container_logs": lambda env: [c for c in env.containers if c.logs],
    "host_service": lambda env: host_items(env.hosts, "services"),
    "host_package": lambda env: host_items(env.hosts, "packages"),
    "host_file": lambda env: host_items(env.hosts, "files"),
    "host_user": lambda env: host_items(env.hosts, "users"),
    "host_sysctl": lambda env: host_items(env.hosts, "sysctl"),
    "host_disk": lambda env: host_items(env.hosts, "disks"),
    "host_config": lambda env: host_items(env.hosts, "config_tests"),
    # Every host: a socket on 0.0.0.0 that nobody declared is a finding unless allowed.
    "host_listening": lambda env: [
        h for h in env.hosts if h.listening or not h.undeclared_public_listeners
    ],
    "host_memory": lambda env: [h for h in env.hosts if h.max_memory_used_percent is not None],
    "host_load": lambda env: [h for h in env.hosts if h.max_load_per_cpu is not None],
    "host_time": lambda env: [h for h in env.hosts if h.time_synchronised],
    "firewall_check": lambda env: env.firewall,
    "reachability": lambda env: env.reachability,
    "dependency": lambda env: env.dependencies,
    "dependency_latency": lambda env: [d for d in env.dependencies if d.latency_ms is not None],
    "dependency_query": lambda env: [d for d in env.dependencies if d.query],
    "dependency_round_trip": lambda env: [d for d in env.dependencies if d.round_trip],
    "dependency_management": lambda env: [d for d in env.dependencies if d.management_url],
    "dependency_banner": lambda env: [d for d in env.dependencies if d.banner],
    "flow_step": lambda env: flow_steps(env.flows),
    "flow_cleanup": lambda env: [f for f in env.flows if any(s.cleanup for s in f.steps)],
    "bad_input": lambda env: env.bad_input,
    "openapi_document": lambda env: env.openapi,
    "openapi_schemathesis": lambda env: [o for o in env.openapi if o.schemathesis],
    "load_scenario": lambda env: [env.load] if env.load else [],
    "load_kpi": lambda env: kpi_targets(env.load),
    "load_window": lambda env: env.load.windows if env.load else [],
    "metric_query": lambda env: env.metrics.queries if env.metrics else [],
    "alert_rule": lambda env: env.metrics.alerts if env.metrics else [],
    "watch_entry": lambda env: env.watch.checks if env.watch and env.watch.duration else [],
    "baseline_kpi": lambda env: env.baseline.kpis if env.baseline else [],
    "baseline_latency": lambda env: (
        [env.baseline.latency_test] if env.baseline and env.baseline.latency_test else []
    ),
}
