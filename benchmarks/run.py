"""Run the benchmarks: the startup ones always, the others (if present) on request.

Usage: python benchmarks/run.py [--runs N] [--cookbooks N] [--json FILE] [--check] [--remote] [--locking] [--all]

The benchmarks of other areas (``bench_remote.py``, ``bench_locking.py``) run as their own processes, only
when asked for and only when their file exists.
"""

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_startup  # noqa: E402

OPTIONAL = {"remote": "bench_remote.py", "locking": "bench_locking.py", "extras": "bench_extras.py"}


def run_optional(name: str, script: str) -> int:
    """Run an optional benchmark script as a child process; a missing script is skipped, not an error."""
    path = HERE / script
    if not path.exists():
        print(f"\n== {name}: skipped, {script} is not present")
        return 0
    print(f"\n== {name}: {script}", flush=True)
    return subprocess.run([sys.executable, str(path)], check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="Rounds of the startup measures (medians).")
    parser.add_argument("--cookbooks", type=int, default=1000, help="Size of the generated cookbooks tree.")
    parser.add_argument("--json", type=Path, help="Also write the startup figures to this JSON file.")
    parser.add_argument("--check", action="store_true", help="Exit 1 when a startup target is missed.")
    for name, script in OPTIONAL.items():
        parser.add_argument(f"--{name}", action="store_true", help=f"Also run {script} (if present).")
    parser.add_argument("--all", action="store_true", help="Also run every optional benchmark present.")
    args = parser.parse_args(argv)

    print("== startup: bench_startup.py", flush=True)
    startup_argv = ["--runs", str(args.runs), "--cookbooks", str(args.cookbooks)]
    if args.json:
        startup_argv += ["--json", str(args.json)]
    if args.check:
        startup_argv.append("--check")
    exit_code: int = bench_startup.main(startup_argv)
    for name, script in OPTIONAL.items():
        if args.all or getattr(args, name):
            exit_code = max(exit_code, run_optional(name, script))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
