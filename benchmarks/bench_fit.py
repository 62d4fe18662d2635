"""Images per second of vaecourse.train.fit against a bare PyTorch loop, same model, data and objective.

A conv64 VAE (Burgess et al., latent 10) at batch 64 on random binary 64x64 images held in memory:

  bare           for each step: x = data[idx]; terms = elbo(model(x), x); zero_grad; backward; Adam step
  fit            vaecourse.train.fit(..., progress=False)  (same Adam, same objective)
  fit+progress   vaecourse.train.fit(..., progress=True)   (tqdm bar on stderr)

The variants run interleaved in one process (round r runs bare, fit, fit+progress in a rotated order,
``--steps`` steps each after a warm-up), so that drift in the machine hits all of them alike; the
script prints the median images/s of each and the ratio fit/bare.

With ``--data dsprites`` every step renders a fresh batch of dSprites on the training device instead
(``DSprites(device).batches``: the training stream of the course, no DataLoader), and the script also
reports the fraction of a bare step's time spent producing the data (rendering alone, timed with
device synchronisation, over the median bare step time).

    python benchmarks/bench_fit.py                    # CPU, 2 threads, 5 rounds of 30 steps
    python benchmarks/bench_fit.py --device cuda --threads 0 --data dsprites --steps 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from vaecourse.models import VAE
from vaecourse.objectives import elbo
from vaecourse.runtime import default_device
from vaecourse.train import fit

BATCH = 64


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed optimiser steps per variant and round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved repetitions; medians are reported")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per variant before the first round")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (0 leaves the default)")
    parser.add_argument("--examples", type=int, default=2048, help="random binary images held in memory")
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--data", choices=["memory", "dsprites"], default="memory",
                        help="memory: random binary images held on the device; dsprites: rendered on the device each step")
    return parser.parse_args(argv)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def bare_loop(model, optimizer, batches, steps: int) -> None:
    """The hand-written loop chapter 1 shows: minibatch, forward, -ELBO, backward, Adam step."""
    for _ in range(steps):
        x = next(batches)
        terms = elbo(model(x), x)
        optimizer.zero_grad(set_to_none=True)
        terms.loss.backward()
        optimizer.step()


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = default_device(args.device)
    generator = torch.Generator().manual_seed(1)
    if args.data == "memory":
        data = (torch.rand(args.examples, 1, 64, 64, generator=torch.Generator().manual_seed(0)) > 0.5).float().to(device)

        def stream():
            while True:
                yield data[torch.randint(data.shape[0], (BATCH,), generator=generator).to(device)]
    else:
        from vaecourse.data import DSprites
        dsprites = DSprites(device=device)

        def stream():
            for x, _ in dsprites.batches(BATCH, generator=generator):  # rendered on the device, step by step
                yield x
    batches = stream()

    variants = {}
    for name in ("bare", "fit", "fit+progress"):
        torch.manual_seed(0)  # the same initial weights for every variant
        model = VAE(latent_dim=args.latent_dim, encoder="conv64", image_shape=(1, 64, 64)).to(device)
        variants[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-4))

    def run(name: str, steps: int) -> float:
        model, optimizer = variants[name]
        synchronize(device)
        start = time.perf_counter()
        if name == "bare":
            model.train()
            bare_loop(model, optimizer, batches, steps)
        else:
            fit(model, elbo, batches, steps=steps, batch_size=BATCH, optimizer=optimizer, device=device, seed=None,
                progress=name == "fit+progress", desc=name)
        synchronize(device)
        return time.perf_counter() - start

    for name in variants:
        run(name, args.warmup)

    rates: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
        for name in order:
            rates[name].append(args.steps * BATCH / run(name, args.steps))

    data_seconds = []
    for _ in range(args.rounds):  # producing the data alone, per step
        synchronize(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            next(batches)
        synchronize(device)
        data_seconds.append((time.perf_counter() - start) / args.steps)

    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__} conv64 latent={args.latent_dim} "
          f"batch={BATCH} steps/round={args.steps} rounds={args.rounds} data={args.data}", flush=True)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, values in rates.items():
        print(f"{name:>13}: median {medians[name]:8.1f} images/s   rounds: "
              + " ".join(f"{v:.1f}" for v in values), flush=True)
    for name in ("fit", "fit+progress"):
        print(f"ratio {name}/bare = {medians[name] / medians['bare']:.3f}", flush=True)
    step_seconds = BATCH / medians["bare"]
    print(f"producing the data: median {statistics.median(data_seconds) * 1e3:.2f} ms per batch = "
          f"{statistics.median(data_seconds) / step_seconds:.1%} of a bare step ({step_seconds * 1e3:.2f} ms)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
