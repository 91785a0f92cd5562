"""Time a full TCP connect scan of 127.0.0.1: nmap, a plain asyncio scan and gonogo's scan().

Each contender runs as a whole process (interpreter start-up included), round-robin, and the
best of the rounds counts. All must find the same open ports; ports whose listener came or
went during the run (other processes on the machine) are named and left out of that check.
Only 127.0.0.1 is ever a target. Usage: .venv/bin/python bench/ports.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack

TARGET = "127.0.0.1"  # fixed on purpose: this script must never scan anything else

NMAP = ["nmap", "-sT", "-p", "1-65535", TARGET, "-n"]

# The reference: a plain asyncio scan as one would first write it (1000 workers sharing one
# port iterator, sock_connect, asyncio.timeout per port; a semaphore over 65535 tasks measured
# about twice as slow), plus the self-connect check so that its open set is comparable.
ASYNCIO = f"""
import asyncio, json, socket

async def worker(ports, found):
    loop = asyncio.get_running_loop()
    for port in ports:
        sock = socket.socket()
        sock.setblocking(False)
        try:
            async with asyncio.timeout(1.0):
                await loop.sock_connect(sock, ("{TARGET}", port))
            if sock.getsockname()[1] != port:
                found.append(port)
        except OSError:
            pass
        finally:
            sock.close()

async def main():
    ports, found = iter(range(1, 65536)), []
    await asyncio.gather(*(worker(ports, found) for _ in range(1000)))
    print(json.dumps(sorted(found)))

asyncio.run(main())
"""

GONOGO = f"""
import json
from gonogo.probes.ports import scan
print(json.dumps(scan("{TARGET}", range(1, 65536)).open_ports()))
"""


def _nmap_open(stdout: str) -> set[int]:
    return {int(port) for port in re.findall(r"^(\d+)/tcp\s+open\b", stdout, re.MULTILINE)}


def _json_open(stdout: str) -> set[int]:
    return set(json.loads(stdout))


CONTENDERS = {
    "nmap": (NMAP, _nmap_open),
    "asyncio": ([sys.executable, "-c", ASYNCIO], _json_open),
    "gonogo": ([sys.executable, "-c", GONOGO], _json_open),
}

_LOOPBACK_LISTENS = {"127.0.0.1", "0.0.0.0", "*", "[::ffff:127.0.0.1]"}  # noqa: S104 (ss text)


def _listening() -> set[int]:
    """Ports `ss` shows listening on an address that a connect to 127.0.0.1 reaches."""
    ss = shutil.which("ss") or "/usr/bin/ss"
    out = subprocess.run([ss, "-ltnH"], capture_output=True, text=True, check=True).stdout
    ports = set()
    for line in out.splitlines():
        address, _, port = line.split()[3].rpartition(":")
        if address.partition("%")[0] in _LOOPBACK_LISTENS:
            ports.add(int(port))
    return ports


def _sample(snapshots: list[set[int]], stop: threading.Event) -> None:
    """Catch listeners that live shorter than a run; 5 Hz keeps ss off the timings."""
    while not stop.wait(0.2):
        snapshots.append(_listening())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per contender (default 3)")
    rounds = parser.parse_args().rounds
    if shutil.which("nmap") is None:
        print("nmap not found; on Debian: apt-get install -y nmap", file=sys.stderr)
        return 2
    if shutil.which("ss") is None:
        print("ss not found; on Debian: apt-get install -y iproute2", file=sys.stderr)
        return 2

    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    found: dict[str, list[set[int]]] = {name: [] for name in CONTENDERS}
    with ExitStack() as stack:
        # Listeners of our own, so the open set is never just whatever else happens to run.
        ours = set()
        for _ in range(3):
            listener = stack.enter_context(socket.create_server((TARGET, 0)))
            ours.add(listener.getsockname()[1])
        snapshots = [_listening()]
        stop = threading.Event()
        sampler = threading.Thread(target=_sample, args=(snapshots, stop), daemon=True)
        sampler.start()
        stack.callback(sampler.join, 10)
        stack.callback(stop.set)
        for _ in range(rounds):
            for name, (command, parse) in CONTENDERS.items():
                argv = [shutil.which(command[0]) or command[0], *command[1:]]
                started = time.perf_counter()
                # fixed commands from this file, target fixed to TARGET
                done = subprocess.run(argv, capture_output=True, text=True, check=False)
                times[name].append(time.perf_counter() - started)
                if done.returncode != 0:
                    print(f"{name} failed ({done.returncode}):\n{done.stderr}", file=sys.stderr)
                    return 1
                found[name].append(parse(done.stdout))
        snapshots.append(_listening())

    stable = set.intersection(*snapshots)
    churn = set.union(*snapshots) - stable
    expected = stable | ours
    disagree = [
        f"{name} run {run}: missing {sorted(expected - open_ports)}, "
        f"extra {sorted(open_ports - churn - expected)}"
        for name, sets in found.items()
        for run, open_ports in enumerate(sets, 1)
        if open_ports - churn != expected
    ]
    if disagree:  # not `assert`: the check must hold under python -O too
        print("open sets differ:\n  " + "\n  ".join(disagree), file=sys.stderr)
        return 1

    print(f"target {TARGET}, ports 1-65535, best of {rounds}, wall time of the whole process")
    print(f"{'contender':<10} {'best s':>7}  {'runs s':<22} open ports (compared)")
    for name, runs in times.items():
        shown = " ".join(f"{t:.2f}" for t in runs)
        print(f"{name:<10} {min(runs):>7.2f}  {shown:<22} {len(found[name][0] - churn)}")
    best = {name: min(runs) for name, runs in times.items()}
    print(f"nmap / gonogo    = {best['nmap'] / best['gonogo']:.2f}  (above 1: gonogo is faster)")
    print(f"asyncio / gonogo = {best['asyncio'] / best['gonogo']:.2f}")
    print(f"open on every run: {sorted(expected)} (3 opened by this script)")
    if churn:
        print(f"came or went during the run, not compared: {sorted(churn)}")
    print("commands:")
    print("  " + " ".join(NMAP))
    print(f"  {sys.executable} -c <ASYNCIO in bench/ports.py>")
    print(f"  {sys.executable} -c <GONOGO in bench/ports.py>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
