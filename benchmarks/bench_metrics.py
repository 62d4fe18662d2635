"""Where the time of the Higgins metric goes: the encoder, or everything else (prints figures; no test).

    python benchmarks/bench_metrics.py                  # default sizes: L=64, 10,000 + 5,000 points, conv64
    python benchmarks/bench_metrics.py --scale 0.05     # 5% of the points (a busy machine); same split
    python benchmarks/bench_metrics.py --cache          # also: encode the CPU subgrid once, then the metric

Wall time on a machine shared with other work inflates unevenly; the CPU time of the process (all its threads)
is printed beside it. Target (issue 4): on a 2-core CPU, everything that is not the encoder (drawing factors, rendering the
1.92 million images, |z1 - z2|, the logistic regression) under 20% of the total. The encoder time is measured
inside the representation function (the conv64 encoder's forward pass on each batch of images); the rest is
the difference to the metric's wall time. Every cost is linear in the number of points except the classifier,
which is timed at full size on its own at the end so that a scaled run can be read at default sizes.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the default 10,000 + 5,000 points")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--encode-batch", type=int, default=1024)
    parser.add_argument("--cache", action="store_true", help="also time encode_grid(cpu_subgrid) + the metric on it")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from vaecourse.data import DSprites
    from vaecourse.metrics import cpu_subgrid, encode_grid, higgins
    from vaecourse.metrics.higgins import linear_classifier_accuracy
    from vaecourse.models import VAE

    device = torch.device(args.device)
    data = DSprites(device=device)
    model = VAE(latent_dim=10, encoder="conv64").to(device).eval()  # weights do not change the encoder's cost
    spent = {"encoder": 0.0, "encoder_cpu": 0.0, "images": 0}

    def representation(x: torch.Tensor) -> torch.Tensor:
        if device.type == "cuda":
            torch.cuda.synchronize()
        started, cpu = time.perf_counter(), time.process_time()
        z = model.embed(x).cpu()  # posterior mean, (B, 10)
        spent["encoder"] += time.perf_counter() - started
        spent["encoder_cpu"] += time.process_time() - cpu
        spent["images"] += x.shape[0]
        return z

    n_train, n_eval = max(5, round(10_000 * args.scale)), max(5, round(5_000 * args.scale))
    print(f"Higgins metric, conv64 encoder, L=64, {n_train:,} + {n_eval:,} points "
          f"({(n_train + n_eval) * 128:,} images), {args.threads} threads on {device} (cpus: {os.cpu_count()})")
    with torch.no_grad():
        representation(data.render(data.sample_factors(64, torch.Generator().manual_seed(1))))  # warm-up
    spent.update(encoder=0.0, encoder_cpu=0.0, images=0)
    started, cpu = time.perf_counter(), time.process_time()
    result = higgins(data, representation, generator=torch.Generator().manual_seed(0), n_train=n_train, n_eval=n_eval,
                     encode_batch_size=args.encode_batch)
    total, total_cpu = time.perf_counter() - started, time.process_time() - cpu
    other = total - spent["encoder"]
    other_cpu = total_cpu - spent["encoder_cpu"]
    print(f"  total {total:8.1f} s   encoder {spent['encoder']:8.1f} s ({spent['images'] / spent['encoder']:,.0f} images/s)"
          f"   everything else {other:6.1f} s = {100 * other / total:.1f}% of the total   "
          f"(eval accuracy {result['eval_accuracy']:.3f}, untrained model)")
    print(f"  CPU time (all threads; less sensitive to other load): total {total_cpu:.1f} s, encoder "
          f"{spent['encoder_cpu']:.1f} s, everything else {other_cpu:.1f} s = {100 * other_cpu / total_cpu:.1f}%")

    # the classifier at full size, on features shaped like the metric's (10,000 x 10, 5 classes)
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(size=(15_000, 10)))
    y = rng.integers(0, 5, 15_000)
    x[np.arange(15_000), y * 2] *= 0.1
    started = time.perf_counter()
    linear_classifier_accuracy(x[:10_000], y[:10_000], x[10_000:], y[10_000:])
    classifier = time.perf_counter() - started
    if args.scale != 1.0:
        per_point_other = (other - classifier) / (n_train + n_eval)  # (the small classifier is at most this)
        per_point_encoder = spent["encoder"] / (n_train + n_eval)
        full_other, full_encoder = per_point_other * 15_000 + classifier, per_point_encoder * 15_000
        print(f"  read at default sizes (linear in points; classifier timed at full size, {classifier:.1f} s): "
              f"encoder {full_encoder:.0f} s, everything else {full_other:.0f} s = "
              f"{100 * full_other / (full_other + full_encoder):.1f}% of {full_other + full_encoder:.0f} s")
    else:
        print(f"  of which the logistic regression alone (10,000 x 10, 5 classes): {classifier:.1f} s")

    if args.cache:
        sub = cpu_subgrid(data)
        spent.update(encoder=0.0, images=0)
        started = time.perf_counter()
        cache = encode_grid(sub, representation, batch_size=args.encode_batch)
        encoded = time.perf_counter() - started
        started = time.perf_counter()
        result = higgins(sub, cache, generator=torch.Generator().manual_seed(0))
        metric = time.perf_counter() - started
        print(f"encode once: cpu_subgrid ({len(sub):,} images) encoded in {encoded:.1f} s "
              f"(encoder {spent['encoder']:.1f} s); Higgins at default sizes on the cached codes {metric:.1f} s "
              f"(eval accuracy {result['eval_accuracy']:.3f})")


if __name__ == "__main__":
    main()
