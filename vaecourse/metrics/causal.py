"""Is the learned causal model right? The graph (structural Hamming distance) and its interventions.

- ``structural_hamming_distance``: edge insertions, deletions and reversals that turn the thresholded learned
  graph into the true one [tsamardinos2006, Sec. 6; a reversal counts once].
- ``train_concept_regressor``: a small CNN trained on simulator images to read the four concepts back
  (normalised labels u); it is the "measuring instrument" for decoded counterfactuals.
- ``intervention_fidelity``: for do(concept_i = value) on the latent, compare the decoded counterfactual with
  the simulator's true counterfactual of the same scene [yang2021, Sec. 5.2, evaluated here quantitatively]:
  pixel error, and the error of the concepts the regressor reads from the decoded image.
- ``label_reliance``: does a label-conditioned model read its concepts from the image, or pass the labels fed
  beside it through? MIC / TIC of its concept latents with each image's own labels, with another scene's labels
  (against those labels and against the scene in the image), and with the labels withheld.
- ``ink_left``: how much of a part an intervention should remove is still drawn (do(shadow length = 0): the
  shadow's darkness left in its rows, beyond the true counterfactual's, as a share of the observed shadow's).

Metric functions take a counterfactual function, never a model class:
``counterfactual_fn(images, labels, concept_index, value) -> images``.
Shape letters: n images, K concepts, V intervention values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from vaecourse import values
from vaecourse.data.pendulum import split_concepts
from vaecourse.metrics.mic import mic_tic_summary
from vaecourse.scm import check_adjacency, is_dag

_kinds = values  # ``values`` is also intervention_fidelity's argument


def structural_hamming_distance(learned, true, threshold: float = 0.3) -> int:
    """Number of node pairs whose edge differs (missing, extra or reversed) between |learned| > threshold and
    the true graph (true != 0)."""
    threshold = values.non_negative.check("threshold", threshold)
    true = check_adjacency(true, name="the true graph") != 0
    if not is_dag(true.to(torch.float64)):  # the truth is a causal DAG; a learned graph may hold cycles
        raise ValueError("structural_hamming_distance's true graph must be a DAG (the simulator's causal graph), "
                         "got a graph with a cycle")
    learned = check_adjacency(learned, true.shape[0], name="the learned graph").detach().abs() > threshold
    differs = learned != true  # (K, K): entry (i, j) of one graph and not of the other
    pair = differs | differs.T  # pair {i, j} differs in i -> j or j -> i: missing, extra or reversed (counted once)
    return int(torch.triu(pair, diagonal=1).sum())  # each pair i < j once; a 2,000-node graph in milliseconds


class ConceptRegressor(nn.Module):
    """Images (n, C, H, W) -> concepts (n, K); a small CNN for any image size (adaptive pooling)."""

    def __init__(self, channels: int = 3, outputs: int = 4):
        super().__init__()
        channels = values.integer(f"a number of image channels between 1 and {values.MAX_CHANNELS}", 1,
                                  values.MAX_CHANNELS).check("ConceptRegressor's channels", channels)
        outputs = values.units.check("ConceptRegressor's outputs (concepts)", outputs)
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, outputs))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def free_ranges(dataset, free: Sequence[int], low: float = 0.01, high: float = 0.99) -> dict[int, Tensor]:
    """For each concept in ``free``, its train-split ``low`` and ``high`` quantiles (concept units): {i: (2,)}."""
    free = [_concept_index(dataset, i, "free (a concept index)") for i in values.indices.check("free", free)]
    low, high = _quantiles(low, high)
    train = split_concepts(dataset, "train", generator=torch.Generator().manual_seed(0))  # (N, K), no rendering
    return {i: torch.quantile(train[:, i].double(), torch.tensor([low, high], dtype=torch.float64)) for i in free}


def free_concepts(concepts: Tensor, ranges: dict[int, Tensor], generator: torch.Generator | None = None) -> Tensor:
    """``concepts`` (n, K) with the columns of ``ranges`` (``free_ranges``) redrawn independently of everything
    else, uniform within their range: scenes as do(concept_i = random value) draws them. Other columns are kept."""
    concepts = CONCEPT_TABLE.check("concepts", concepts).clone()
    ranges = values.mapping.check("free_concepts' ranges", ranges)
    generator = values.generator.or_none().check("free_concepts' generator", generator)
    K = concepts.shape[1]
    checked = {}
    for i, bounds in ranges.items():
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < K:
            raise ValueError(f"free_concepts' ranges must map concept indices 0 .. {K - 1} (the columns of concepts) "
                             f"to (low, high), got the key {i!r}")
        bounds = RANGE.check(f"free_concepts' ranges[{i}]", bounds).double().cpu()
        checked[int(i)] = (float(bounds[0]), float(bounds[1]))
    for i, (lo, hi) in checked.items():
        draw = torch.rand(concepts.shape[0], generator=generator, dtype=torch.float64)
        concepts[:, i] = (lo + (hi - lo) * draw).to(concepts)
    return concepts


def train_concept_regressor(dataset, *, steps: int = 1500, batch_size: int = 64, lr: float = 1e-3,
                            generator: torch.Generator | None = None,
                            free: Sequence[int] = ()) -> tuple[ConceptRegressor, dict]:
    """Fit the regressor to normalised labels of train-split scenes; report R^2 per concept on the test split.

    ``free``: concepts redrawn independently in every training scene (``free_concepts`` within ``free_ranges``: the
    simulator renders do(concept_i = random value)), so the regressor has to read them from their own pixels. An
    instrument for counterfactuals needs this: trained on observed scenes only, it may read a child from its
    parents' pixels (on the pendulum, where the shadow nearly follows the angles, it read the true do(shadow
    position) images 0.10 label units off on average, 0.21 at the range's ends). The report then adds ``r2_free``,
    R^2 on test scenes with the same concepts redrawn. With a ``generator`` the network's initial weights and the
    test scenes' shadow noise come from it too, so equal generators give equal instruments."""
    steps, batch_size = values.steps.check("steps", steps), values.batch_size.check("batch_size", batch_size)
    lr = values.learning_rate.check("lr", lr)
    generator = values.generator.or_none().check("train_concept_regressor's generator", generator)
    split_concepts(dataset, "train", 1, torch.Generator().manual_seed(0))  # a data set of scenes, before any work
    free = tuple(_concept_index(dataset, i, "free") for i in
                 values.sequence("a list of concept indices", lambda t: True).check("free", free))
    with torch.random.fork_rng(devices=[]):  # the initial weights from ``generator``, torch's own RNG left alone
        if generator is not None:
            torch.manual_seed(int(torch.randint(2 ** 62, (1,), generator=generator, device=generator.device)))
        regressor = ConceptRegressor(dataset.image_shape[0], len(dataset.concept_names)).to(dataset.device)
    optimiser = torch.optim.Adam(regressor.parameters(), lr=lr)
    if free:
        ranges = free_ranges(dataset, free)  # once: the train split's quantiles

        def scenes():  # train-split scenes, the free concepts redrawn: (images, labels)
            for _ in range(steps):
                concepts = free_concepts(split_concepts(dataset, "train", batch_size, generator), ranges, generator)
                yield dataset.render_concepts(concepts), dataset.labels(concepts)
        batches = scenes()
    else:
        batches = dataset.batches(batch_size, steps, generator, split="train")
    for x, u in batches:
        loss = (regressor(x) - u).pow(2).sum(1).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    regressor.eval()

    def r2(x: Tensor, u: Tensor) -> dict:
        with torch.no_grad():
            pred = torch.cat([regressor(x[i:i + 512]) for i in range(0, len(x), 512)])
        return dict(zip(dataset.concept_names, (1 - (pred - u).pow(2).mean(0) / u.var(0, unbiased=False)).tolist()))

    x, u, concepts = dataset.tensors("test", generator)
    report = {"r2": r2(x, u)}
    if free:
        moved = free_concepts(concepts, ranges, torch.Generator().manual_seed(0))
        report["r2_free"] = r2(dataset.render_concepts(moved), dataset.labels(moved))
    return regressor, report


def label_values(dataset, concept: int, count: int, low: float = 0.05, high: float = 0.95) -> Tensor:
    """``count`` label values of a concept, evenly spaced between its train-split quantiles (V,): the same values on
    every call (the shadow noise of the split drawn from a fixed generator)."""
    concept, count = _concept_index(dataset, concept, "concept"), values.examples.check("count", count)
    low, high = _quantiles(low, high)
    u = dataset.labels(split_concepts(dataset, "train", generator=torch.Generator().manual_seed(0)))  # (n, K)
    q = torch.quantile(u[:, concept].double(), torch.tensor([low, high], dtype=torch.float64))
    return torch.linspace(float(q[0]), float(q[1]), count)


def _bounded(t: Tensor) -> bool:
    """Concept values at most ``values.MAX_WEIGHT`` in size (NaN fails): ranges of 1.7e308 drew inf concepts."""
    return bool((t.abs() <= values.MAX_WEIGHT).all())


CONCEPT_TABLE = values.numbers(f"finite concept values of shape (n, K), at most {values.MAX_WEIGHT:g} in size",
                               lambda t: t.dim() == 2 and _bounded(t))
_VALUES = values.numbers(f"1 to {values.MAX_PANELS:,} finite label values in a list or a 1-D tensor",
                         lambda t: t.dim() == 1 and 1 <= len(t) <= values.MAX_PANELS)
RANGE = values.numbers(f"a range (low, high) of two finite numbers with low <= high, at most {values.MAX_WEIGHT:g} in "
                       "size (concept units)", lambda t: t.shape == (2,) and bool(t[0] <= t[1]) and _bounded(t))
QUANTILE = values.real("a quantile in [0, 1]", lambda q: 0 <= q <= 1)
MIN_DARKNESS = 1e-3  # mean (1 - pixel) of the rows ink_left measures in: below it they are white (the pendulum's
# shadow rows: 0.099 at 32 px, 0.13 at 64 px, at least 0.047 in every one of 256 test scenes)


def _quantiles(low, high) -> tuple[float, float]:
    """(low, high) as quantiles with low < high, or a ValueError naming them."""
    low, high = QUANTILE.check("low", low), QUANTILE.check("high", high)
    if not low < high:
        raise ValueError(f"low must be below high (quantiles), got low={low:g}, high={high:g}")
    return low, high


def _concept_index(dataset, index, name: str) -> int:
    """``index`` as a concept's index 0 .. K - 1 of ``dataset``, or a ValueError naming ``name``."""
    if not hasattr(dataset, "concept_names"):
        raise ValueError(f"dataset must be a data set of concepts (a Pendulum), got {type(dataset).__name__}")
    count = len(dataset.concept_names)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < count:
        raise ValueError(f"{name} must be a concept index between 0 and {count - 1} "
                         f"({', '.join(dataset.concept_names)}), got {index!r}")
    return int(index)


@torch.no_grad()
def intervention_fidelity(dataset, counterfactual_fn: Callable, regressor: nn.Module, *,
                          values: Sequence[Sequence[float]] | None = None, n: int = 64,
                          generator: torch.Generator | None = None, split: str = "test") -> dict:
    """Decoded counterfactuals vs the simulator's true counterfactuals, per intervened concept.

    For each concept i and value v (label units; by default 5 values between the 5% and 95% quantiles):
    images x of ``split`` (n of them) are encoded with their labels, do(z_i = v) is decoded by
    ``counterfactual_fn(x, u, i, v)``, and the simulator renders the same scenes under do(concept_i = v)
    (abduction, action, prediction). Returns per concept: ``pixel_mse`` (per-pixel mean squared error),
    ``concept_mae`` (K,) the mean absolute error, in label units, of the concepts the regressor reads off the
    model's counterfactual against the true counterfactual's concepts, and the same for the regressor on the
    true counterfactual itself (``reference_mae``, the instrument's own error).
    """
    counterfactual_fn = _kinds.function.check("intervention_fidelity's counterfactual_fn", counterfactual_fn)
    if not isinstance(regressor, nn.Module):
        raise ValueError(f"intervention_fidelity's regressor must be a torch.nn.Module reading concepts from images "
                         f"(train_concept_regressor's ConceptRegressor), got {type(regressor).__name__}")
    n = _kinds.examples.check("intervention_fidelity's n", n)
    concepts = split_concepts(dataset, split, n, generator)  # checks the data set, the split and the generator
    names = dataset.concept_names
    if values is not None:
        if isinstance(values, (str, bytes, Tensor, np.ndarray)) or not isinstance(values, Sequence) or \
                len(values) != len(names):
            raise ValueError(f"intervention_fidelity's values must be a list of {len(names)} lists of label values, one "
                             f"per concept ({', '.join(names)}), got {_kinds.shown(values)}")
        values = [_VALUES.check(f"intervention_fidelity's values[{i}]", v).float().cpu() for i, v in enumerate(values)]
    u = dataset.labels(concepts)
    x = dataset.render_concepts(concepts)
    images = _kinds.numbers(f"images of the shape of its input {tuple(x.shape)}, finite values",
                            lambda t: t.shape == x.shape)
    readings = _kinds.numbers(f"concept labels of shape ({len(x)}, {len(names)}), finite values",
                              lambda t: t.shape == (len(x), len(names)))
    out = {}
    for i, name in enumerate(names):
        vs = label_values(dataset, i, 5) if values is None else values[i]
        pixel, mae, ref = [], [], []
        for v in vs.tolist():
            model_cf = images.check(f"what intervention_fidelity's counterfactual_fn returned for do({name} = {v:g})",
                                    counterfactual_fn(x, u, i, v)).to(x).clamp(0, 1)
            value = float(dataset.from_labels(torch.full((1, len(names)), v))[0, i])
            true_images, true_concepts = dataset.counterfactual(concepts, **{name: value})
            true_u = dataset.labels(true_concepts)
            pixel.append(float((model_cf - true_images).pow(2).mean()))
            read = [readings.check(f"what intervention_fidelity's regressor read from {what}", regressor(images_))
                    for what, images_ in (("the counterfactual images", model_cf), ("the true counterfactuals",
                                                                                   true_images))]
            mae.append((read[0].to(true_u) - true_u).abs().mean(0))
            ref.append((read[1].to(true_u) - true_u).abs().mean(0))
        out[name] = {"values": vs.tolist(), "pixel_mse": float(np.mean(pixel)),
                     "concept_mae": torch.stack(mae).mean(0).numpy(), "reference_mae": torch.stack(ref).mean(0).numpy()}
    out["pixel_mse"] = float(np.mean([out[k]["pixel_mse"] for k in names]))
    out["intervened_concept_mae"] = float(np.mean([out[k]["concept_mae"][i] for i, k in enumerate(names)]))
    return out


@torch.no_grad()
def causal_model_report(model, dataset, *, n: int = 256, generator: torch.Generator | None = None,
                        split: str = "test", threshold: float = 0.3, label_fit: str = "tanh") -> dict:
    """A label-conditioned model (CausalVAE or the conditional VAE) scored on ``n`` labelled images of ``split``.

    Returns the per-example means of log p(x|z~), KL_eps, KL_z and the ELBO (Eq. 36-37), MIC and TIC of the
    concept latents [reshef2011] on the same images (rendered once; what ``mic_tic_score(dataset,
    model.concept_latents, ...)`` gives on them), and for CausalVAE also l_u (Eq. 38), l_m (Eq. 39), H(A) (Eq. 40),
    the learned A and its structural Hamming distance to the true graph at ``threshold``. l_u is the label loss the
    model was trained with: ``label_fit="tanh"`` Eq. 38's ||u - tanh(A^T u)||^2, ``"mask"`` the model's own label
    equations ||u - g(A o u)||^2 (``CausalVAE.predict_labels``); ``label_fit`` is returned with it.
    """
    from vaecourse.objectives.causal import causal_terms, check_label_fit, dag_constraint, label_loss, mask_loss

    check_label_fit(label_fit)
    threshold = values.non_negative.check("threshold", threshold)
    if not getattr(model, "takes_labels", False):
        raise ValueError(f"causal_model_report needs a CausalVAE or ConditionalVAE, got {type(model).__name__}")
    if values.examples.check("n", n) < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    concepts = split_concepts(dataset, split, n, generator)  # (n, K)
    u = dataset.labels(concepts).to(model.device)
    x = dataset.render_concepts(concepts).to(model.device)
    output = model(x, u, generator=generator)
    log_px_z, kl_eps, kl_z, elbo = causal_terms(output, x)
    report = {"n": len(concepts), "elbo": float(elbo.mean()), "log_px_z": float(log_px_z.mean()),
              "kl_eps": float(kl_eps.mean()), "kl_z": float(kl_z.mean())}
    mic = mic_tic_summary(model.concept_latents(x, u).cpu().numpy(), concepts.cpu().numpy())  # the same images
    report.update(mic=mic["mic"], tic=mic["tic"])
    if output.causal:
        A = output.A.detach().cpu()
        l_u = label_loss(u, output.A) if label_fit == "tanh" else (u - output.u_hat).pow(2).sum(1)
        report.update(l_u=float(l_u.mean()), label_fit=label_fit, l_m=float(mask_loss(output.z, output.g).mean()),
                      H=float(dag_constraint(A)), A=A, threshold=threshold,
                      shd=structural_hamming_distance(A, dataset.true_graph, threshold))
    return report


@torch.no_grad()
def label_reliance(model, dataset, *, n: int = 1000, generator: torch.Generator | None = None,
                   split: str = "test") -> dict:
    """The concept latents' MIC / TIC on ``n`` images of ``split`` read three ways (each a :func:`mic_tic_summary`
    dict; the course's measurement, not the paper's):

    - ``given``: each image with its own labels u (what chapter 5's table reports);
    - ``swapped_vs_fed`` / ``swapped_vs_image``: each image with the labels of another scene of the set (a random
      derangement), scored against the labels fed and against the concepts actually in the image;
    - ``withheld``: the image alone (``u=None``), for a model trained with ``label_dropout`` > 0; else None.

    A model that reads its concepts from the image keeps ``swapped_vs_image`` near ``given``; one that passes the
    labels through keeps ``swapped_vs_fed`` high instead, and its ``given`` score measured the labels, not the image.
    """
    n = values.examples.check("n", n)
    if not getattr(model, "takes_labels", False):
        raise ValueError(f"label_reliance needs a label-conditioned model (CausalVAE, ConditionalVAE), got "
                         f"{type(model).__name__}")
    concepts = split_concepts(dataset, split, n, generator)  # (n, K)
    if len(concepts) < 4:
        raise ValueError(f"label_reliance needs at least 4 images to score, got {len(concepts)}")
    order = torch.randperm(len(concepts), generator=generator)
    other = torch.empty_like(order)
    other[order] = order.roll(1)  # image order[j] gets the labels of order[j - 1]: no image keeps its own
    u = dataset.labels(concepts).to(model.device)
    x = dataset.render_concepts(concepts).to(model.device)
    truth, fed = concepts.cpu().numpy(), concepts[other.to(concepts.device)].cpu().numpy()

    def latents(labels):
        return torch.cat([model.concept_latents(x[i:i + 256], None if labels is None else labels[i:i + 256])
                          for i in range(0, len(x), 256)]).cpu().numpy()

    swapped = latents(u[other.to(u.device)])
    return {"given": mic_tic_summary(latents(u), truth), "swapped_vs_fed": mic_tic_summary(swapped, fed),
            "swapped_vs_image": mic_tic_summary(swapped, truth),
            "withheld": mic_tic_summary(latents(None), truth) if getattr(model, "label_dropout", 0) > 0 else None}


def ink_left(observed: Tensor, erased: Tensor, truth: Tensor, rows: Tensor) -> float:
    """The darkness an intervention that removes a part leaves in ``rows``, as a share of the observed darkness:

        ink(images) = sum over the images, channels, ``rows`` and columns of (1 - pixel)
        ink_left    = (ink(erased) - ink(truth)) / ink(observed)       1: nothing removed, 0: removed as in the truth

    ``observed``, ``erased`` (the model's counterfactual) and ``truth`` (the simulator's) are (n, C, H, W) in [0, 1];
    ``rows`` a boolean (H,) mask (``Pendulum.shadow_rows()`` for the shadow). Summed over the images, not averaged
    per image: a scene whose shadow falls outside the rows would divide by nearly nothing."""
    kind = values.numbers("images (n, C, H, W) of finite values in [0, 1]", lambda t: t.dim() == 4 and t.numel() > 0
                          and bool((t >= 0).all() and (t <= 1).all()))
    observed, erased, truth = (kind.check(name, t) for name, t in
                               (("ink_left's observed", observed), ("ink_left's erased", erased),
                                ("ink_left's truth", truth)))
    shapes = {tuple(t.shape) for t in (observed, erased, truth)}
    if len(shapes) != 1 or observed.dim() != 4:
        raise ValueError(f"ink_left expected observed, erased and truth of one shape (n, C, H, W), got "
                         f"{[tuple(t.shape) for t in (observed, erased, truth)]}")
    mask = f"rows must be a boolean mask of the {observed.shape[2]} image rows with at least one True"
    if not isinstance(rows, (Tensor, np.ndarray, list, tuple)):
        raise ValueError(f"{mask}, got {values.shown(rows)}")
    erased, truth = erased.to(observed), truth.to(observed)
    try:
        rows = torch.as_tensor(rows, device=observed.device)
    except (TypeError, ValueError, RuntimeError):  # ragged lists, lists of objects
        raise ValueError(f"{mask}, got {values.shown(rows)}") from None
    if rows.dtype != torch.bool or rows.shape != (observed.shape[2],) or not bool(rows.any()):
        raise ValueError(f"{mask}, got {rows.dtype} of shape {tuple(rows.shape)}")
    ink = [(1 - images[:, :, rows]).sum() for images in (observed, erased, truth)]
    darkness = float(ink[0]) / observed[:, :, rows].numel()  # mean (1 - pixel) of the observed rows
    if darkness < MIN_DARKNESS:  # white up to rounding: the share would divide by nearly nothing (8e6 for 1 - 1e-7)
        raise ValueError(f"ink_left: the observed images have no darkness in rows (mean darkness {darkness:.2g}, "
                         f"below {MIN_DARKNESS:g}: nothing there to remove)")
    return float((ink[1] - ink[2]) / ink[0])


__all__ = ["ConceptRegressor", "causal_model_report", "ink_left", "label_reliance", "free_concepts", "free_ranges",
           "intervention_fidelity",
           "label_values",
           "structural_hamming_distance",
           "train_concept_regressor"]
