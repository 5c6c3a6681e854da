"""Benchmark: ``RemoteHosts.run_sync('true')`` against the same execution through cumin's own API.

Starts a fleet of real sshd hosts on loopback (the integration tests' :py:class:`SSHFleet`), then runs ``true`` on
10 and 50 of them, alternating Spicerack and plain cumin, and reports the median times and their ratio.

Run on demand: ``.venv/bin/python benchmarks/bench_remote.py [--repeat N]``.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cumin import Config, query, transport, transports
from cumin.transports.clustershell import NullReporter

from spicerack.remote import Remote
from tests.integration.servers.sshd import SSHFleet

SIZES = (10, 50)


def run_with_spicerack(remote: Remote, hosts_query: str) -> Callable[[], int]:
    remote_hosts = remote.query(hosts_query)

    def run() -> int:
        results = remote_hosts.run_sync("true", print_output=False, print_progress_bars=False)
        return len(list(results))

    return run


def run_with_cumin(config_path: str, hosts_query: str) -> Callable[[], int]:
    config = Config(config_path)
    hosts = query.Query(config).execute(hosts_query)

    def run() -> int:
        worker = transport.Transport.new(config, transports.Target(hosts))
        worker.commands = ["true"]
        worker.handler = "sync"
        worker.success_threshold = 1.0
        worker.progress_bars = False
        worker.reporter = NullReporter
        if worker.execute() != 0:
            raise RuntimeError("cumin execution failed")
        return len(list(worker.get_results()))

    return run


def timed(func: Callable[[], int]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def bench(fleet: SSHFleet, size: int, repeat: int) -> tuple[float, float]:
    hosts_query = f"test-host[01-{size:02d}]"
    spicerack_run = run_with_spicerack(Remote(str(fleet.cumin_config), dry_run=False), hosts_query)
    cumin_run = run_with_cumin(str(fleet.cumin_config), hosts_query)
    spicerack_run()  # warm up both paths (imports, ClusterShell task, sshd caches)
    cumin_run()
    spicerack_times: list[float] = []
    cumin_times: list[float] = []
    for index in range(repeat):
        order = [(spicerack_run, spicerack_times), (cumin_run, cumin_times)]
        for func, times in order if index % 2 == 0 else reversed(order):
            times.append(timed(func))
    return statistics.median(spicerack_times), statistics.median(cumin_times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each variant per fleet size (default: 7)")
    args = parser.parse_args()
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as base_dir:
        fleet = SSHFleet(Path(base_dir), max(SIZES), sshd_binary=sshd)
        fleet.start_all()
        try:
            print(f"{'hosts':>5}  {'spicerack (s)':>13}  {'cumin (s)':>9}  {'ratio':>5}")
            for size in SIZES:
                spicerack_time, cumin_time = bench(fleet, size, args.repeat)
                print(f"{size:>5}  {spicerack_time:>13.3f}  {cumin_time:>9.3f}  {spicerack_time / cumin_time:>5.2f}")
        finally:
            fleet.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
