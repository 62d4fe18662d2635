"""How fast does a beta-VAE find position X, position Y and scale? |Spearman rho| against CPU time, per seed.

Trains a VAE from scratch with the beta objective on rendered dSprites (optionally average-pooled to
32x32) and every ``--eval-every`` steps prints, per seed: steps, CPU seconds of this process, wall seconds
and the |rho| of the distinct latents matched to posX / posY / scale
(vaecourse.metrics.factor_latent_correlations, 2048 fresh images). Stops at ``--steps`` or when the
process has used ``--cpu-budget`` CPU seconds. CPU seconds (not wall) make runs on a shared machine
comparable; with ``--threads 1`` they are single-core seconds.

The run is a recipe (``vaecourse/recipes.py``, default ``ch2-beta4``); the flags below override its fields.

    python benchmarks/bench_beta_factors.py --steps 4500 --seeds 0 1 2 3 4      # chapter 2's recipe, five seeds
    python benchmarks/bench_beta_factors.py --logvar-bias none --kl-warmup 500 --steps 4500 --seeds 0 1 2  # the old one
    python benchmarks/bench_beta_factors.py --encoder conv64 --image-size 64 --seeds 0 --cpu-budget 600
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import torch

from vaecourse import recipes
from vaecourse.metrics import factor_latent_correlations
from vaecourse.train import History, StopTraining


def _float_or_none(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="ch2-beta4", choices=tuple(recipes.RECIPES), help="the run (default ch2-beta4)")
    p.add_argument("--encoder", default=argparse.SUPPRESS)
    p.add_argument("--image-size", type=int, default=argparse.SUPPRESS)
    p.add_argument("--latent-dim", type=int, default=argparse.SUPPRESS)
    p.add_argument("--beta", type=float, default=argparse.SUPPRESS)
    p.add_argument("--kl-warmup", type=int, default=argparse.SUPPRESS)
    p.add_argument("--logvar-bias", type=_float_or_none, default=argparse.SUPPRESS,
                   help="VAE(logvar_bias=...): start log sigma^2 there (none: the default initialisation)")
    p.add_argument("--batch-size", type=int, default=argparse.SUPPRESS)
    p.add_argument("--lr", type=float, default=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=argparse.SUPPRESS, help="(default: the recipe's)")
    p.add_argument("--cpu-budget", type=float, default=180.0, help="CPU seconds per seed")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--save", default=None, help="save each seed's final model to SAVE.seedN.pt")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = replace(recipes.get(args.recipe), **{k: v for k, v in vars(args).items() if k in recipes.FIELDS})
    data = recipes.make_data(recipe, torch.device("cpu")).dataset  # Pooled(DSprites(), side): what the model sees
    print(f"recipe={args.recipe} encoder={recipe.encoder} image={recipe.image_size} beta={recipe.beta} "
          f"warmup={recipe.kl_warmup} logvar_bias={recipe.logvar_bias} batch={recipe.batch_size} lr={recipe.lr} "
          f"threads={torch.get_num_threads()}", flush=True)
    finals = []
    for seed in args.seeds:
        run = recipes.build(replace(recipe, seed=seed), device="cpu")  # the command line's run with --seed SEED
        model, history, first_pass, score = run.model, History(), None, None
        cpu0, wall0 = time.process_time(), time.perf_counter()

        def evaluate(step: int, *_) -> None:  # after every --eval-every steps (and the last): score, maybe stop
            nonlocal first_pass, score
            done = step + 1
            if done % args.eval_every and done != recipe.steps:
                return
            cpu = time.process_time() - cpu0
            model.eval()
            score = factor_latent_correlations(data, model.embed, generator=torch.Generator().manual_seed(1234))
            model.train()
            last = history.last(window=min(100, len(history)))
            rhos = " ".join(f"{n}={r:.3f}(z{i})" for n, r, i in zip(score["factor_names"], score["abs_rho"],
                                                                     score["latent"]))
            print(f"seed={seed} step={done} cpu_s={cpu:.0f} wall_s={time.perf_counter() - wall0:.0f} "
                  f"kl={last['kl']:.1f} log_px_z={last['log_px_z']:.1f} {rhos} separate={score['separate']}",
                  flush=True)
            if score["separate"] and first_pass is None:
                first_pass = done
            if cpu >= args.cpu_budget:
                raise StopTraining

        recipes.train(run, history=history, callbacks=[evaluate], progress=False)
        step = history.steps[-1] + 1
        finals.append((seed, step, time.process_time() - cpu0, score["abs_rho"], score["separate"], first_pass))
        if args.save:
            from vaecourse import checkpoints
            checkpoints.save(model, f"{args.save}.seed{seed}.pt", step=step - 1, history=history.to_dict())
    print("final:", flush=True)
    for seed, step, cpu, rho, separate, first in finals:
        print(f"  seed {seed}: {step} steps, {cpu:.0f} CPU s, |rho| posX/posY/scale = "
              + " / ".join(f"{r:.3f}" for r in rho) + f", separate={separate}, first separate at step {first}",
              flush=True)
    print(f"separate at the end: {sum(f[4] for f in finals)} of {len(finals)} seeds", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
