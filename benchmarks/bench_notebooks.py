"""Wall time of each notebook executed top to bottom (FAST mode by default), printed as a table.

    python benchmarks/bench_notebooks.py                 # every notebooks/, solutions/, exercises/ .ipynb, FAST
    python benchmarks/bench_notebooks.py --normal notebooks/01_elbo.ipynb   # the real, full-size run

Timing never decides a test; the issue targets (e.g. FAST 01 under 60 s on the 2-core CI machine) are read here.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path, fast: bool, timeout: int) -> float:
    import nbformat
    from nbclient import NotebookClient

    os.environ["VAECOURSE_FAST"] = "1" if fast else "0"
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--normal", action="store_true", help="normal mode instead of FAST")
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    args = parser.parse_args()
    paths = [Path(p) for p in args.paths] or sorted(p for d in ("notebooks", "solutions", "exercises")
                                                    for p in (ROOT / d).glob("[0-9]*.ipynb"))
    print(f"{'notebook':40s} {'mode':6s} seconds  (cpus: {os.cpu_count()})")
    for path in paths:
        seconds = run(path.resolve(), fast=not args.normal, timeout=args.timeout)
        print(f"{str(path.resolve().relative_to(ROOT)):40s} {'normal' if args.normal else 'FAST':6s} {seconds:7.1f}", flush=True)


if __name__ == "__main__":
    main()
