"""Benchmarks of the operator extras: shell completion on a generated tree, ``--history`` on a big journal.

Every command runs as a whole child process, interleaved with a bare interpreter start (``python -c pass``) in
the same rounds, as in ``bench_startup.py``; the figures are medians and ratios to that bare start.

* completion of cookbook names (``cookbook sre.h<TAB>``) with the listing cache warm, on the generated tree of
  1,000 cookbooks: target within 4x a bare interpreter start;
* completion of one cookbook's options (``cookbook <name> --<TAB>``): imports that module only;
* ``cookbook --history`` (table, ``--json``, ``--since 1h``, ``--failed``) on a journal of 10,000 lines.

Usage: python benchmarks/bench_extras.py [--runs N] [--cookbooks N] [--journal-lines N] [--json FILE] [--check]
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_startup import Timing, child_environment, cookbook_command, measure
from generate_tree import generate_tree

COMPLETION_TARGET = 4.0
"""Target: completing cookbook names (warm listing cache) within this many bare interpreter starts."""


def write_journal(path: Path, lines: int, names: list[str]) -> None:
    """A journal of ``lines`` runs over the last week, as the ``cookbook`` command writes it."""
    chooser = random.Random(7)
    now = datetime.now(UTC)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as stream:
        for index in range(lines):
            start = now - timedelta(seconds=(lines - index) * 60)
            duration = chooser.uniform(0.1, 600)
            entry = {
                "run_id": f"{index:016x}",
                "parent_run_id": None,
                "start": start.isoformat(timespec="milliseconds"),
                "end": (start + timedelta(seconds=duration)).isoformat(timespec="milliseconds"),
                "duration": round(duration, 3),
                "user": chooser.choice(("alice", "bob", "carol")),
                "host": "cumin1001",
                "pid": 1000 + index,
                "cookbook": chooser.choice(names),
                "args": ["--reason", "maintenance", "-t", "T123456", "host1001.eqiad.wmnet"],
                "dry_run": False,
                "reason": "maintenance",
                "task_id": "T123456",
                "exit_code": 0 if chooser.random() < 0.9 else 99,
                "status": "PASS",
                "log_files": ["/var/log/spicerack/sre/x.log", "/var/log/spicerack/sre/x-extended.log"],
            }
            stream.write(json.dumps(entry, separators=(",", ":")) + "\n")


def completion(name: str, line: str, output: Path) -> Timing:
    """A timing of the completion of a command line, through argcomplete's protocol (candidates to a file)."""
    environment = {
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(output),
    }
    return Timing(name, cookbook_command(), environment)


def run_benchmark(runs: int, cookbooks: int, journal_lines: int) -> dict[str, object]:
    """Generate the tree and the journal in a temporary directory, measure and return the report."""
    with tempfile.TemporaryDirectory(prefix="spicerack-bench-extras-") as tmp:
        root = Path(tmp)
        names = generate_tree(root / "tree", cookbooks)
        config = root / "config.yaml"
        logs = root / "logs"
        config.write_text(f"cookbooks_base_dirs:\n  - {root / 'tree'}\nlogs_base_dir: {logs}\n")
        write_journal(logs / "journal.jsonl", journal_lines, names)
        environment = child_environment(root)
        cookbook = [*cookbook_command(), "-c", str(config)]
        subprocess.run([*cookbook, "-l"], env=environment, stdout=subprocess.DEVNULL, check=True)  # warm cache
        prefix = names[0][:5]
        output = root / "completions.txt"
        timings = [
            Timing("python -c pass", [sys.executable, "-c", "pass"]),
            completion("complete names (warm)", f"cookbook -c {config} {prefix}", output),
            completion("complete cookbook options", f"cookbook -c {config} {names[0]} --", output),
            Timing("cookbook --history", [*cookbook, "--history"]),
            Timing("cookbook --history --json", [*cookbook, "--history", "--json"]),
            Timing("cookbook --history --since 1h", [*cookbook, "--history", "--since", "1h"]),
            Timing("cookbook --history --failed", [*cookbook, "--history", "--failed", "--since", "1w"]),
        ]
        measure(timings, runs, environment, {})
        completed = len(output.read_text().split("\n")) if output.exists() else 0
    bare = timings[0].median
    commands = {
        timing.name: {
            "median_ms": round(timing.median * 1000, 1),
            "ratio": round(timing.median / bare, 2),
            "cpu_ms": round(timing.median_cpu * 1000, 1),
            "max_rss_mib": round(timing.median_rss_kib / 1024, 1),
        }
        for timing in timings
    }
    ratio = commands["complete names (warm)"]["ratio"]
    return {
        "python": sys.version.split()[0],
        "runs": runs,
        "cookbooks": cookbooks,
        "journal_lines": journal_lines,
        "last_completion_candidates": completed,
        "commands": commands,
        "targets": {
            "complete names (warm)": {"ratio": ratio, "limit": COMPLETION_TARGET, "met": ratio <= COMPLETION_TARGET}
        },
    }


def print_report(report: dict[str, object]) -> None:
    print(
        f"Python {report['python']}, {report['cookbooks']} cookbooks, {report['journal_lines']} journal lines, "
        f"median of {report['runs']} runs"
    )
    print(f"{'command':<34}{'wall ms':>9}{'x bare':>8}{'CPU ms':>9}{'peak RSS MiB':>14}")
    commands = report["commands"]
    assert isinstance(commands, dict)
    for name, figures in commands.items():
        print(
            f"{name:<34}{figures['median_ms']:>9}{figures['ratio']:>8}{figures['cpu_ms']:>9}{figures['max_rss_mib']:>14}"
        )
    targets = report["targets"]
    assert isinstance(targets, dict)
    for name, target in targets.items():
        verdict = "met" if target["met"] else "MISSED"
        print(f"target {name}: {target['ratio']}x <= {target['limit']}x: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="Rounds of measures; the medians are reported.")
    parser.add_argument("--cookbooks", type=int, default=1000, help="Size of the generated tree.")
    parser.add_argument("--journal-lines", type=int, default=10000, help="Size of the generated journal.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    parser.add_argument("--check", action="store_true", help="Exit 1 when a target is missed.")
    args = parser.parse_args(argv)
    report = run_benchmark(args.runs, args.cookbooks, args.journal_lines)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    targets = report["targets"]
    assert isinstance(targets, dict)
    if args.check and not all(target["met"] for target in targets.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
