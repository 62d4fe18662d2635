"""Can CausalVAE's label terms learn the pendulum's causal graph? Measured on the labels alone (no images).

    python benchmarks/bench_causal_graph.py            # about a minute on one core
    python benchmarks/bench_causal_graph.py --steps 3000

For several label scalings (the course's units, standardised, the reference code's units, standardised with the
effects spread three times wider), A is learned from zero and from random values with l_u (Eq. 38) + an L1 term and
H(A) = 0 by the augmented Lagrangian (``learn_graph_from_labels``), and with a bounded nonlinear regression of each
label on its parents (the library's ``MaskLayer`` with k = 1, the label analogue of l_m, Eq. 39). For each scaling
the best l_u reachable on the true graph and on the reversed one (the shadow causing the angles) is printed too:
when the true graph's is not the lowest, no optimiser setting can make l_u find it.
Then the fix: the same mask-layer fit plus ``--independence`` times the HSIC dependence of the residuals (an SCM's
exogenous noises are independent; ``objectives.independence``), from zero and random A, over ``--seeds``.
Prints SHD (structural Hamming distance, |A| > 0.3) to the true graph, l_u and H(A). Nothing here is timed.
"""

from __future__ import annotations

import argparse
import math

import torch

from vaecourse.data.pendulum import TRUE_GRAPH, Pendulum
from vaecourse.graph_fit import learn_graph_from_labels
from vaecourse.metrics.causal import structural_hamming_distance
from vaecourse.models.causal import MaskLayer
from vaecourse.objectives.causal import dag_constraint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--independence", type=float, default=10.0, help="weight of the HSIC term in the fix")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = Pendulum(size=32)
    concepts = data.concepts(data.factors_at(data.split_indices("train"))).double()  # (5846, 4)
    u = data.labels(concepts).float()
    standard = (u - u.mean(0)) / u.std(0)
    reference = ((concepts - torch.tensor([0.0, math.pi / 2, 6.5, 10.0], dtype=torch.float64))
                 / torch.tensor([44 * math.pi / 200, 40 * math.pi / 200, 3.5, 5.0], dtype=torch.float64)).float()
    scalings = {"course units": u, "standardised": standard, "reference-code units": reference,
                "standardised, effects x3": standard * torch.tensor([1.0, 1.0, 3.0, 3.0])}

    def show(A):
        return "[" + ", ".join("[" + ", ".join(f"{v:5.2f}" for v in row) + "]" for row in A.tolist()) + "]"

    for name, labels in scalings.items():
        spread = ", ".join(f"{v:.2f}" for v in labels.std(0).tolist())
        best = {graph: learn_graph_from_labels(labels, support=G, steps=args.steps)[1]
                for graph, G in (("true", TRUE_GRAPH), ("reversed", TRUE_GRAPH.T))}
        print(f"\n{name} (std {spread}): best l_u on the true graph {best['true']:.3f}, on the reversed graph "
              f"{best['reversed']:.3f}")
        for a_init in ("zero", "random"):
            for l1 in (0.0, 0.05):
                A, lu = learn_graph_from_labels(labels, steps=args.steps, a_init=a_init, l1=l1,
                                                generator=torch.Generator().manual_seed(0))
                print(f"  l_u, A from {a_init:6s}, L1 {l1:4.2f}: SHD {structural_hamming_distance(A, TRUE_GRAPH)}  "
                      f"l_u {lu:6.3f}  H {dag_constraint(A):.1e}  A {show(A)}")
            torch.manual_seed(0)
            A, fit = learn_graph_from_labels(labels, steps=args.steps, a_init=a_init, predictor=MaskLayer(4, 1),
                                             generator=torch.Generator().manual_seed(0))
            print(f"  mask layer, A from {a_init:6s}:  SHD {structural_hamming_distance(A, TRUE_GRAPH)}  "
                  f"fit {fit:6.3f}  H {dag_constraint(A):.1e}  A {show(A)}")

    print(f"\nthe fix, course units: mask layer + {args.independence:g} x HSIC of the residuals, "
          f"{2 * args.steps} steps, batch 128")
    for a_init in ("zero", "random"):
        for seed in args.seeds:
            torch.manual_seed(seed)
            A, fit = learn_graph_from_labels(u, steps=2 * args.steps, batch_size=128, a_init=a_init,
                                             predictor=MaskLayer(4, 1), independence=args.independence,
                                             generator=torch.Generator().manual_seed(seed))
            print(f"  A from {a_init:6s}, seed {seed}: SHD {structural_hamming_distance(A, TRUE_GRAPH)}  "
                  f"fit {fit:6.3f}  H {dag_constraint(A):.1e}  A {show(A)}")


if __name__ == "__main__":
    main()
