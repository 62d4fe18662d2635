"""The pendulum data set of CausalVAE [yang2021, Sec. 5.1]: the paper's 7,308-image grid over the scene of
:mod:`vaecourse.data.pendulum_scene` (geometry, SCM, renderer), its fixed train/test split, labels, do() and
counterfactuals on images, and the scene's layout a model may be told (``Pendulum.shadow_band``).

Shape letters: n images, K = 4 concepts, H = W = size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor

from vaecourse import values as kinds
from vaecourse.data.base import GroundTruthDataset
from vaecourse.runtime import default_device
from vaecourse.data.pendulum_scene import (CONCEPT_LABELS, CONCEPTS, LABEL_CENTRE, LABEL_SCALE, PHI_STEPS, RANGES, SIDE,
                                           THETA_STEPS, TRUE_GRAPH, _shadow, bob_centre, check_concepts,
                                           ground_projection, official_images, pendulum_scm, render_scene, shadow,
                                           sun_position, to_pixels)

_GENERATOR = kinds.generator.or_none()


# ---------------------------------------------------------------------------------------- the data set
def _in_range(name: str, value: Tensor, what: str) -> Tensor:
    """``value`` if every entry is inside ``RANGES[name]`` (the scene stays meaningful), else a ValueError naming
    the first value outside (NaN included). Values within a millionth of the range's width outside it are moved
    onto its edge: a float32 label at the edge converted back (``from_labels``) lands up to ~1e-7 outside."""
    lo, hi = RANGES[name]
    slack = 1e-6 * (hi - lo)
    outside = ~((value >= lo - slack) & (value <= hi + slack))  # NaN is outside too
    if outside.any():
        raise ValueError(f"{what} is out of range: expected {name} in [{lo:.4g}, {hi:.4g}], "
                         f"got {value[outside].flatten()[0].item():.4g}")
    return value.clamp(lo, hi)


def _check_do(values: Mapping[str, float | Tensor], n: int | None = None) -> dict[str, Tensor]:
    """do()'s values: a real number, or ``n`` of them (one per scene), inside ``RANGES``."""
    out = {}
    for name, value in values.items():
        if name not in CONCEPTS:
            raise ValueError(f"do() expected one of the pendulum's variables {CONCEPTS}, got unknown variable {name!r}")
        try:
            tensor = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            tensor = None
        kinds.with_values(f"do({name} = ...)", tensor, "a real number or a tensor of real numbers")
        if tensor is None or tensor.dtype == torch.bool or tensor.is_complex() or kinds.holds_bool(value):
            got = type(value).__name__ + ("" if tensor is None else f" of dtype {tensor.dtype}") + \
                (" holding bools" if kinds.holds_bool(value) else "")
            raise ValueError(f"do({name} = ...) needs a real number or a tensor of real numbers, got {got}")
        tensor = torch.as_tensor(value, dtype=torch.float64)  # (a Python float kept exact, not read as float32)
        if tensor.dim() > 1 or (n is not None and tensor.dim() == 1 and len(tensor) != n):
            raise ValueError(f"do({name} = ...) needs one number or {n if n is not None else 'n'} values (one per "
                             f"scene), got shape {tuple(tensor.shape)}")
        out[name] = _in_range(name, tensor, f"do({name} = ...)")
    return out


class Pendulum(GroundTruthDataset):
    """The 7,308-image pendulum grid (factors: theta class i, phi class j), its SCM, do() and counterfactuals.

    >>> data = Pendulum(size=64)
    >>> x, factors = data[0]                      # (3, 64, 64), (2,)
    >>> u = data.labels(data.concepts(factors[None]))   # (1, 4) normalised concepts, CausalVAE's u
    """

    factor_names = ("theta", "phi")
    factor_sizes = (len(THETA_STEPS), len(PHI_STEPS))
    concept_names = CONCEPTS
    true_graph = TRUE_GRAPH
    test_fraction = 0.2

    def __init__(self, size: int = 96, noise_std: float = 0.0, shadow_noise: float = 0.0, device="cpu"):
        size = SIDE.check("size", size)
        noise_std = kinds.non_negative.check("noise_std (pixel noise)", noise_std)
        shadow_noise = kinds.non_negative.check("shadow_noise (scene units)", shadow_noise)
        self.size, self.noise_std, self.shadow_noise = size, noise_std, shadow_noise
        self.device = default_device(device)  # checked: 'cpu', 'cuda[:N]', 'mps' or 'auto'
        self.scm = pendulum_scm(shadow_noise)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    # ---- factors and concepts -------------------------------------------------------------------
    def factor_values(self, factors) -> Tensor:
        """(theta, phi) in radians for factor classes (n, 2)."""
        factors = self.check_factors(factors)
        steps = torch.tensor(THETA_STEPS, device=self.device)[factors[:, 0]], \
            torch.tensor(PHI_STEPS, device=self.device)[factors[:, 1]]
        return torch.stack(steps, 1).to(torch.float64) * math.pi / 200

    def concepts(self, factors, generator: torch.Generator | None = None) -> Tensor:
        """The four concepts (theta, phi, shadow length, shadow position) of grid images: (n, 4) float64.

        With ``shadow_noise`` > 0 each image's shadow gets its own exogenous noise, eps_l, eps_p ~ N(0, s^2) in
        scene units (the SCM's equations above; clipped to ``RANGES``), drawn from ``generator``: the shadow is
        then no longer a function of the angles, so a decoder has to read it from the shadow's own latents."""
        generator = _GENERATOR.check("generator", generator)
        theta, phi = self.factor_values(factors).unbind(1)
        length, position = _shadow(theta, phi)
        if self.shadow_noise > 0:
            where = generator.device if generator is not None else torch.device("cpu")
            eps = self.shadow_noise * torch.randn((theta.shape[0], 2), generator=generator, device=where,
                                                  dtype=torch.float64).to(self.device)  # (n, 2)
            length = (length + eps[:, 0]).clamp(*RANGES["shadow_length"])
            position = (position + eps[:, 1]).clamp(*RANGES["shadow_position"])
        return torch.stack([theta, phi, length, position], 1)

    @staticmethod
    def labels(concepts: Tensor) -> Tensor:
        """u: concepts normalised as the public generator does, about [-1, 1] on the grid: (n, 4) float32."""
        return Pendulum._labels(check_concepts(concepts))

    @staticmethod
    def _labels(concepts: Tensor) -> Tensor:
        """labels without their checks (no NaN scan, which would synchronise a GPU at every training batch)."""
        centre = torch.tensor(LABEL_CENTRE, dtype=torch.float64, device=concepts.device)
        scale = torch.tensor(LABEL_SCALE, dtype=torch.float64, device=concepts.device)
        return ((concepts.to(torch.float64) - centre) / scale).float()

    @staticmethod
    def from_labels(u: Tensor) -> Tensor:
        """Concept values from normalised labels (the inverse of :meth:`labels`): (n, 4) float64."""
        u = check_concepts(u, "labels u").to(torch.float64)
        return u * torch.tensor(LABEL_SCALE, dtype=torch.float64, device=u.device) \
            + torch.tensor(LABEL_CENTRE, dtype=torch.float64, device=u.device)

    @staticmethod
    def label_ranges() -> list[tuple[float, float]]:
        """The label values do() accepts, per concept (``RANGES`` in label units): what a slider may offer."""
        return [((lo - c) / s, (hi - c) / s) for (lo, hi), c, s in zip((RANGES[n] for n in CONCEPTS), LABEL_CENTRE,
                                                                       LABEL_SCALE)]

    # ---- images ---------------------------------------------------------------------------------
    def render_concepts(self, concepts, generator: torch.Generator | None = None) -> Tensor:
        """Images of concept values (n, 4) inside ``RANGES`` (the physics is not applied), with observation noise.
        Values outside the scene's ranges are refused, as do() and counterfactual() refuse them: there the layers
        overlap or leave the picture."""
        concepts = check_concepts(concepts)
        for k, name in enumerate(CONCEPTS):
            _in_range(name, concepts[:, k], "render_concepts' concepts")
        return self._render(concepts.to(self.device), _GENERATOR.check("generator", generator))

    def _render(self, concepts: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """render_concepts without its checks: concepts that the grid, do() or counterfactual() produced."""
        images = render_scene(concepts, self.size)
        if self.noise_std > 0:
            noise = torch.randn(images.shape, generator=generator).to(self.device)
            images = (images + self.noise_std * noise).clamp_(0.0, 1.0)
        return images

    def render(self, factors, generator: torch.Generator | None = None) -> Tensor:
        """Images of grid points (n, 2) of factor classes: (n, 3, size, size) in [0, 1]."""
        return self._render(self.concepts(factors, generator), generator)

    def do(self, n: int, generator: torch.Generator | None = None, **values) -> tuple[Tensor, Tensor]:
        """n draws from the intervened scene do(values): (images (n, 3, H, W), concepts (n, 4)).

        theta and phi, unless intervened on, are uniform over the grid's range; a shadow variable that is not
        intervened on follows the physics of the (possibly intervened) angles."""
        n = kinds.fits_in_memory("do()'s n", kinds.draws.check("do()'s n", n), self._image_bytes, "images")
        generator = _GENERATOR.check("do()'s generator", generator)
        values = _check_do(values, n)
        sample = self.scm.sample(n, generator, interventions=values)
        concepts = torch.stack([sample[k] for k in CONCEPTS], 1)
        return self._render(concepts.to(self.device), generator), concepts

    def counterfactual(self, concepts, **values) -> tuple[Tensor, Tensor]:
        """The true counterfactual of observed scenes (n, 4 concept values) under do(values):
        abduction (the shadow noise), action, prediction. Returns (images (n, 3, H, W), concepts (n, 4))."""
        concepts = check_concepts(concepts, "counterfactual's concepts (observed scenes)").to(torch.float64)
        values = _check_do(values, len(concepts))
        observed = {name: _in_range(name, concepts[:, k].cpu(), "counterfactual's concepts (an observed scene)")
                    for k, name in enumerate(CONCEPTS)}
        cf = self.scm.counterfactual(observed, **{k: v.cpu() for k, v in values.items()})
        cf = torch.stack([cf[k].expand(concepts.shape[0]) for k in CONCEPTS], 1).to(self.device)
        return self._render(cf), cf

    def shadow_rows(self) -> Tensor:
        """(H,) bool: the image rows the shadow can darken (its bar on the ground, at this size)."""
        wide = torch.tensor([[0.0, math.pi / 2, RANGES["shadow_length"][1], 10.0],
                             [0.0, math.pi / 2, 0.0, 10.0]], dtype=torch.float64, device=self.device)
        images = render_scene(wide, self.size)
        return (images[0] - images[1]).abs().amax((0, 2)) > 0

    def shadow_band(self) -> tuple[list[int], list[int]]:
        """The scene's layout a model may be told (``CausalVAE(decoder="shadow_rows")``): the rows the shadow can
        darken, and the concepts that own them (shadow length and position)."""
        rows = self.shadow_rows().nonzero().flatten().tolist()
        return rows, [CONCEPTS.index("shadow_length"), CONCEPTS.index("shadow_position")]

    @property
    def _image_bytes(self) -> int:
        """Bytes of one rendered image (3 x size x size float32)."""
        return 4 * 3 * self.size * self.size

    # ---- split and batches ----------------------------------------------------------------------
    def split_indices(self, split: str) -> Tensor:
        """Flat indices of the fixed split: "train" (5,846 images), "test" (1,462) or "all" (7,308)."""
        if not isinstance(split, str) or split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {kinds.shown(split)}")
        order = torch.randperm(self.num_combinations, generator=torch.Generator().manual_seed(0))
        n_test = round(self.test_fraction * self.num_combinations)
        if split == "test":
            return order[:n_test].sort().values.to(self.device)
        if split == "train":
            return order[n_test:].sort().values.to(self.device)
        if split == "all":
            return torch.arange(self.num_combinations, device=self.device)
        raise ValueError(f"split must be 'train', 'test' or 'all', got {kinds.shown(split)}")

    def tensors(self, split: str = "train", generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The whole split in memory: (images (n, 3, H, W), labels u (n, 4), concepts (n, 4))."""
        generator = _GENERATOR.check("generator", generator)
        factors = self.factors_at(self.split_indices(split))
        concepts = self.concepts(factors, generator)
        return self._render(concepts, generator), self._labels(concepts), concepts

    def batches(self, batch_size: int, steps: int, generator: torch.Generator | None = None,
                split: str = "train") -> Iterator[tuple[Tensor, Tensor]]:
        """``steps`` random (images, labels u) minibatches from a split, rendered on the fly (the arguments are
        checked at the call, before the first batch is asked for)."""
        batch_size = kinds.fits_in_memory("batch_size", kinds.batch_size.check("batch_size", batch_size),
                                          self._image_bytes, "images")
        steps = kinds.step_count.check("steps", steps)
        generator = _GENERATOR.check("generator", generator)
        indices = self.split_indices(split)
        return self._batches(indices, batch_size, steps, generator)

    def _batches(self, indices: Tensor, batch_size: int, steps: int, generator: torch.Generator | None):
        where = generator.device if generator is not None else torch.device("cpu")
        for _ in range(steps):
            pick = indices[torch.randint(len(indices), (batch_size,), generator=generator, device=where).to(self.device)]
            concepts = self.concepts(self.factors_at(pick), generator)
            yield self._render(concepts, generator), self._labels(concepts)


def split_concepts(dataset: Pendulum, split: str = "test", n: int | None = None, generator=None) -> Tensor:
    """The true concepts (n, K) of ``n`` images of ``split`` drawn without replacement (all of it, in order,
    when ``n`` is None): the one draw chapter 5's scores and the prune share, so equal generators pick equal images."""
    if not all(hasattr(dataset, name) for name in ("split_indices", "concepts", "factors_at")):
        raise ValueError(f"split_concepts' dataset must be a data set of scenes with a fixed split (a Pendulum), got "
                         f"{kinds.shown(dataset)}")
    generator = _GENERATOR.check("split_concepts' generator", generator)
    indices = dataset.split_indices(split)
    if n is not None:
        n = kinds.integer(f"a number of images between 1 and {len(indices):,} (the {split} split's size)", 1,
                          len(indices)).check("split_concepts' n", n)
        indices = indices[torch.randperm(len(indices), generator=generator)[:n].to(indices.device)]
    return dataset.concepts(dataset.factors_at(indices), generator)  # (the pendulum's shadow noise, if any)


__all__ = ["CONCEPTS", "CONCEPT_LABELS", "PHI_STEPS", "Pendulum", "RANGES", "THETA_STEPS", "TRUE_GRAPH",
           "bob_centre", "check_concepts", "ground_projection", "official_images", "pendulum_scm", "render_scene", "shadow",
           "split_concepts", "sun_position", "to_pixels"]
