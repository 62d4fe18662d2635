"""CausalVAE [yang2021]: an encoder to exogenous eps, a linear SCM layer, a mask layer, a decoder.

    eps ~ q(eps|x, u) = N(h(x, u), diag sigma^2)           encoder h(x, u)          [slides, Eq. 30-31]
    z   = A^T z + eps = (I - A^T)^{-1} eps = C eps         causal layer, A learned  [slides, Eq. 27-28]
    z~_i = g_i(A_i o z; eta_i) + eps_i                     mask layer               [slides, "Step 2"; yang2021, Eq. 6]
    x   ~ p(x|z~) = decoder f(z~)                                                   [slides, Eq. 29]
    prior p(eps) = N(0, I),  p(z|u) = prod_i N(u_i 1, I)   one block per concept    [slides, Eq. 32-33]

Each of the n concepts owns a block of k latent dimensions (D = n k); the causal layer mixes blocks, not
dimensions within a block: z[:, i, :] = sum_j C[i, j] eps[:, j, :]. A[j, i] != 0 is an edge j -> i, so column
A_i holds the parents of concept i and ``A_i o z`` keeps only their blocks. A starts at zero or small random
values, never at a known graph: the graph is learned (the public reference code starts from the true one).

Interventions do(z_i = c) take any real value c (in the label scale u, where the prior p(z|u) puts z): abduction
(eps at the posterior mean), action (block i's equation replaced by c), prediction in the model's own generative
map: z' from the causal layer with block i cut from its parents, then the decoder's input
z~ = g(A o z') + (z' - A^T z') (``_propagate``), so every descendant is recomputed from its intervened parents
and its own eps, and the intervened block's input moves by c - z_i.

``graph_from="labels"`` lets only the label terms and H(A) move A (the image side reads A detached), and gives
the label terms their own equations g_i(A_i o u) (a ``MaskLayer`` on one number per concept) instead of the mask
layer's: in the paper's setup the ELBO also pulls on A, and on the pendulum that pull keeps A's entries small;
sharing the mask layer with the image side let an entry of A grow where g_i had gone flat (chapter 5).

``latent_scm="equations"`` (with graph_from="labels"; the course's, not the paper's) keeps A's magnitudes out of a
linear layer: the latent concepts obey the label equations themselves, z_i = g_i(A_i o z) 1_k + eps_i (the
nonlinear SCM whose mask layer the paper puts after the linear one, solved parents-first), and the decoder reads z
(= z~). The image side reads g and A detached, so the labels alone learn the graph and its equations, and z_i, pulled
to u_i by the prior, stays on its own concept. The map eps -> z is triangular with unit diagonal on a DAG, so
log q(z|x, u) = log q(eps|x, u) and KL(q(z|x, u) || p(z|u)) = E_q[-1/2 sum log sigma^2 - D/2 + 1/2 ||z - u||^2]
(the expectation of ||(eps - mu) / sigma||^2 taken exactly, that of ||z - u||^2 by the sample). Its ``g`` is
g(A o z), so l_m = ||z - g||^2 is ||eps||^2 there: train it with gamma = 0 (``--lm-weight 0``). ``prior_std`` s
narrows that prior to p(z|u) = N(u 1, s^2 I) (the paper's lambda_2(u) = 1 is s = 1): with s = 1 the encoder
scaled theta's latent to about 2.2 u (measured), so do(z = c), given in label units, drew the pendulum at c / 2.2,
and left the shadow's latents as noisy as the prior (posterior sigma 0.9), so the decoder drew the shadow from the
angles.

``label_dropout`` p (the course's) withholds the labels from the encoder for a fraction p of the training images (its
head then reads [features, u g, g], g = 1 when given), so ``encode(x, None)`` reads the concepts from the image alone,
as a model must on an image nobody labelled; ``cycle=True`` adds ``read_back``: a counterfactual of each image drawn
and read back through that encoder, which the objective weights (``CausalObjective(cycle=w)``). With
``decoder="layered"`` (``LayeredDecoder``) each concept block draws its own layers and the model learns which pixels
each concept owns (``ownership``); chapter 5 measures the three together (``recipes.get("ch5-causalvae-layered")``).

``ConditionalVAE`` is the same model without the causal and mask layers (A = 0, z~ = z = eps, prior
p(z|u)): the conditional baseline of the paper.

Shape letters: B batch, n concepts, k dimensions per concept, D = n k, C/H/W image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from vaecourse import values
from vaecourse.distributions import DiagonalGaussian, reparameterize
from vaecourse.likelihoods import LikelihoodHead
from vaecourse.models.base import CourseModel, register_model
from vaecourse.models.causal_layers import ConceptDecoders, LayeredDecoder, MaskLayer, ShadowRowsDecoder, _indices
from vaecourse.nn import _mlp, build_decoder, build_encoder

GRAPH_SOURCES = ("all", "labels")  # which terms move A: the whole loss (the paper), or the label terms and H(A)
LATENT_SCMS = ("linear", "equations")  # z = (I - A^T)^{-1} eps then the mask layer (the paper), or z = g(A o z) + eps
DECODERS = ("joint", "per_concept", "shadow_rows", "layered")  # one decoder reads all of z~; one per concept block,
# logits averaged; (the pendulum) the joint decoder with the shadow's rows drawn from the shadow's own blocks; or
# layers that learn which pixels each concept owns (LayeredDecoder: no layout given)


# s of p(z|u) = N(u, s^2 I) (latent_scm="equations"): below 1e-3, s^2 and the KL's 1/s^2 leave float32's comfort
GRAPH_LR_SCALE = values.real("a factor > 0 (A's learning rate over the networks')", lambda v: v > 0,
                             values.MAX_WEIGHT, values.WEIGHT_LIMIT)
PRIOR_STD = values.real("a standard deviation between 0.001 and 1", lambda s: 1e-3 <= s <= 1)


@dataclass(frozen=True)
class CausalVAEOutput:
    """What ``model(x, u)`` returns (every latent is (B, D), concept-major: block i is [i k, (i + 1) k))."""

    q_eps: DiagonalGaussian  # q(eps|x, u): batch (B,), event (D,)
    eps: Tensor  # (B, D) reparameterised sample of eps
    z: Tensor  # (B, D) causal layer output C eps
    z_mean: Tensor  # (B, D) mean of q(z|x, u) = C mu
    g: Tensor  # (B, D) mask layer's prediction g_i(A_i o z) of each block from its parents
    z_tilde: Tensor  # (B, D) g + eps: what the decoder reads
    p_x: Distribution  # p(x|z~): batch (B,), event (C, H, W)
    u: Tensor  # (B, n) the labels
    A: Tensor  # (n, n) the adjacency matrix used (diagonal 0)
    kl_z: Tensor  # (B,) KL(q(z|x, u) || p(z|u)), summed over the k columns   [slides, Eq. 37]
    u_hat: Tensor | None = None  # (B, n) each label predicted from its parents' labels, g_i(A_i o u) (None: baseline)
    causal: bool = True  # False for the conditional baseline (z = eps: a single KL)
    owned: Tensor | None = None  # (B,) sum over pixels and concepts of owned_i(p) (decoder="layered"; else None)
    cycle: Tensor | None = None  # (B,) ||z^ - z'||^2 / 2 s^2 of a counterfactual read back (cycle=True, training)
    reads_back: bool = False  # the model was built with cycle=True (``cycle`` is None in eval mode all the same)
    shared: Tensor | None = None  # () expected pairs of layers reading one concept block (decoder="layered")
    overlap: Tensor | None = None  # (B,) sum over pixels of how much the layers blend (decoder="layered")


def gaussian_kl_to_label_prior(C: Tensor, mu: Tensor, logvar: Tensor, u: Tensor) -> Tensor:
    """KL(N(C mu, C diag(sigma^2) C^T) || N(u, I)) for each of the k columns, summed: (B,).

    mu, logvar (B, n, k); u (B, n). Per column: 0.5 [tr S + |C mu - u|^2 - n - log det S] with
    S = C diag(sigma^2) C^T, tr S = sum_ij C_ij^2 sigma_j^2, log det S = sum_j log sigma_j^2 + 2 log|det C|.
    """
    for name, t in (("C", C), ("mu", mu), ("logvar", logvar), ("u", u)):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise TypeError(f"gaussian_kl_to_label_prior's {name} must be a real floating-point tensor, got "
                            f"{values.shown(t)}")
        values.with_values(f"gaussian_kl_to_label_prior's {name}", t, "a real floating-point tensor with values")
        if t.device != C.device:  # (devices cost nothing; slogdet of meta raised)
            raise ValueError(f"gaussian_kl_to_label_prior's {name} must be a tensor with values on C's device "
                             f"{C.device}, got {values.shown(t)} on {t.device}")
    if C.dim() != 2 or C.shape[0] != C.shape[1] or mu.dim() != 3 or mu.shape[1] != C.shape[0] \
            or logvar.shape != mu.shape or tuple(u.shape) != tuple(mu.shape[:2]):
        raise ValueError(f"gaussian_kl_to_label_prior expected C (n, n), mu and logvar (B, n, k), u (B, n), got C "
                         f"{tuple(C.shape)}, mu {tuple(mu.shape)}, logvar {tuple(logvar.shape)}, u {tuple(u.shape)}")
    n = C.shape[0]
    mean = torch.einsum("ij,bjk->bik", C, mu)  # (B, n, k)
    trace = torch.einsum("ij,bjk->bk", C ** 2, logvar.exp())  # (B, k)
    logdet_c = torch.linalg.slogdet(C)[1]  # log |det C| (0 when A is a DAG)
    logdet = logvar.sum(1) + 2 * logdet_c  # (B, k)
    sq = (mean - u[:, :, None]).pow(2).sum(1)  # (B, k)
    return 0.5 * (trace + sq - n - logdet).sum(1)


@register_model
class CausalVAE(CourseModel):
    """CausalVAE with n concepts of k dimensions each, for images of ``image_shape`` (C, H, W).

    >>> model = CausalVAE(n_concepts=4, concept_dim=4, encoder="conv32", image_shape=(3, 32, 32))
    >>> out = model(torch.rand(8, 3, 32, 32), torch.zeros(8, 4))
    >>> out.z.shape, model.adjacency().shape
    (torch.Size([8, 16]), torch.Size([4, 4]))
    """

    causal = True
    takes_labels = True  # called as model(x, u): fit, the command line, the metrics and the tests read this

    def __init__(self, n_concepts: int = 4, concept_dim: int = 4, encoder: str = "conv64",
                 image_shape: tuple[int, int, int] = (3, 64, 64), likelihood: str = "bernoulli",
                 a_init: str = "zero", mask_hidden: int = 32, seed_a: int = 0, graph_from: str = "all",
                 latent_scm: str = "linear", prior_std: float = 1.0, decoder: str = "joint",
                 band_rows: list[int] | None = None, band_owners: list[int] | None = None,
                 label_dropout: float = 0.0, cycle: bool = False):
        super().__init__()
        n_concepts, concept_dim, mask_hidden = (values.units.check(name, value) for name, value in (
            ("n_concepts", n_concepts), ("concept_dim", concept_dim), ("mask_hidden", mask_hidden)))
        values.units.check("n_concepts * concept_dim (the latent size)", n_concepts * concept_dim)
        values.fits_in_memory("n_concepts", n_concepts * n_concepts * concept_dim * mask_hidden, 4,
                              "float32 weights of the mask layer (n_concepts^2 concept_dim mask_hidden)")
        if a_init not in ("zero", "random"):
            raise ValueError(f"a_init must be 'zero' or 'random' (never the true graph), got {values.shown(a_init)}")
        if graph_from not in GRAPH_SOURCES:
            raise ValueError(f"graph_from must be one of {GRAPH_SOURCES}, got {values.shown(graph_from)}")
        if latent_scm not in LATENT_SCMS:
            raise ValueError(f"latent_scm must be one of {LATENT_SCMS}, got {values.shown(latent_scm)}")
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {values.shown(decoder)}")
        if (decoder == "shadow_rows") != (band_rows is not None and band_owners is not None) or (
                decoder != "shadow_rows" and (band_rows is not None or band_owners is not None)):  # (one was ignored)
            raise ValueError("decoder='shadow_rows' needs band_rows and band_owners (which image rows the owning "
                             "concepts draw alone, e.g. Pendulum.shadow_band()), and only it takes them; got "
                             f"decoder={values.shown(decoder)}, band_rows={values.shown(band_rows)}, band_owners={values.shown(band_owners)}")
        prior_std = PRIOR_STD.check("prior_std", prior_std)
        label_dropout = values.fraction.check("label_dropout", label_dropout)
        if cycle is not False and (cycle is not True or label_dropout == 0 or latent_scm != "equations"):
            raise ValueError("cycle=True reads the model's counterfactuals back through its encoder with the labels "
                             "withheld: it needs label_dropout > 0 and latent_scm='equations'; got "
                             f"cycle={values.shown(cycle)}, label_dropout={values.shown(label_dropout)}, latent_scm={values.shown(latent_scm)}")
        if prior_std != 1.0 and latent_scm != "equations":
            raise ValueError("prior_std applies to latent_scm='equations' (the paper's p(z|u) = N(u, I) otherwise)")
        if latent_scm == "equations" and graph_from != "labels":
            raise ValueError("latent_scm='equations' uses the label equations, which graph_from='labels' learns; "
                             f"got graph_from={values.shown(graph_from)}")
        image_shape = values.image_shape.check("image_shape", image_shape)  # (2.5 was read as 2)
        seed_a = values.seed.check("seed_a", seed_a)
        if band_rows is not None:  # (checked before they are remembered: int() of a (5, 5) tensor was torch's words)
            band_rows = _indices("band_rows", band_rows, image_shape[1])
            band_owners = _indices("band_owners", band_owners, n_concepts)
        self._remember(n_concepts=n_concepts, concept_dim=concept_dim, encoder=encoder, image_shape=image_shape,
                       likelihood=likelihood, a_init=a_init, mask_hidden=mask_hidden, seed_a=seed_a,
                       **({} if graph_from == "all" else {"graph_from": graph_from}),  # old checkpoints stay equal
                       **({} if latent_scm == "linear" else {"latent_scm": latent_scm}),
                       **({} if prior_std == 1.0 else {"prior_std": float(prior_std)}),
                       **({} if decoder == "joint" else {"decoder": decoder}),
                       **({} if band_rows is None else {"band_rows": [int(r) for r in band_rows],
                                                        "band_owners": [int(o) for o in band_owners]}),
                       **({} if label_dropout == 0 else {"label_dropout": float(label_dropout)}),
                       **({"cycle": True} if cycle else {}))
        self.label_dropout, self.cycle = float(label_dropout), cycle
        self.graph_from, self.latent_scm, self.prior_std = graph_from, latent_scm, float(prior_std)
        self.n, self.k = n_concepts, concept_dim
        self.latent_dim = n_concepts * concept_dim
        self.image_shape = image_shape
        features = 64
        self.encoder = build_encoder(encoder, image_shape, features // 2)  # (B, C, H, W) -> (B, 64)
        given = 1 if label_dropout > 0 else 0  # label_dropout: a 0/1 input says whether u was given
        self.head = _mlp([features + n_concepts + given, 128, 2 * self.latent_dim], who="the encoder's head (n_concepts, "
                         "concept_dim)", wide=True)  # h(x, u) -> (mu, logvar): 2 D may pass MAX_UNITS
        if decoder == "joint":
            self.decoder = build_decoder(encoder, image_shape, self.latent_dim)
        elif decoder == "per_concept":
            self.decoder = ConceptDecoders(n_concepts, concept_dim, encoder, image_shape)
        elif decoder == "shadow_rows":
            self.decoder = ShadowRowsDecoder(n_concepts, concept_dim, encoder, image_shape, band_rows, band_owners)
        else:
            self.decoder = LayeredDecoder(n_concepts, concept_dim, encoder, image_shape)
        self.likelihood = LikelihoodHead(likelihood)
        A0 = torch.zeros(n_concepts, n_concepts)
        if a_init == "random":
            A0 = 0.1 * (2 * torch.rand(n_concepts, n_concepts, generator=torch.Generator().manual_seed(seed_a)) - 1)
        if self.causal:
            self.A_raw = nn.Parameter(A0)
            if latent_scm == "linear":  # ("equations": the label equations are the mask layer)
                self.mask = MaskLayer(n_concepts, concept_dim, mask_hidden)
            if graph_from == "labels":  # the label equations of their own, u_i ~ g_i(A_i o u), one number per concept
                self.label_equations = MaskLayer(n_concepts, 1, mask_hidden)
        else:
            self.register_buffer("A_raw", torch.zeros(n_concepts, n_concepts))
        self.register_buffer("edge_mask", torch.ones(n_concepts, n_concepts))  # 0: an edge pruned (prune_graph)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before pruning existed have no edge mask: every edge is kept
        state_dict.setdefault(prefix + "edge_mask", torch.ones_like(self.edge_mask))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def parameter_groups(self, lr: float, graph_lr_scale: float = 10.0) -> list[dict]:
        """Optimiser groups: A learns ``graph_lr_scale`` times faster than the networks (it has 12 numbers and
        small gradients next to the networks' thousands): ``torch.optim.Adam(model.parameter_groups(1e-3))``."""
        lr = values.learning_rate.check("parameter_groups' lr", lr)
        graph_lr_scale = GRAPH_LR_SCALE.check("graph_lr_scale", graph_lr_scale)
        values.learning_rate.check("lr * graph_lr_scale (A's learning rate)", lr * graph_lr_scale)
        others = [p for name, p in self.named_parameters() if name != "A_raw"]
        groups = [{"params": others, "lr": lr}]
        if self.causal:
            groups.append({"params": [self.A_raw], "lr": lr * graph_lr_scale})
        return groups

    # ---- the graph --------------------------------------------------------------------------------
    def adjacency(self) -> Tensor:
        """A (n, n) with a zero diagonal (no self-loops) and the pruned edges zero: A[j, i] != 0 is an edge j -> i."""
        return self.A_raw * (1 - torch.eye(self.n, device=self.A_raw.device)) * self.edge_mask

    @torch.no_grad()
    def prune_graph(self, u: Tensor, tolerance: float = 0.01, threshold: float = 0.3) -> dict[tuple[int, int], float]:
        """Drop the edges the label equations do not need (the course's, not the paper's): backward elimination
        (``graph_fit.prune_edges``) on l_u(A) = mean ||u - g(A o u)||^2 over the labels u (N, n), g the model's own
        label equations (``predict_labels``). Removed edges stay zero (``edge_mask``), in training too. Returns
        {(j, i): rise in l_u without edge j -> i} for every edge tested, the removed ones included."""
        from vaecourse.graph_fit import prune_edges
        if not self.causal:
            raise ValueError("the conditional baseline has no graph to prune")
        if not isinstance(u, Tensor) or u.dim() != 2 or u.shape[1] != self.n or u.shape[0] < 1:
            got = tuple(u.shape) if isinstance(u, Tensor) else type(u).__name__
            raise ValueError(f"prune_graph expected labels u of shape (N, {self.n}), got {got}")
        values.with_values("prune_graph's u", u, f"labels (N, {self.n}) with values")  # (.to of meta raised)
        if u.dtype != torch.bool and not u.is_complex():
            u = u.to(self.A_raw.device, self.A_raw.dtype)  # (labels on another device, or integers, are read as they were)
        u = self._labels("prune_graph's u", u)
        equations = self.label_equations if self.graph_from == "labels" else self.mask
        keep, rises = prune_edges(self.adjacency(), lambda A: float((u - equations.predict_labels(u, A)).pow(2)
                                                                    .sum(1).mean()), tolerance, threshold)
        self.edge_mask.mul_(keep)
        return rises

    def image_graph(self) -> Tensor:
        """A as the image side (causal layer, mask layer on z, KL of z) uses it: ``adjacency()`` itself, or with
        graph_from="labels" the same values detached, so that only the label terms (l_u through the model's own
        label equations, the independence term) and H(A) move A, while the ELBO and l_m do not pull on it."""
        return self.adjacency().detach() if self.graph_from == "labels" else self.adjacency()

    def causal_matrix(self) -> Tensor:
        """C = (I - A^T)^{-1}.  [slides, Eq. 27]"""
        eye = torch.eye(self.n, device=self.A_raw.device)
        return torch.linalg.inv(eye - self.image_graph().T)

    # ---- checks -----------------------------------------------------------------------------------
    def check_input(self, x: Tensor, u: Tensor | None) -> Tensor:
        x = super().check_input(x)
        if u is None:
            if self.label_dropout == 0:
                raise ValueError(f"{type(self).__name__} was trained with its labels always given (label_dropout 0): "
                                 "it cannot encode an image without u; pass the labels u")
            return x
        if not isinstance(u, Tensor) or u.dim() != 2 or u.shape[1] != self.n or u.shape[0] != x.shape[0]:
            got = tuple(u.shape) if isinstance(u, Tensor) else type(u).__name__
            raise ValueError(f"{type(self).__name__} expected labels u of shape ({x.shape[0]}, {self.n}), one column "
                             f"per concept, got {got}")
        if u.dtype == torch.bool or u.is_complex() or u.device != x.device:  # (ints are read as numbers)
            raise ValueError(f"{type(self).__name__} expected finite real labels u (not bools) on {x.device}, the "
                             f"images' device, got {values.shown(u)} on {u.device}")
        if not bool((u.abs() <= values.MAX_WEIGHT).all()):  # NaN fails too; 1e30 overflowed the label prior to inf
            raise ValueError(f"{type(self).__name__} expected finite real labels u at most {values.MAX_WEIGHT:g} in "
                             f"size (normalised concept values, about -1 to 1), got "
                             f"{'NaN or inf' if not bool(torch.isfinite(u).all()) else f'{u.abs().max().item():.3g}'}")
        return x

    # ---- the layers -------------------------------------------------------------------------------
    def encode(self, x: Tensor, u: Tensor | None, given: Tensor | None = None) -> DiagonalGaussian:
        """q(eps|x, u) with mean h(x, u): (B, D).  [slides, Eq. 30-31]

        ``u=None`` withholds the labels (a model trained with ``label_dropout`` > 0 reads its concepts from the
        image alone, as it must on an image nobody labelled); ``given`` (B, 1) of 0/1 withholds them per example."""
        x = self.check_input(x, u)
        if given is not None and (not isinstance(given, Tensor) or not given.is_floating_point()
                                  or tuple(given.shape) != (x.shape[0], 1) or given.device != x.device
                                  or not bool(((given == 0) | (given == 1)).all())):
            raise ValueError(f"encode's given must be a floating-point tensor ({x.shape[0]}, 1) of 0/1 on {x.device} "
                             f"(1: the example's labels given), got {values.shown(given)}")
        if given is None:
            given = torch.full((x.shape[0], 1), float(u is not None), dtype=x.dtype, device=x.device)
        u = torch.zeros(x.shape[0], self.n, dtype=x.dtype, device=x.device) if u is None else u.to(x.dtype)
        inputs = [self.encoder(x), u] if self.label_dropout == 0 else [self.encoder(x), u * given, given]
        mu, logvar = self.head(torch.cat(inputs, 1)).chunk(2, dim=-1)  # (B, D), (B, D)
        return DiagonalGaussian(mu, logvar)

    def _solve_equations(self, eps: Tensor, fixed: dict[int, Tensor] | None = None) -> Tensor:
        """latent_scm="equations": z solving z_i = g_i(A_i o z) 1_k + eps_i, (B, n, k) -> (B, n, k), by n sweeps
        (exact on a DAG: a node's value is final once its ancestors' are); blocks in ``fixed`` keep that value
        (their equations replaced, incoming edges cut). g is the label equations on the blocks' means, read
        frozen with A detached: the image side does not move the graph or its equations."""
        fixed = fixed or {}
        A = self.image_graph()
        z = eps
        for _ in range(self.n):
            z = self.label_equations(z.mean(2, keepdim=True), A, frozen=True) + eps  # (B, n, 1) + (B, n, k)
            if fixed:
                z = torch.stack([fixed[i].expand_as(z[:, i]) if i in fixed else z[:, i] for i in range(self.n)], 1)
        return z

    def causal_layer(self, eps: Tensor) -> Tensor:
        """z = (I - A^T)^{-1} eps, block-wise: (B, D) -> (B, D).  [slides, Eq. 27]
        (latent_scm="equations": z = g(A o z) + eps instead, ``_solve_equations``.)"""
        eps = self.check_latent(eps, self.latent_dim, "causal_layer", "eps")
        if not self.causal:
            return eps
        if self.latent_scm == "equations":
            return self._solve_equations(eps.view(-1, self.n, self.k)).reshape(-1, self.latent_dim)
        eye = torch.eye(self.n, device=eps.device)
        blocks = eps.view(-1, self.n, self.k)  # (B, n, k)
        return torch.linalg.solve(eye - self.image_graph().T, blocks).reshape(-1, self.latent_dim)

    def predict_labels(self, u: Tensor) -> Tensor:
        """Each concept's label from its parents' labels, (B, n) -> (B, n), through A itself (never detached): the
        label equations of graph_from="labels", else the mask layer's own equations (``MaskLayer.predict_labels``)."""
        if not self.causal:
            raise ValueError("the conditional baseline has no label equations (no graph) to predict labels with")
        return self._predict_labels(self._labels("predict_labels' u", u))

    def _labels(self, name: str, u) -> Tensor:
        """Labels u (N, n) read as ``forward`` reads them (real, on the model's device, finite and at most
        ``values.MAX_WEIGHT`` in size), in the model's dtype, or a ValueError naming ``name``."""
        if not isinstance(u, Tensor) or not u.is_floating_point() or u.dim() != 2 or u.shape[1] != self.n \
                or u.shape[0] == 0:
            raise ValueError(f"{name} must be real floating-point labels (B, {self.n}), one column per concept, got "
                             f"{values.shown(u)}")
        values.with_values(name, u, f"labels (B, {self.n}) with values")
        if u.device != self.A_raw.device:
            raise ValueError(f"{name} must be on the model's device {self.A_raw.device}, got {values.shown(u)} on "
                             f"{u.device}")
        if not bool((u.abs() <= values.MAX_WEIGHT).all()):  # NaN fails too; 1e30 labels gave all-zero predictions
            raise ValueError(f"{name} must be finite labels at most {values.MAX_WEIGHT:g} in size (normalised concept "
                             f"values, about -1 to 1), got {values.shown(u)} up to "
                             f"{'NaN or inf' if not bool(torch.isfinite(u).all()) else f'{u.abs().max().item():.3g}'}")
        return u.to(self.A_raw.dtype)

    def _predict_labels(self, u: Tensor) -> Tensor:
        equations = self.label_equations if self.graph_from == "labels" else self.mask
        return equations.predict_labels(u, self.adjacency())

    def structural(self, z: Tensor) -> Tensor:
        """g_i(A_i o z) for every concept (B, D); zeros for the conditional baseline (no mask layer)."""
        z = self.check_latent(z, self.latent_dim, "structural")
        if not self.causal:
            return torch.zeros_like(z)
        if self.latent_scm == "equations":
            g = self.label_equations(z.view(-1, self.n, self.k).mean(2, keepdim=True), self.image_graph(), frozen=True)
            return g.expand(-1, -1, self.k).reshape(-1, self.latent_dim)
        return self.mask(z.view(-1, self.n, self.k), self.image_graph()).reshape(-1, self.latent_dim)

    def decode(self, z_tilde: Tensor) -> Distribution:
        """p(x|z~) = decoder f(z~); ``log_prob(x)`` summed over pixels: (B,).  [slides, Eq. 29]"""
        z_tilde = self.check_latent(z_tilde, self.latent_dim, "decode")
        return self.likelihood(self.decoder(z_tilde))

    def forward(self, x: Tensor, u: Tensor | None, generator: torch.Generator | None = None) -> CausalVAEOutput:
        if u is None:
            raise ValueError(f"{type(self).__name__} trains on labelled images: forward needs the labels u (the prior "
                             "p(z|u) reads them), got None")
        given = None  # label_dropout in training: each example's u withheld from the encoder with that probability
        if self.training and self.label_dropout > 0:
            given = (torch.rand(x.shape[0], 1, device=x.device) >= self.label_dropout).to(x.dtype)
        q = self.encode(x, u, given)  # (the prior p(z|u) below always has the labels: they are training data)
        eps = reparameterize(q.mu, q.logvar, generator=generator)  # (B, D)
        z = self.causal_layer(eps)  # (B, D)
        g = self.structural(z)  # (B, D)
        z_tilde = g + eps if self.causal and self.latent_scm == "linear" else z  # ("equations": z = g + eps)
        if self.latent_scm == "equations":  # unit-Jacobian map: KL with E||(eps - mu)/sigma||^2 = D exactly
            target = u.to(q.mu.dtype).repeat_interleave(self.k, 1)  # (B, D): block i's prior mean u_i 1_k
            s2 = self.prior_std ** 2  # p(z|u) = N(u, s^2 I)
            kl_z = 0.5 * (-q.logvar - 1 + math.log(s2) + (z - target).pow(2) / s2).sum(1)
        else:
            C = self.causal_matrix() if self.causal else torch.eye(self.n, device=x.device)
            kl_z = gaussian_kl_to_label_prior(C, q.mu.view(-1, self.n, self.k), q.logvar.view(-1, self.n, self.k),
                                              u.to(q.mu.dtype))
        owned = shared = overlap = None
        if isinstance(self.decoder, LayeredDecoder):  # the composite, and who drew each pixel (the ownership cost)
            drawing = self.decoder.draw(z_tilde)
            p_x, owned, overlap = self.likelihood(drawing.logits), drawing.owned.flatten(1).sum(1), drawing.overlap
            shared = self.decoder.shared()
        else:
            p_x = self.decode(z_tilde)
        return CausalVAEOutput(q_eps=q, eps=eps, z=z, z_mean=self.causal_layer(q.mu), g=g, z_tilde=z_tilde,
                               p_x=p_x, u=u, A=self.adjacency(), kl_z=kl_z,
                               u_hat=self._predict_labels(u.to(q.mu.dtype)) if self.causal else None,
                               causal=self.causal, owned=owned, shared=shared, overlap=overlap,
                               reads_back=self.cycle,
                               cycle=self.read_back(eps, z) if self.cycle and self.training else None)

    def read_back(self, eps: Tensor, z: Tensor) -> Tensor:
        """A counterfactual of each example drawn and read back through the encoder, labels withheld   [the course's]

            i ~ U{1..n};  c = z_i of another example of the batch;  z' = the latent under do(z_i = c) (descendants
            recomputed, ``_propagate``);  x' = E[x|z'];  z^ = the encoder's latent of x' alone
            read_back = ||z^ - z'||^2 / 2 s^2     (B,)    s = prior_std: the label prior's own scale

        The decoder has to draw do(z_i = c) so that the image shows c and keeps every other concept at its z', and the
        encoder has to read each concept from the pixels that show it (in the data the shadow nearly follows the
        angles: read back, a shadow drawn from the angle latents does not move under do(shadow position))."""
        eps = self.check_latent(eps, self.latent_dim, "read_back", "eps")
        z = self.check_latent(z, self.latent_dim, "read_back", "z")
        if z.shape != eps.shape:
            raise ValueError(f"read_back expected eps and z of one shape (B, {self.latent_dim}), got eps "
                             f"{tuple(eps.shape)} and z {tuple(z.shape)}")
        i = int(torch.randint(self.n, (1,)))
        blocks = z.view(-1, self.n, self.k)
        c = blocks[torch.randperm(blocks.shape[0], device=z.device), i].detach()  # (B, k): values the data holds
        z_do = self._propagate(eps, {i: c})  # (B, D)
        read = self.causal_layer(self.encode(self.decode(z_do).mean, None).mu)  # (B, D)
        return (read - z_do).pow(2).sum(1) / (2 * self.prior_std ** 2)

    # ---- using a trained model -------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, x: Tensor, u: Tensor | None) -> Tensor:
        """The mean of q(z|x, u), (B, D): the representation the metrics read (u=None: the labels withheld)."""
        return self.causal_layer(self.encode(x, u).mu)

    @torch.no_grad()
    def concept_latents(self, x: Tensor, u: Tensor | None) -> Tensor:
        """One number per concept: the mean over its block of E[z|x, u], (B, n)."""
        return self.embed(x, u).view(-1, self.n, self.k).mean(2)

    @torch.no_grad()
    def ownership(self, x: Tensor, u: Tensor | None) -> Tensor:
        """owned_i(p) for each image (B, n, H, W): how much of each pixel each concept draws (decoder="layered")."""
        self.check_input(x, u)  # the arguments first, then whether this model can answer
        if not isinstance(self.decoder, LayeredDecoder):
            raise ValueError(f"only decoder='layered' learns which pixels each concept owns; this model's decoder "
                             f"is {self.hparams.get('decoder', 'joint')!r}")
        return self.decoder.draw(self.intervene_latent(x, u, {})).owned

    @torch.no_grad()
    def reconstruct(self, x: Tensor, u: Tensor | None) -> Tensor:
        return self.intervene(x, u, {})

    def _propagate(self, eps: Tensor, fixed: dict[int, Tensor]) -> Tensor:
        """Action and prediction in the model's own generative map, from abducted eps (B, D) to z~ (B, D).

        z' solves the causal layer's SCM z = A^T z + eps with each intervened block's equation replaced by its
        value (incoming edges cut; Eq. 27 with those columns of A zeroed); the decoder then reads
        z~ = g(A o z') + (z' - A^T z'). For a block not intervened on, z' - A^T z' is its abducted eps, so z~ is
        the forward pass's g + eps recomputed from the new parents; for an intervened block it is the noise that
        gives it the value c, so its decoder input moves by exactly c - z_i, whatever g_i's offset.
        (latent_scm="equations": the intervened block is set to c 1_k, and the others solve their equations with
        their own eps; the decoder reads z'. Keeping the block's abducted spread around the new mean instead left
        the old concept drawn: the encoder writes a concept into the block's directions, not only its mean; measured
        on the pendulum, do(theta)'s concept error 0.38 against 0.15 with the block set whole.)"""
        if self.latent_scm == "equations":
            blocks = {i: value.expand(eps.shape[0], self.k) if value.dim() < 2 else value.expand(-1, self.k)
                      for i, value in fixed.items()}
            return self._solve_equations(eps.view(-1, self.n, self.k), blocks).reshape(-1, self.latent_dim)
        A = self.adjacency()  # zero for the conditional baseline, whose z~ is then z' itself
        cut, e = A.clone(), eps.view(-1, self.n, self.k).clone()
        for i, value in fixed.items():
            cut[:, i] = 0  # action: no parents any more ...
            e[:, i] = value  # ... and the equation is the constant
        eye = torch.eye(self.n, device=eps.device)
        z_do = torch.linalg.solve(eye - cut.T, e)  # (B, n, k)
        linear = torch.einsum("ji,bjk->bik", A, z_do)  # (A^T z')_i = sum_j A[j, i] z'_j
        return self.structural(z_do.reshape(-1, self.latent_dim)) + (z_do - linear).reshape(-1, self.latent_dim)

    @torch.no_grad()
    def intervene_latent(self, x: Tensor, u: Tensor | None, interventions: dict[int, float | Tensor]) -> Tensor:
        """z~ under do(z_i = c_i) (B, D): abduction (eps = posterior mean), action, prediction."""
        interventions = values.mapping.check("interventions (a dict {concept index: value})", interventions)
        x = self.check_input(x, u)
        batch = x.shape[0]
        value_kind = values.numbers(f"a finite number at most {values.MAX_WEIGHT:g} in size, or one per example "
                                    f"({batch},) (do(z_i = c), c in label units)",
                                    lambda t: (t.dim() == 0 or tuple(t.shape) == (batch,))
                                    and bool((t.abs() <= values.MAX_WEIGHT).all()))
        fixed = {}
        for i, value in interventions.items():
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) or not 0 <= i < self.n:
                raise ValueError(f"interventions are keyed by concept index 0..{self.n - 1} (ints), got "
                                 f"{values.shown(i)}")
            i = int(i)
            value = value_kind.check(f"interventions[{i}]", value).to(x.device, x.dtype)
            fixed[i] = value[:, None] if value.dim() == 1 else value
        eps = self.encode(x, u).mu  # abduction at the posterior mean
        return self._propagate(eps, fixed)

    @torch.no_grad()
    def intervene(self, x: Tensor, u: Tensor | None, interventions: dict[int, float | Tensor]) -> Tensor:
        """The decoded counterfactual E[x | do(z_i = c_i)] for each image: (B, C, H, W)."""
        return self.decode(self.intervene_latent(x, u, interventions)).mean


@register_model
class ConditionalVAE(CausalVAE):
    """The conditional baseline: q(z|x, u), p(z|u) = N(u, I) per concept block, p(x|z); no causal or mask layer."""

    causal = False

    def __init__(self, n_concepts: int = 4, concept_dim: int = 4, encoder: str = "conv64",
                 image_shape: tuple[int, int, int] = (3, 64, 64), likelihood: str = "bernoulli"):
        super().__init__(n_concepts=n_concepts, concept_dim=concept_dim, encoder=encoder, image_shape=image_shape,
                         likelihood=likelihood)
        self._remember(n_concepts=n_concepts, concept_dim=concept_dim, encoder=encoder,
                       image_shape=tuple(int(s) for s in image_shape), likelihood=likelihood)


__all__ = ["DECODERS", "GRAPH_SOURCES", "LATENT_SCMS", "CausalVAE", "CausalVAEOutput", "ConceptDecoders",
           "LayeredDecoder", "ShadowRowsDecoder",
           "ConditionalVAE", "MaskLayer", "gaussian_kl_to_label_prior"]
