"""What every benchmark prints and writes: a table, and JSON with the machine it ran on."""

import datetime
import json
import os
import pathlib
import platform
import statistics
import sys

from launch.launch_record import installed_versions

# Versions recorded with every result, when installed.
PACKAGES = (
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "keras-hub",
    "torch",
    "transformers",
    "ctranslate2",
    "numpy",
)


def machine():
    """The host, the date and the package versions a result was measured with."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1),
        "versions": installed_versions(PACKAGES),
    }


def median(results, key):
    """The median of `key` over a side's repeated measurements."""
    return statistics.median(result[key] for result in results)


def print_table(title, columns, rows):
    """Prints `rows` (sequences of cells) under `columns`, aligned."""
    cells = [[_format(cell) for cell in row] for row in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(columns, *cells)]
    print(title)
    for row in [columns, *cells]:
        first, *rest = row
        line = f"  {first:<{widths[0]}}"
        line += "".join(f"  {cell:>{width}}" for cell, width in zip(rest, widths[1:]))
        print(line)


def add_output_argument(parser, name):
    """`--output`, by default `outputs/benchmarks/NAME.json` (git ignores outputs/)."""
    parser.add_argument("--output", default=f"outputs/benchmarks/{name}.json")


def write_results(path, benchmark, settings, results):
    """Writes the results with the command and machine that made them."""
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": benchmark,
        "command": " ".join(["python", "-m", benchmark, *sys.argv[1:]]),
        "machine": machine(),
        "settings": settings,
        "results": results,
    }
    with open(path, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=2)
        file.write("\n")


def _format(cell):
    if isinstance(cell, float):
        return f"{cell:,.3g}" if abs(cell) < 100 else f"{cell:,.0f}"
    return str(cell)


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
