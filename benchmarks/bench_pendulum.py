"""Speed of chapter 5's simulator and metric, printed (timing never decides a test).

    python benchmarks/bench_pendulum.py            # full 7,308-image grid at 96x96; MIC on 7,308 pairs
    python benchmarks/bench_pendulum.py --size 64 --threads 2

Targets (issue 6): the whole grid rendered in under 10 s on a 2-core CPU; MIC reported in seconds per pair of
variables at n = 7,308.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from vaecourse.data.pendulum import Pendulum, render_scene
from vaecourse.metrics.mic import mic_tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=1024, help="images rendered per call")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"cpus: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, load average: "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")

    data = Pendulum(size=args.size)
    concepts = data.concepts(data.factors_at(torch.arange(len(data))))
    render_scene(concepts[:64], args.size)  # warm-up
    best, cpu = float("inf"), float("inf")
    for _ in range(args.repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(0, len(concepts), args.chunk):
            render_scene(concepts[start:start + args.chunk], args.size)
        best = min(best, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - cpu_started)
    print(f"renderer: full grid of {len(concepts):,} images at {args.size}x{args.size} RGB in {best:.2f} s wall "
          f"= {len(concepts) / best:,.0f} images/s (best of {args.repeats}); {cpu:.2f} s of CPU time over all threads "
          "(on a shared machine the wall time includes waiting for the CPU)")

    rng = np.random.default_rng(0)
    c = concepts.numpy()
    pairs = {"theta vs shadow length (grid, 84 distinct x)": (c[:, 0], c[:, 2]),
             "shadow position vs shadow length (grid)": (c[:, 3], c[:, 2]),
             "continuous noisy function (like a latent)": (c[:, 3] + 0.5 * rng.normal(size=len(c)), c[:, 2]),
             "independent continuous": (rng.normal(size=len(c)), rng.normal(size=len(c)))}
    for name, (x, y) in pairs.items():
        started, cpu_started = time.perf_counter(), time.process_time()
        m, t = mic_tic(x, y)
        print(f"MIC/TIC on {len(x):,} pairs, {name}: {time.perf_counter() - started:.2f} s wall "
              f"({time.process_time() - cpu_started:.2f} s CPU) per pair of variables (MIC {m:.3f}, TIC {t:.3f})")


if __name__ == "__main__":
    main()
