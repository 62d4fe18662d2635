"""Re-measure the shipped dSprites models on two renderers: an older ``vaecourse/data/dsprites.py`` and today's.

Run: python benchmarks/remeasure_dsprites_models.py [--old-rev c7b6d3f] [--higgins] [--new-only]

For each shipped dSprites checkpoint, the figures that ``vaecourse/pretrained/README.md`` and notebooks 01-03
record, computed the same way on images drawn by the old renderer (the file at git revision ``--old-rev``)
and by the current one:
- ``ch1_vae_conv64`` (64x64): ELBO, log p(x|z) and KL on 2,000 fresh images (seed 1);
- chapter 2's sweep and chapter 3's seed-1 models (pooled to 32x32): ELBO, log p(x|z), KL on 1,024 fresh
  images (seed 7), active latents (KL_d > 0.1), and |Spearman rho| of the matched latents with posX / posY /
  scale (``metrics.factor_latent_correlations``, 2,048 images, seed 1), as notebook 02 computes them;
- with ``--higgins``: notebook 03's Higgins metric (eval accuracy, its default sizes) on the CPU subsample
  of the grid for the six beta = 1, 4, 8 models (seeds 0 and 1).
The model forward pass uses its own seeded generator (0), so the two columns differ only by the images.
``--new-only`` measures on today's renderer alone (half the time; models trained on it need no old column).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vaecourse import metrics, pretrained
from vaecourse.data import DSprites
from vaecourse.metrics import (active_latents, cpu_subgrid, encode_grid, factor_latent_correlations,
                               model_kl_per_dimension)
from vaecourse.objectives import elbo

CHAPTER2 = ["ch2_beta1", "ch2_beta2", "ch2_beta4", "ch2_beta8", "ch2_beta16", "ch2_constrained"]
CHAPTER3 = ["ch3_beta1_seed1", "ch3_beta4_seed1", "ch3_beta8_seed1"]
HIGGINS_MODELS = ["ch2_beta1", "ch2_beta4", "ch2_beta8"] + CHAPTER3


def old_renderer(rev: str) -> DSprites:
    """``DSprites`` from ``vaecourse/data/dsprites.py`` as it was at git revision ``rev``."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "show", f"{rev}:vaecourse/data/dsprites.py"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "dsprites_old.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("dsprites_old", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["dsprites_old"] = module
    spec.loader.exec_module(module)
    return module.DSprites()


def pool(x):
    return F.avg_pool2d(x, 2)  # notebook 02's 64x64 -> 32x32


@torch.no_grad()
def terms(model, x) -> dict:
    out = elbo(model(x, generator=torch.Generator().manual_seed(0)), x)
    return {"elbo": out.elbo.mean().item(), "log_px_z": out.log_px_z.mean().item(), "kl": out.kl.mean().item()}


def measure(name: str, data: DSprites) -> dict:
    model = pretrained.load(name).eval()
    if name == "ch1_vae_conv64":
        return terms(model, data.sample(2000, generator=torch.Generator().manual_seed(1))[0])
    x_eval = pool(data.sample(1024, generator=torch.Generator().manual_seed(7))[0])
    row = terms(model, x_eval)
    row["active"] = len(active_latents(model_kl_per_dimension(model, x_eval), 0.1))
    with torch.no_grad():
        rho = factor_latent_correlations(data, lambda x: model.embed(pool(x)), generator=torch.Generator().manual_seed(1))
    row["rho"] = [float(r) for r in rho["abs_rho"]]
    row["latents"] = [int(d) for d in rho["latent"]]
    row["separate"] = bool(rho["separate"])
    return row


def higgins(name: str, data: DSprites) -> float:
    """Notebook 03's Higgins metric (eval accuracy) for one shipped model on the CPU subsample of the grid."""
    model = pretrained.load(name).eval()
    seed = 1 if name.endswith("seed1") else 0
    grid = cpu_subgrid(data)
    with torch.no_grad():
        cache = encode_grid(grid, {"vae": lambda x: model.embed(pool(x))}, batch_size=2048)["vae"]
    score = metrics.higgins(grid, cache, generator=torch.Generator().manual_seed(seed), batch_size=64,
                            n_train=10_000, n_eval=5_000)
    return float(score["eval_accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-rev", default="c7b6d3f", help="git revision of the old renderer (default: before issue 12)")
    parser.add_argument("--models", nargs="*", default=["ch1_vae_conv64"] + CHAPTER2 + CHAPTER3)
    parser.add_argument("--higgins", action="store_true", help="also notebook 03's Higgins metric (slow on a CPU)")
    parser.add_argument("--new-only", action="store_true", help="only today's renderer (no old column)")
    args = parser.parse_args()
    renderers = {"new": DSprites()} if args.new_only else {"old": old_renderer(args.old_rev), "new": DSprites()}
    print(f"old renderer: {args.old_rev}; new: this checkout; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    for name in args.models:
        started = time.perf_counter()
        rows = {label: measure(name, data) for label, data in renderers.items()}
        for label, row in rows.items():
            text = f"ELBO {row['elbo']:8.2f}  log p(x|z) {row['log_px_z']:8.2f}  KL {row['kl']:6.2f}"
            if "rho" in row:
                rho = " / ".join(f"{r:.3f}" for r in row["rho"])
                text += (f"  active {row['active']}  |rho| X/Y/scale {rho} "
                         f"(z{', z'.join(map(str, row['latents']))})  separate {row['separate']}")
            print(f"{name:17s} {label}: {text}", flush=True)
        print(f"{'':17s} ({time.perf_counter() - started:.0f} s)", flush=True)
    if args.higgins:
        for name in HIGGINS_MODELS:
            if name not in args.models:
                continue
            scores = {label: higgins(name, data) for label, data in renderers.items()}
            print(f"{name:17s} Higgins eval accuracy: " + "  ".join(f"{label} {score:.3f}" for label, score in scores.items()),
                  flush=True)


if __name__ == "__main__":
    main()
