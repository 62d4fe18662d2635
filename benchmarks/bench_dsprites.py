"""Speed of the procedural dSprites renderer (prints figures; timing never decides a test).

Run: python benchmarks/bench_dsprites.py [--threads 2] [--device cpu]
Targets on a 2-core CPU: >= 50,000 random images/s; the whole 737,280-image grid (uint8, in chunks,
not kept) in under 15 s.
"""

from __future__ import annotations

import argparse
import time

import torch

from vaecourse.data import DSprites


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_batches(data: DSprites, batch_size: int, steps: int, dtype: torch.dtype) -> float:
    """Images per second for ``steps`` random batches (factor sampling included)."""
    generator = torch.Generator().manual_seed(0)
    for _ in data.batches(batch_size, 2, generator, dtype=dtype):  # warm-up
        pass
    _sync(data.device)
    start = time.perf_counter()
    for _ in data.batches(batch_size, steps, generator, dtype=dtype):
        pass
    _sync(data.device)
    return batch_size * steps / (time.perf_counter() - start)


def whole_grid(data: DSprites, batch_size: int) -> float:
    """Seconds to render all 737,280 images in official order as uint8 chunks (each chunk dropped)."""
    _sync(data.device)
    start = time.perf_counter()
    for _ in data.iter_grid(batch_size, dtype=torch.uint8):
        pass
    _sync(data.device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, like CI)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = DSprites(device=args.device)
    print(f"dSprites renderer on {data.device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    for batch_size in (64, 256, 4096):
        for dtype in (torch.float32, torch.uint8):
            rate = random_batches(data, batch_size, args.steps, dtype)
            print(f"  random batches  B={batch_size:5d}  {str(dtype):13s}  {rate:12,.0f} images/s")
    for batch_size in (4096, 16384):
        seconds = whole_grid(data, batch_size)
        print(f"  whole grid      737,280 images uint8, chunks of {batch_size:5d}: {seconds:6.2f} s "
              f"({737_280 / seconds:,.0f} images/s)")


if __name__ == "__main__":
    main()
