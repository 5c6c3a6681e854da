"""Lock benchmarks: latency of one acquire+release cycle with the etcd and the local backends, and what a lock
adds to a whole cookbook run.

The etcd backend runs against a private etcd server on loopback (Debian's ``etcd-server``; skipped when the
binary is missing), the local one against a temporary directory. Each round takes and releases one slot of a
lock with concurrency 2 (no contention); the figures are the median, 95th percentile and mean over the rounds.

The run overhead is measured with whole ``cookbook`` processes running a trivial cookbook, alternating a run that
takes its etcd lock and the same run with ``--no-locks`` (and bare ``python -c pass``); the overhead is the
difference of the medians, also given as a ratio to bare python. Its target, :py:data:`RUN_OVERHEAD_TARGET_MS`, is
the overhead of a lock in the reference Spicerack v13.1 measured the same way.

Usage: python benchmarks/bench_locking.py [--rounds N] [--runs N] [--json FILE]
"""

import argparse
import json
import logging
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_startup import child_environment, cookbook_command, run_once  # noqa: E402
from spicerack.locking import LocalLock, Lock, LockError  # noqa: E402
from tests.integration.servers.etcd import EtcdServer  # noqa: E402

RUN_OVERHEAD_TARGET_MS = 28.0
"""The most, in ms, that taking the etcd lock may add to a trivial cookbook run (the reference's figure)."""
TRIVIAL_COOKBOOK = '''"""Do nothing, for the lock benchmark."""

import argparse


def argument_parser():
    return argparse.ArgumentParser(description=__doc__)


def run(args, spicerack):
    return 0
'''


def measure(lock: Lock | LocalLock, rounds: int) -> dict[str, float]:
    """Time ``rounds`` acquire+release cycles (after a few warm-up ones) and return the statistics in ms."""
    name = f"bench.{os.getpid()}"
    for _ in range(5):
        lock.release(name, lock.acquire(name, concurrency=2, ttl=60))
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        lock.release(name, lock.acquire(name, concurrency=2, ttl=60))
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p95_ms": samples[min(len(samples) - 1, int(len(samples) * 0.95))],
        "mean_ms": statistics.fmean(samples),
        "cycles_per_s": 1000 / statistics.fmean(samples),
    }


def bench_local(base: Path, owner: str, rounds: int) -> dict[str, float]:
    lock = LocalLock(prefix="custom", owner=owner, dry_run=False, lock_dir=base / "locks", max_wait=0)
    return measure(lock, rounds)


def bench_etcd(base: Path, owner: str, rounds: int, runs: int) -> dict[str, float] | None:
    binary = shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)
    if binary is None:
        print("etcd: skipped, the etcd binary is not installed (scripts/install-test-servers.sh installs it)")
        return None
    server = EtcdServer(base / "etcd", binary=binary)
    server.start()
    try:
        config = {"host": "127.0.0.1", "port": server.port}
        lock = Lock(config=config, prefix="custom", owner=owner, dry_run=False, max_wait=0)
        result = measure(lock, rounds)
        result.update(run_overhead(base / "run", server.port, runs))
        return result
    finally:
        server.stop()


def run_overhead(base: Path, etcd_port: int, runs: int) -> dict[str, float]:
    """Time whole runs of a trivial cookbook with its etcd lock, with ``--no-locks`` and bare python (medians, ms)."""
    group = base / "tree" / "cookbooks" / "bench"
    group.mkdir(parents=True)
    (group / "__init__.py").write_text('"""Lock benchmark."""\n', encoding="utf-8")
    (group / "trivial.py").write_text(TRIVIAL_COOKBOOK, encoding="utf-8")
    etcd_config = base / "etcd.yaml"
    etcd_config.write_text(f"host: 127.0.0.1\nport: {etcd_port}\n", encoding="utf-8")
    config = base / "config.yaml"
    config.write_text(
        f"cookbooks_base_dirs:\n  - {base / 'tree'}\nlogs_base_dir: {base / 'logs'}\n"
        f"instance_params:\n  etcd_config: {etcd_config}\n",
        encoding="utf-8",
    )
    environment = child_environment(base)
    environment.pop("USER", None)  # no ~/.etcdrc of the user running the benchmark
    cookbook = [*cookbook_command(), "-c", str(config)]
    commands = {
        "bare": [sys.executable, "-c", "pass"],
        "locked": [*cookbook, "bench.trivial"],
        "unlocked": [*cookbook, "--no-locks", "bench.trivial"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # warm-up: bytecode, page cache, listing cache
        run_once(command, environment)
    for _ in range(runs):
        for name, command in commands.items():  # alternating, so that the load of the machine hits them alike
            samples[name].append(run_once(command, environment)[0] * 1000)
    bare, locked, unlocked = (statistics.median(samples[name]) for name in ("bare", "locked", "unlocked"))
    return {
        "run_bare_ms": bare,
        "run_locked_ms": locked,
        "run_unlocked_ms": unlocked,
        "run_overhead_ms": locked - unlocked,
        "run_overhead_ratio": (locked - unlocked) / bare,
    }


def print_run_overhead(result: dict[str, float], runs: int) -> None:
    overhead = result["run_overhead_ms"]
    verdict = "met" if overhead <= RUN_OVERHEAD_TARGET_MS else "MISSED"
    print(
        f" run: trivial cookbook with its etcd lock {result['run_locked_ms']:.1f} ms, with --no-locks "
        f"{result['run_unlocked_ms']:.1f} ms, bare python {result['run_bare_ms']:.1f} ms (medians of {runs} runs)"
    )
    print(
        f"target lock overhead per run: +{overhead:.1f} ms ({result['run_overhead_ratio']:.2f}x bare python) "
        f"<= +{RUN_OVERHEAD_TARGET_MS:g} ms: {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300, help="Acquire+release cycles per backend.")
    parser.add_argument("--runs", type=int, default=15, help="Whole cookbook runs per variant for the run overhead.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    owner = f"bench@{socket.gethostname()} [{os.getpid()}]"

    results: dict[str, dict[str, float]] = {}
    benches: dict[str, Callable[[Path, str, int], dict[str, float] | None]] = {
        "etcd": lambda base, owner, rounds: bench_etcd(base, owner, rounds, args.runs),
        "local": bench_local,
    }
    with tempfile.TemporaryDirectory(prefix="spicerack-bench-locking-") as tmp:
        for name, bench in benches.items():
            try:
                result = bench(Path(tmp) / name, owner, args.rounds)
            except (LockError, RuntimeError) as e:
                print(f"{name}: failed: {e}")
                return 1
            if result is not None:
                results[name] = result
                print(
                    f"{name:>5}: acquire+release median {result['median_ms']:.2f} ms, p95 {result['p95_ms']:.2f} ms, "
                    f"mean {result['mean_ms']:.2f} ms ({result['cycles_per_s']:.0f} cycles/s, {args.rounds} rounds)"
                )
                if "run_overhead_ms" in result:
                    print_run_overhead(result, args.runs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
