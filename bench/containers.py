"""Time judging 50 containers: gonogo's probe and judgements against `docker inspect` per property.

Run from the repository root: `.venv/bin/python bench/containers.py`. It starts 50 containers
of a local busybox image (labelled, limited, with a healthcheck, non-root, read-only,
`sleep 600` so none outlives a crashed run by long) on the engine gonogo uses, then times:

- gonogo: `inspect_containers` once (one list, parallel inspects, a fresh client each run)
  plus every judgement in `gonogo.containers.ASPECTS`; best of --rounds, in process;
- the naive script: `docker ps` for the names, then one `docker --host URL inspect -f
  TEMPLATE NAME` process per container per property (13 properties, 650 processes), once.

Both must read the same values, or the script exits 1; so does gonogo taking 2 s or more.
The containers are removed by id however the run ends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import docker.errors as docker_errors

from gonogo.containers import ASPECTS
from gonogo.docker_engine import ensure_engine, stop_own_engine_if_idle
from gonogo.docker_images import build_image
from gonogo.environment_inside import ContainerPolicy, ContainerSelector
from gonogo.probes.containers import ContainerSet, close_clients, inspect_containers

COUNT = 50
TARGET_S = 2.0
LABEL = "org.gonogo.bench"
DOCKERFILE = """\
FROM {base}
USER app
HEALTHCHECK --interval=300s CMD true
CMD ["sleep", "600"]
"""
# What a user would ask `docker inspect` for, one property at a time.
TEMPLATES = {
    "state": "{{.State.Status}}",
    "health": "{{if .State.Health}}{{.State.Health.Status}}{{end}}",
    "restart_policy": "{{.HostConfig.RestartPolicy.Name}}",
    "restart_count": "{{.RestartCount}}",
    "user": "{{.Config.User}}",
    "privileged": "{{.HostConfig.Privileged}}",
    "cap_add": "{{json .HostConfig.CapAdd}}",
    "nano_cpus": "{{.HostConfig.NanoCpus}}",
    "memory": "{{.HostConfig.Memory}}",
    "image": "{{.Config.Image}}",
    "port_bindings": "{{json .HostConfig.PortBindings}}",
    "readonly_rootfs": "{{.HostConfig.ReadonlyRootfs}}",
    "log_config": "{{json .HostConfig.LogConfig}}",
}


def _start(client, image: str, run: str, ids: list[str]) -> None:
    """Start COUNT containers, a few at a time, adding each id to `ids` as it is created."""

    def one(index: int) -> None:
        container = client.containers.create(
            image,
            name=f"gonogo-bench-{run}-{index}",
            labels={LABEL: run},
            nano_cpus=250_000_000,
            mem_limit="32m",
            restart_policy={"Name": "unless-stopped"},
            read_only=True,
            log_config={"Type": "json-file", "Config": {"max-size": "1m"}},
        )
        ids.append(container.id)
        container.start()

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(one, index) for index in range(COUNT)]:
            future.result()


def _gonogo(policy: ContainerPolicy) -> tuple[float, ContainerSet, list[str]]:
    close_clients()  # a fresh client, so its version round trip is counted
    started = time.perf_counter()
    found = inspect_containers(policy.select, engine=policy.engine, timeout_s=30)
    problems = [problem for judge in ASPECTS.values() for problem in judge(policy, found)]
    return time.perf_counter() - started, found, problems


def _naive(docker: str, engine: str, run: str) -> tuple[float, dict[str, dict[str, str]]]:
    started = time.perf_counter()
    listed = subprocess.run(
        [
            *(docker, "--host", engine, "ps", "-a"),
            *("--filter", f"label={LABEL}={run}", "--format", "{{.Names}}"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    seen: dict[str, dict[str, str]] = {}
    for name in listed:
        for prop, template in TEMPLATES.items():
            out = subprocess.run(
                [docker, "--host", engine, "inspect", "-f", template, name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            seen.setdefault(name, {})[prop] = out
    return time.perf_counter() - started, seen


def _disagreements(found: ContainerSet, seen: dict[str, dict[str, str]]) -> list[str]:
    """Properties where the naive reading and gonogo's facts differ."""
    wrong = []
    if sorted(seen) != [c.name for c in found.containers]:
        wrong.append(
            f"names: docker ps {sorted(seen)}, gonogo {[c.name for c in found.containers]}"
        )
    for c in found.containers:
        naive = seen.get(c.name, {})
        ours = {
            "state": c.status,
            "health": c.health or "",
            "restart_policy": c.restart_policy,
            "restart_count": str(c.restart_count),
            "user": c.user,
            "privileged": str(c.privileged).lower(),
            "cap_add": json.dumps(list(c.cap_add) or None),
            "nano_cpus": str(round((c.cpus or 0) * 1e9)),
            "memory": str(c.memory or 0),
            "image": c.image,
            "readonly_rootfs": str(c.read_only_rootfs).lower(),
            "log_driver": c.log_driver,
        }
        naive_driver = json.loads(naive.get("log_config") or "{}").get("Type", "")
        for prop, value in ours.items():
            theirs = naive_driver if prop == "log_driver" else naive.get(prop)
            if theirs != value:
                wrong.append(f"{c.name} {prop}: docker inspect {theirs!r}, gonogo {value!r}")
    return wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="gonogo runs (default 5)")
    rounds = parser.parse_args().rounds
    docker = shutil.which("docker")
    if docker is None:
        print(
            "the docker CLI is not installed (Debian: apt-get install docker.io)", file=sys.stderr
        )
        return 2
    engine = ensure_engine()
    client = engine.client(timeout_s=60)
    run = f"{os.getpid()}-{int(time.time())}"
    ids: list[str] = []
    try:
        image = build_image(client, "gonogo-bench-containers:1", DOCKERFILE)
        _start(client, image, run, ids)
        policy = ContainerPolicy(
            select=ContainerSelector(labels={LABEL: run}), engine=engine.base_url
        )
        runs = [_gonogo(policy) for _ in range(rounds)]
        ours = min(elapsed for elapsed, _, _ in runs)
        _, found, problems = runs[-1]
        naive, seen = _naive(docker, engine.base_url, run)
    finally:
        for container_id in ids:
            with contextlib.suppress(docker_errors.NotFound):
                client.api.remove_container(container_id, force=True)
        client.close()
        close_clients()
        stop_own_engine_if_idle()

    processes = 1 + len(seen) * len(TEMPLATES)
    print(f"engine {engine.base_url}, {len(found.containers)} containers, {len(ASPECTS)} aspects")
    every = " ".join(f"{elapsed:.3f}" for elapsed, _, _ in runs)
    print(f"gonogo, inspect_containers + every aspect: best {ours:.3f} s of {rounds} ({every})")
    # The first health check is 300 s away (no load from checks while timing): all `starting`.
    unexpected = [p for p in problems if ": health starting: " not in p]
    print(f"  problems: {len(problems)}, each a `health starting` (first check in 300 s)")
    print(f"naive, docker ps + {processes - 1} docker inspect -f processes: {naive:.2f} s")
    print(f"naive / gonogo = {naive / ours:.0f}x")
    print("for bench/README.md:")
    print(
        f"| {len(found.containers)} containers x {len(TEMPLATES)} properties | {ours:.3f} s "
        f"| {naive:.1f} s ({processes} processes) | {naive / ours:.0f}x |"
    )
    wrong = _disagreements(found, seen)
    if wrong:  # not `assert`: the checks must hold under python -O too
        print("gonogo and docker inspect disagree:\n  " + "\n  ".join(wrong), file=sys.stderr)
        return 1
    if unexpected or len(problems) != COUNT:
        print("expected one `health starting` per container, got:", *problems, file=sys.stderr)
        return 1
    if ours >= TARGET_S:
        print(f"target missed: gonogo took {ours:.3f} s >= {TARGET_S:g} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
