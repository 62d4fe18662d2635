"""Speed of chapter 4: the paper's 5-layer Ladder VAE on 28x28 digits.

1. Training throughput (images/s): ``fit`` with ``ladder_elbo`` (warm-up) and dynamic binarisation,
   the paper's model (5 layers 64-32-16-8-4, MLPs 512-256-128-64-32, batch norm), batch 256, on MNIST when
   its IDX files are in the cache, else on the 5,000 MNIST digits shipped with the package (same shapes, same cost).
2. The importance-weighted log-likelihood with k samples (default k = 5000 on 1,000 test images): time and
   peak memory. Each setting runs in a fresh subprocess and reports its peak resident memory (VmHWM, reset
   after the model and data are loaded) minus the resident memory at that point, so the growth with k and with the chunk size can
   be read off: it follows ``chunk_size x batch_size``, not k.

    python benchmarks/bench_lvae.py                          # both parts, CPU, 2 threads
    python benchmarks/bench_lvae.py --part iw --n 100        # a quicker IW figure on 100 images
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from functools import partial

import torch


def _data(n_test: int):
    from vaecourse.data.mnist import dynamic_binarize, load_digit_images
    digits = load_digit_images("auto")
    test = digits.test
    while len(test) < n_test:  # the shipped digits have 1,000 test images: repeat them for a larger timing
        test = torch.cat([test, digits.test])
    return digits, dynamic_binarize(test[:n_test], torch.Generator().manual_seed(0))


def train_throughput(steps: int, batch_size: int, device: str) -> dict:
    from vaecourse.data.mnist import dynamic_binarize
    from vaecourse.models import LadderVAE
    from vaecourse.objectives import ladder_elbo
    from vaecourse.train import fit

    digits, _ = _data(1)
    torch.manual_seed(0)
    model = LadderVAE()
    objective = partial(ladder_elbo, warmup_epochs=200)
    fit(model, objective, digits.train, steps=3, batch_size=batch_size, transform=dynamic_binarize, device=device,
        progress=False)  # warm-up steps (allocations, first-call overheads)
    history = fit(model, objective, digits.train, steps=steps, batch_size=batch_size, transform=dynamic_binarize,
                  device=device, progress=False)
    return {"images_per_s": history.examples_per_second, "steps": steps, "batch_size": batch_size,
            "data": digits.source, "parameters": sum(p.numel() for p in model.parameters())}


def _status_mib(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc (Linux), in MiB; ru_maxrss where /proc is absent."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Reset the peak-RSS mark (VmHWM) to the current RSS: writing 5 to clear_refs (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def iw_run(n: int, k: int, chunk: int, batch: int, device: str) -> dict:
    """One IW measurement (run in its own process by ``main`` so that peak memory is its own)."""
    from vaecourse.metrics import test_log_likelihood
    from vaecourse.models import LadderVAE

    _, test = _data(n)
    torch.manual_seed(0)
    model = LadderVAE().to(device).eval()
    test = test.to(device)
    with torch.no_grad():  # touch every layer once so the baseline includes the allocator's first blocks
        model.log_importance_weights(test[:2], 2)
    base = _status_mib("VmRSS")
    _reset_peak()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = test_log_likelihood(model, test, k=k, chunk_size=chunk, batch_size=batch,
                                 generator=torch.Generator().manual_seed(1))
    seconds = time.perf_counter() - started
    out = {"n": n, "k": k, "chunk": chunk, "batch": batch, "seconds": seconds,
           "peak_rss_growth_mib": _status_mib("VmHWM") - base, "peak_rss_mib": _status_mib("VmHWM"),
           "log_likelihood": result["log_likelihood"]}
    if device.startswith("cuda"):
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "train", "iw"], default="all")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (0: leave as is)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n", type=int, default=1000, help="test images for the IW estimate")
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--iw-batch", type=int, default=100)
    parser.add_argument("--memory-sweep", action="store_true",
                        help="also run k/10 and chunk/5 on fewer images to show what memory follows")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args._child:
        print(json.dumps(iw_run(**json.loads(args._child), device=args.device)))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    if args.part in ("all", "train"):
        r = train_throughput(args.steps, args.batch_size, args.device)
        print(f"training, paper 5-layer LVAE ({r['parameters']:,} parameters), batch {r['batch_size']}, "
              f"{r['steps']} steps: {r['images_per_s']:.0f} images/s  [{r['data']}]")
    if args.part in ("all", "iw"):
        settings = [dict(n=args.n, k=args.k, chunk=args.chunk, batch=args.iw_batch)]
        if args.memory_sweep:
            small = max(10, args.n // 10)
            settings += [dict(n=small, k=args.k, chunk=args.chunk, batch=args.iw_batch),
                         dict(n=small, k=args.k // 10, chunk=args.chunk, batch=args.iw_batch),
                         dict(n=small, k=args.k, chunk=max(1, args.chunk // 5), batch=args.iw_batch)]
        for s in settings:
            child = subprocess.run([sys.executable, __file__, "--device", args.device, "--threads", str(args.threads),
                                    "--_child", json.dumps(s)], capture_output=True, text=True, check=True)
            r = json.loads(child.stdout.strip().splitlines()[-1])
            extra = f", CUDA peak {r['cuda_peak_mib']:.0f} MiB" if "cuda_peak_mib" in r else ""
            print(f"IW log-likelihood, n={r['n']} images, k={r['k']}, chunk {r['chunk']} x batch {r['batch']}: "
                  f"{r['seconds']:.1f} s ({r['n'] * r['k'] / r['seconds']:,.0f} samples/s), peak RSS growth "
                  f"{r['peak_rss_growth_mib']:.0f} MiB (peak {r['peak_rss_mib']:.0f} MiB){extra}; "
                  f"L_k = {r['log_likelihood']:.2f} nats (untrained model)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
