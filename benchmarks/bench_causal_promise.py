"""Chapter 5's promise, measured: how much CPU time a CausalVAE recipe needs to reach each of issue 13's goals.

    python benchmarks/bench_causal_promise.py --seeds 0 1 2 3 4 --at 1500 3000 6000 -- \
        --model causalvae --dataset pendulum --image-size 32 --encoder conv32 --shadow-noise 1.0 \
        --label-fit mask --independence 10 --graph-from labels --latent-scm equations --lm-weight 0 \
        --concept-dim 1 --prior-std 0.1 --shadow-weight 10          # the shipped recipe (promise model)

Everything after ``--`` is the ``python -m vaecourse train`` command without --seed, --steps and --out (the
recipe). For each seed the recipe is trained to the first step count of ``--at``, scored, then resumed (``--resume``)
to the next, and so on; the CPU time (``time.process_time``, training only, not the scoring) is summed. At each
stop the goals of issue 13 are scored on the model's training scene (its shadow noise):

- graph: structural Hamming distance 0 to the true graph (|A| > 0.3) and no reversed edge;
- alignment: MIC >= 0.85 and TIC >= 0.70 of the concept latents (``--mic-n`` test images);
- counterfactuals: for do(theta), do(phi), do(shadow length), do(shadow position), the error of the intervened
  concept read back by a CNN regressor (trained once on simulator images whose shadow length and position are
  redrawn independently of the angles, ``train_concept_regressor(free=...)``, 800 steps, cached in ``--work``)
  <= 0.15 label units and the pixel MSE against the simulator's true counterfactual <= 0.005 (``--fid-n`` scenes
  x 5 values between the 5% and 95% quantiles, ``intervention_fidelity``);
- do(shadow length = 0): pixel MSE against the simulator's shadow-less truth, and the shadow's darkness left in
  the ground rows (1 = as dark as the observed shadow, 0 = erased); the goal: less than 30 % left (issue 26).

A model trained with ``--label-dropout`` (its encoder can read the concepts from the image alone) is scored twice
at every stop: with its labels given, and with them withheld (``u=None`` for the latents, the abduction of every
do() and the erasure), each goal reported both ways.

A recipe with ``--prune`` (the end-of-training ablation prune of the graph, ``CausalVAE.prune_graph``) is trained
with the prune off up to every stop, so that pruning at one stop does not steer the training to the next, and is
scored pruned as the recipe would end there (``recipes.finish`` on a copy); the line also gives the graph before
pruning. The last stop's scores are those of the checkpoint ``train`` writes with the recipe itself.

Prints one line per (seed, stop) and, per goal, the CPU seconds at the first stop that reached it (or "not
reached"). Writes the table to ``--work``/report.json. Machine load changes CPU time little but does change it;
say what else ran.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

GOALS = ("graph", "mic_tic", "do_theta", "do_phi", "do_shadow_length", "do_shadow_position", "erase")
SHADOW = (2, 3)  # the concepts the regressor sees redrawn in training (shadow length, position: ``free``)


def reversed_edges(A: torch.Tensor, true: torch.Tensor, threshold: float = 0.3) -> int:
    """Node pairs whose learned edge points against the true one (only j -> i learned where i -> j is true)."""
    learned, true = A.abs() > threshold, true != 0
    n = true.shape[0]
    return sum(int(true[i, j] and not learned[i, j] and learned[j, i]) for i in range(n) for j in range(n) if i != j)


def regressor_for(data, work: Path):
    from vaecourse.metrics.causal import ConceptRegressor, train_concept_regressor
    path = work / f"regressor_{data.size}_{data.shadow_noise:g}_free.pt"
    if path.exists():
        regressor = ConceptRegressor()
        regressor.load_state_dict(torch.load(path, weights_only=True))
        return regressor.eval()
    regressor, report = train_concept_regressor(data, steps=800, generator=torch.Generator().manual_seed(1),
                                                free=SHADOW)
    print("regressor R² on simulator test images:", {k: round(v, 3) for k, v in report["r2"].items()},
          "| shadow redrawn:", {k: round(v, 3) for k, v in report["r2_free"].items()}, flush=True)
    torch.save(regressor.state_dict(), path)
    return regressor


@torch.no_grad()
def erase_shadow(model, data, n: int = 64, seed: int = 3, withheld: bool = False) -> dict:
    """do(shadow length = 0) on n test scenes: pixel MSE to the simulator's truth, and the darkness left in the
    shadow's rows (``Pendulum.shadow_rows``) beyond the truth's, relative to the observed images' (1: unchanged, 0:
    erased as the truth is; ``metrics.causal.ink_left``, as notebook 05)."""
    from vaecourse.data.pendulum import split_concepts
    from vaecourse.metrics.causal import ink_left
    concepts = split_concepts(data, "test", n, torch.Generator().manual_seed(seed))
    x, u = data.render_concepts(concepts), data.labels(concepts)
    zero = float(data.labels(torch.tensor([[0.0, 0.0, 0.0, 0.0]], dtype=torch.float64))[0, 2])
    truth, _ = data.counterfactual(concepts, shadow_length=0.0)
    model_cf = model.intervene(x, None if withheld else u, {2: zero}).clamp(0, 1)
    return {"pixel_mse": float((model_cf - truth).pow(2).mean()),
            "shadow_left": ink_left(x, model_cf, truth, data.shadow_rows())}


def score(model, data, regressor, mic_n: int, fid_n: int, withheld: bool = False) -> dict:
    """The goals with the labels given to the encoder, or (``withheld``) with the image alone (label_dropout)."""
    from vaecourse.metrics.causal import intervention_fidelity, structural_hamming_distance
    from vaecourse.metrics.mic import mic_tic_score
    model.eval()
    fed = (lambda u: None) if withheld else (lambda u: u)
    A = model.adjacency().detach().cpu()
    s = {"shd": structural_hamming_distance(A, data.true_graph), "reversed": reversed_edges(A, data.true_graph),
         "A": [[round(v, 2) for v in row] for row in A.tolist()]}
    m = mic_tic_score(data, lambda x, u: model.concept_latents(x, fed(u)), generator=torch.Generator().manual_seed(0),
                      n=mic_n)
    s.update(mic=m["mic"], tic=m["tic"])
    f = intervention_fidelity(data, lambda x, u, i, v: model.intervene(x, fed(u), {i: v}), regressor, n=fid_n,
                              generator=torch.Generator().manual_seed(2))
    for i, name in enumerate(data.concept_names):
        s[f"do_{name}"] = {"concept_error": float(f[name]["concept_mae"][i]), "pixel_mse": f[name]["pixel_mse"],
                           "all_errors": [round(float(e), 3) for e in f[name]["concept_mae"]]}
    s["erase"] = erase_shadow(model, data, withheld=withheld)
    s["goals"] = {"graph": s["shd"] == 0 and s["reversed"] == 0, "mic_tic": s["mic"] >= 0.85 and s["tic"] >= 0.70,
                  **{f"do_{name}": s[f"do_{name}"]["concept_error"] <= 0.15 and s[f"do_{name}"]["pixel_mse"] <= 0.005
                     for name in data.concept_names}, "erase": s["erase"]["shadow_left"] < 0.30}
    if not withheld and getattr(model, "label_dropout", 0) > 0:  # a model that can read the image alone: both ways
        s["withheld"] = score(model, data, regressor, mic_n, fid_n, withheld=True)
        s["goals"].update({f"{goal} (labels withheld)": met for goal, met in s["withheld"]["goals"].items()})
    return s


def line(s: dict) -> str:
    """One stop's scores on one line."""
    return (f"SHD {s['shd']} (reversed {s['reversed']}) MIC {s['mic']:.3f} TIC {s['tic']:.3f} | "
            + " ".join(f"{g[3:]} {s[g]['concept_error']:.3f}/{s[g]['pixel_mse']:.4f}" for g in GOALS[2:-1])
            + f" | erase mse {s['erase']['pixel_mse']:.4f} left {s['erase']['shadow_left']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--at", type=int, nargs="+", default=[2000, 4000, 6000], help="step counts to score at")
    parser.add_argument("--mic-n", type=int, default=1000)
    parser.add_argument("--fid-n", type=int, default=128)
    parser.add_argument("--work", default="runs/bench_causal_promise")
    parser.add_argument("recipe", nargs=argparse.REMAINDER, help="-- then the train arguments")
    args = parser.parse_args()
    recipe = [a for a in args.recipe if a != "--"]
    for flag in ("--seed", "--steps", "--out", "--resume"):
        if flag in recipe:
            raise SystemExit(f"the recipe must not set {flag}: the benchmark sets it")
    torch.set_num_threads(1)
    from vaecourse import checkpoints, recipes
    from vaecourse.cli import main as cli
    from vaecourse.cli.main import build_parser
    from vaecourse.cli.train import recipe_from_args
    from vaecourse.data import Pendulum
    from vaecourse.metrics.causal import structural_hamming_distance
    planned = recipe_from_args(build_parser().parse_args(["train", *recipe, "--out", "unused.pt"]))

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    report = {"recipe": recipe, "runs": {}}
    for seed in args.seeds:
        out, cpu, rows = work / f"seed{seed}.pt", 0.0, []
        for i, steps in enumerate(sorted(args.at)):
            started = time.process_time()
            code = cli(["train", *recipe, "--seed", str(seed), "--steps", str(steps), "--out", str(out),
                        "--checkpoint-every", str(max(args.at)), "--no-progress", *(["--resume"] if i else []),
                        "--prune", "0"])  # pruned for scoring below: the next stop continues the unpruned run
            cpu += time.process_time() - started
            if code != 0:
                raise SystemExit(f"training failed with exit code {code}")
            saved = checkpoints.read(out)
            noise = float(saved.extra["arguments"].get("shadow_noise", 0.0))
            data = Pendulum(size=saved.model.image_shape[1], shadow_noise=noise)
            model, unpruned = saved.model, saved.model.adjacency().detach().cpu()
            if planned.prune:
                model = copy.deepcopy(saved.model)
                rises = recipes.finish(replace(planned, seed=seed), model, data)
            s = score(model, data, regressor_for(data, work), args.mic_n, args.fid_n)
            s.update(steps=steps, cpu_s=round(cpu, 1))
            if planned.prune:
                s.update(shd_unpruned=structural_hamming_distance(unpruned, data.true_graph),
                         prune_rises={f"{j}->{i}": round(r, 4) for (j, i), r in rises.items()})
            rows.append(s)
            print(f"seed {seed} step {steps} cpu {cpu:.0f}s: {line(s)} | A {s['A']}"
                  + (f" | before pruning SHD {s['shd_unpruned']}, l_u rise per edge {s['prune_rises']}"
                     if planned.prune else "")
                  + (f"\n    labels withheld: {line(s['withheld'])}" if "withheld" in s else ""), flush=True)
            report["runs"][seed] = rows
            (work / "report.json").write_text(json.dumps(report, indent=1))
    print("\nCPU seconds of training to the first stop that reached each goal (per seed):")
    for goal in report["runs"][args.seeds[0]][0]["goals"]:
        reached = [next((r["cpu_s"] for r in report["runs"][seed] if r["goals"][goal]), None) for seed in args.seeds]
        print(f"  {goal:36s} " + "  ".join("not reached" if t is None else f"{t:.0f}" for t in reached)
              + f"   ({sum(t is not None for t in reached)} of {len(reached)} seeds)")


if __name__ == "__main__":
    main()
