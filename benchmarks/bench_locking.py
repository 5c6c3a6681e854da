"""Lock benchmarks: latency of one acquire+release cycle with the etcd and the local backends.

The etcd backend runs against a private etcd server on loopback (Debian's ``etcd-server``; skipped when the
binary is missing), the local one against a temporary directory. Each round takes and releases one slot of a
lock with concurrency 2 (no contention); the figures are the median, 95th percentile and mean over the rounds.

Usage: python benchmarks/bench_locking.py [--rounds N] [--json FILE]
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

from spicerack.locking import LocalLock, Lock, LockError  # noqa: E402
from tests.integration.servers.etcd import EtcdServer  # noqa: E402


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


def bench_etcd(base: Path, owner: str, rounds: int) -> dict[str, float] | None:
    binary = shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)
    if binary is None:
        print("etcd: skipped, the etcd binary is not installed (scripts/install-test-servers.sh installs it)")
        return None
    server = EtcdServer(base / "etcd", binary=binary)
    server.start()
    try:
        config = {"host": "127.0.0.1", "port": server.port}
        lock = Lock(config=config, prefix="custom", owner=owner, dry_run=False, max_wait=0)
        return measure(lock, rounds)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300, help="Acquire+release cycles per backend.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    owner = f"bench@{socket.gethostname()} [{os.getpid()}]"

    results: dict[str, dict[str, float]] = {}
    benches: dict[str, Callable[[Path, str, int], dict[str, float] | None]] = {"etcd": bench_etcd, "local": bench_local}
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
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
