"""Startup benchmarks: ``cookbook -l`` and ``cookbook <one> --help`` on a generated tree, and ``import spicerack``.

Every command runs as a whole child process, interleaved with a bare interpreter start (``python -c pass``)
measured in the same rounds: the figures are medians over the rounds and ratios to that bare start, so they
compare across machines. The peak memory is the child's ``ru_maxrss``.

Usage: python benchmarks/bench_startup.py [--runs N] [--cookbooks N] [--json FILE] [--check]
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_tree import generate_tree

LISTING_TARGET = 4.0
"""Target: ``cookbook -l`` on the generated tree within this many bare interpreter starts."""
IMPORT_TARGET = 1.5
"""Target: ``import spicerack`` within this many bare interpreter starts."""
HEAVY_MODULES = (
    "cumin",
    "ClusterShell",
    "requests",
    "urllib3",
    "etcd",
    "pymysql",
    "wmflib",
    "importlib.metadata",
    "yaml",
    "pyparsing",
    "colorama",
)
"""Top-level packages that must not be imported by ``import spicerack`` (nor by a cached listing)."""
MODULES_SCRIPT = """
import sys
before = set(sys.modules)
{statement}
loaded = sorted(set(sys.modules) - before)
sys.stdout = sys.__stdout__
print("\\n".join(loaded))
"""


@dataclass
class Timing:
    """The measures of one command over the rounds."""

    name: str
    command: list[str]
    extra_environment: dict[str, str] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    max_rss_kib: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu_seconds)

    @property
    def median_rss_kib(self) -> int:
        return int(statistics.median(self.max_rss_kib))


@dataclass
class ImportProfile:
    """What a statement imports in a fresh interpreter."""

    modules: int
    importtime_us: int
    slowest: list[tuple[str, int]]
    heavy_modules: list[str]


@dataclass
class Report:
    """Everything measured by one run of the benchmark, as written to the JSON file."""

    python: str
    cpus: int
    runs: int
    cookbooks: int
    bare_seconds: float
    commands: dict[str, dict[str, float | int]]
    imports: dict[str, ImportProfile]
    targets: dict[str, dict[str, float | bool]]


def cookbook_command() -> list[str]:
    """The ``cookbook`` console script installed next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).parent / "cookbook"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "spicerack._cookbook"]


def child_environment(root: Path) -> dict[str, str]:
    """An isolated environment for the children: own HOME and XDG dirs, bytecode written as on a real host."""
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment.pop("SPICERACK_CONFIG", None)
    for variable, relative in (
        ("HOME", "home"),
        ("XDG_CONFIG_HOME", "home/.config"),
        ("XDG_CACHE_HOME", "home/.cache"),
        ("XDG_STATE_HOME", "home/.state"),
    ):
        environment[variable] = str(root / relative)
    return environment


def run_once(command: list[str], environment: dict[str, str]) -> tuple[float, float, int]:
    """Run a command to completion; return its wall time, its CPU time (user + system) and its peak RSS (KiB)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read() if process.stderr else b""
    if process.stderr:
        process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}: {stderr.decode(errors='replace')}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def measure(timings: list[Timing], runs: int, environment: dict[str, str], before_each: dict[str, object]) -> None:
    """Run every command ``runs`` times, interleaved in a new order each round so drifts hit them all alike."""
    for timing in timings:  # warm-up: bytecode, page cache, listing cache
        run_once(timing.command, {**environment, **timing.extra_environment})
    shuffler = random.Random(42)
    for _ in range(runs):
        for timing in shuffler.sample(timings, len(timings)):
            hook = before_each.get(timing.name)
            if callable(hook):
                hook()
            elapsed, cpu, rss = run_once(timing.command, {**environment, **timing.extra_environment})
            timing.seconds.append(elapsed)
            timing.cpu_seconds.append(cpu)
            timing.max_rss_kib.append(rss)


def import_profile(statement: str, environment: dict[str, str]) -> ImportProfile:
    """Profile a statement in a fresh interpreter: ``-X importtime`` total, and the modules it loads."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", MODULES_SCRIPT.format(statement=statement)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = result.stdout.split()
    rows = parse_importtime(result.stderr)
    after_site = rows[[name for name, _, _ in rows].index("site") + 1 :] if any(r[0] == "site" for r in rows) else rows
    top_level = [cumulative for _, cumulative, depth in after_site if depth == 0]
    nested = [(name, cumulative) for name, cumulative, depth in after_site if depth <= 1]
    heavy = sorted({name for name in HEAVY_MODULES if any(m == name or m.startswith(f"{name}.") for m in loaded)})
    return ImportProfile(len(loaded), sum(top_level), sorted(nested, key=lambda row: -row[1])[:6], heavy)


def parse_importtime(stderr: str) -> list[tuple[str, int, int]]:
    """Parse ``-X importtime`` lines into (module, cumulative microseconds, nesting depth)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        stripped = name.lstrip()
        rows.append((stripped.strip(), int(cumulative), (len(name) - len(stripped) - 1) // 2))
    return rows


def run_benchmark(runs: int, cookbooks: int) -> Report:
    """Generate the tree in a temporary directory, measure everything and return the report."""
    with tempfile.TemporaryDirectory(prefix="spicerack-bench-") as tmp:
        root = Path(tmp)
        names = generate_tree(root / "tree", cookbooks)
        config = root / "config.yaml"
        config.write_text(f"cookbooks_base_dirs:\n  - {root / 'tree'}\nlogs_base_dir: {root / 'logs'}\n")
        environment = child_environment(root)
        cookbook = [*cookbook_command(), "-c", str(config)]
        cold_cache = root / "cold-cache"  # its own, emptied before each run, not to disturb the warm listings
        module_api = names[0]  # imports the cookbook API, the accessor and wmflib.interactive
        class_api = names[1]  # also spicerack.remote, hence cumin and ClusterShell
        timings = [
            Timing("python -c pass", [sys.executable, "-c", "pass"]),
            Timing("import spicerack", [sys.executable, "-c", "import spicerack"]),
            Timing("import spicerack.cookbook", [sys.executable, "-c", "import spicerack.cookbook"]),
            Timing("cookbook -l", [*cookbook, "-l"]),
            Timing("cookbook -l -v", [*cookbook, "-l", "-v"]),
            Timing("cookbook -l (no cache)", [*cookbook, "-l"], {"XDG_CACHE_HOME": str(cold_cache)}),
            Timing("cookbook <module API> --help", [*cookbook, module_api, "--help"]),
            Timing("cookbook <class API> --help", [*cookbook, class_api, "--help"]),
        ]
        measure(timings, runs, environment, {"cookbook -l (no cache)": lambda: shutil.rmtree(cold_cache, True)})
        listing_modules = (
            "import sys\nfrom spicerack._cookbook import main\nsys.stdout = open('/dev/null', 'w')\n"
            f"main(['-c', {str(config)!r}, '-l'])"
        )
        import_profile(listing_modules, environment)  # fills the listing cache for this interpreter's sys.path
        imports = {
            "import spicerack": import_profile("import spicerack", environment),
            "import spicerack.cookbook": import_profile("import spicerack.cookbook", environment),
            "cookbook -l": import_profile(listing_modules, environment),
        }
    bare, bare_cpu = timings[0].median, timings[0].median_cpu
    commands = {
        timing.name: {
            "median_ms": round(timing.median * 1000, 1),
            "ratio": round(timing.median / bare, 2),
            "cpu_ms": round(timing.median_cpu * 1000, 1),
            "cpu_ratio": round(timing.median_cpu / bare_cpu, 2),
            "max_rss_mib": round(timing.median_rss_kib / 1024, 1),
        }
        for timing in timings
    }
    targets = {
        "cookbook -l": _target(commands["cookbook -l"]["ratio"], LISTING_TARGET),
        "import spicerack": _target(commands["import spicerack"]["ratio"], IMPORT_TARGET),
    }
    return Report(sys.version.split()[0], os.cpu_count() or 0, runs, cookbooks, bare, commands, imports, targets)


def _target(ratio: float, limit: float) -> dict[str, float | bool]:
    return {"ratio": ratio, "limit": limit, "met": ratio <= limit}


def print_report(report: Report) -> None:
    print(f"Python {report.python}, {report.cpus} CPUs, {report.cookbooks} cookbooks, median of {report.runs} runs")
    print(f"bare interpreter start (python -c pass): {report.bare_seconds * 1000:.1f} ms = 1.00x\n")
    header = ("command", "wall ms", "x bare", "CPU ms", "x bare", "peak RSS MiB")
    print(f"{header[0]:<28}{header[1]:>9}{header[2]:>8}{header[3]:>9}{header[4]:>8}{header[5]:>14}")
    for name, figures in report.commands.items():
        print(
            f"{name:<28}{figures['median_ms']:>9}{figures['ratio']:>8}{figures['cpu_ms']:>9}{figures['cpu_ratio']:>8}"
            f"{figures['max_rss_mib']:>14}"
        )
    print()
    for name, profile in report.imports.items():
        slowest = ", ".join(f"{module} {micros / 1000:.1f}ms" for module, micros in profile.slowest)
        print(f"{name}: {profile.modules} modules, {profile.importtime_us / 1000:.1f} ms (-X importtime)")
        print(f"    slowest: {slowest}")
        print(f"    heavy modules loaded: {', '.join(profile.heavy_modules) or 'none'}")
    print()
    for name, target in report.targets.items():
        verdict = "met" if target["met"] else "MISSED"
        print(f"target {name}: {target['ratio']}x <= {target['limit']}x: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="Rounds of measures; the medians are reported.")
    parser.add_argument("--cookbooks", type=int, default=1000, help="Size of the generated tree.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    parser.add_argument("--check", action="store_true", help="Exit 1 when a target is missed.")
    args = parser.parse_args(argv)
    report = run_benchmark(args.runs, args.cookbooks)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    if args.check and not all(target["met"] for target in report.targets.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
