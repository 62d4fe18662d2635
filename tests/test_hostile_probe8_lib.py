"""Issue 25, the eighth probe (objectives, SCMs, models, nn): a kernel bandwidth whose square float32 holds in every
reader of it, dual ascent that never leaves a multiplier its own loader refuses (ConstrainedVAE, CausalObjective),
meta tensors refused in the library's words by every objective, CausalVAE's label readers bounded as forward is,
pixel weights at most MAX_WEIGHT, a label loss >= 0 in prune_edges, mlp's widths and memory before building, do()
values of the linear SCM at most MAX_WEIGHT and named, H(A) >= 0 in the penalty and covariances whose noise scales
the SCMs take; valid input at each bound still accepted."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vaecourse import values
from vaecourse.graph_fit import learn_graph_from_labels, prune_edges
from vaecourse.models.causal import CausalVAE, gaussian_kl_to_label_prior
from vaecourse.models.causal_layers import MaskLayer
from vaecourse.models.vae import VAE
from vaecourse.nn import build_encoder, mlp
from vaecourse.objectives import beta as OB
from vaecourse.objectives import causal as OC
import importlib
OE = importlib.import_module("vaecourse.objectives.elbo")  # (objectives.elbo is also the function)
from vaecourse.objectives.independence import hsic, noise_dependence
from vaecourse.objectives.ladder import ladder_elbo
from vaecourse import scm as S

META = "on the meta device (shapes only, no values)"
CHAIN = torch.tensor([[0., 1., 0.], [0., 0., 1.], [0., 0., 0.]])


def _one_line(excinfo, *words):
    message = str(excinfo.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, (word, message)


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VAE(2, "mlp", (1, 4, 4), logvar_bias=-10.0)


@pytest.fixture(scope="module")
def causal():
    torch.manual_seed(0)
    return CausalVAE(encoder="mlp", image_shape=(3, 4, 4), n_concepts=3, concept_dim=2)


# ---- #2: the bandwidth: a kind whose square float32 holds, in every reader ----------------------------------
BANDWIDTH_READERS = {
    "hsic": lambda b: hsic(torch.randn(16), torch.randn(16), bandwidth=b),
    "noise_dependence": lambda b: noise_dependence(torch.randn(16, 3), bandwidth=b),
    "CausalObjective": lambda b: OC.CausalObjective(bandwidth=b),
    "learn_graph_from_labels": lambda b: learn_graph_from_labels(torch.rand(8, 3), steps=1, bandwidth=b),
}


@pytest.mark.parametrize("bandwidth", [1e-37, 1e-25, 1e-19, 1e19, 1e30, 0.0, -1.0, 10 ** 400])
@pytest.mark.parametrize("reader", list(BANDWIDTH_READERS))
def test_a_bandwidth_float32_cannot_square_is_refused(reader, bandwidth):
    with pytest.raises(ValueError) as excinfo:
        BANDWIDTH_READERS[reader](bandwidth)
    _one_line(excinfo, "bandwidth", "square float32 holds")


def test_causal_vae_loss_refuses_the_bandwidth_too(causal):
    x, u = torch.rand(2, 3, 4, 4), torch.rand(2, 3)
    with pytest.raises(ValueError) as excinfo:
        OC.causal_vae_loss(causal(x, u), x, bandwidth=1e-30)
    _one_line(excinfo, "bandwidth")


@pytest.mark.parametrize("bandwidth", [1e-18, 1e-10, 0.5, 1e6, 1e18])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_bandwidths_at_the_bounds_give_finite_hsic(bandwidth, dtype):
    torch.manual_seed(0)
    value = hsic(torch.randn(16).to(dtype), torch.randn(16).to(dtype), bandwidth=bandwidth)
    assert bool(torch.isfinite(value)) and float(value) >= -1e-6
    value = noise_dependence(torch.randn(16, 3).to(dtype), bandwidth=bandwidth)
    assert bool(torch.isfinite(value)) and float(value) >= -1e-6


# ---- #3 #4: dual ascent never leaves a multiplier the loader refuses ----------------------------------------
@pytest.mark.parametrize("lr_dual", [1e6, 5e5, 1e3])
def test_a_constrained_vae_whose_beta_hit_the_bound_resumes(vae, lr_dual):
    x = torch.rand(4, 1, 4, 4)
    objective = OB.ConstrainedVAE(epsilon=0.0, lr_dual=lr_dual, beta=values.MAX_WEIGHT)
    for _ in range(3):
        objective(vae(x), x)
    assert objective.beta == values.MAX_WEIGHT
    resumed = OB.ConstrainedVAE(epsilon=0.0, lr_dual=lr_dual)
    resumed.load_state_dict(objective.state_dict())
    assert resumed.beta == values.MAX_WEIGHT and resumed.beta_trace == objective.beta_trace


@pytest.mark.parametrize("beta, kl, epsilon, lr", [(1.0, 1e30, 0.5, 0.1), (1e6, 1e6, 0.0, 1e6), (0.0, 3e5, 0.0, 1e6)])
def test_dual_ascent_step_is_clamped_at_the_loaders_bound(beta, kl, epsilon, lr):
    assert OB.dual_ascent_step(beta, kl, epsilon, lr) == values.MAX_WEIGHT
    assert OB.dual_ascent_step(1e6, 0.0, 1e6, 1e6) == 0.0  # and at 0 below


@pytest.mark.parametrize("kl", [1.1e30, 1e35, 3e38, -1.0, math.nan])
def test_dual_ascent_step_refuses_a_kl_beyond_max_measured(kl):
    with pytest.raises(ValueError) as excinfo:
        OB.dual_ascent_step(1.0, kl, 0.5, 0.1)
    _one_line(excinfo, "kl")


@pytest.mark.parametrize("h", [1e7, 1e12, 1e30])
def test_a_causal_objective_whose_alpha_hit_the_bound_resumes(h):
    objective = OC.CausalObjective(rho=100.0)
    objective.dual_update(1, h)
    objective.dual_update(2, h)
    assert objective.alpha == values.MAX_WEIGHT
    resumed = OC.CausalObjective(rho=100.0)
    resumed.load_state_dict(objective.state_dict())
    assert resumed.alpha == values.MAX_WEIGHT and resumed.trace == objective.trace


@pytest.mark.parametrize("h", [1.1e30, 3e38, -0.5, math.inf])
def test_dual_update_refuses_an_h_beyond_max_measured(h):
    objective = OC.CausalObjective()
    with pytest.raises(ValueError) as excinfo:
        objective.dual_update(1, h)
    _one_line(excinfo, "h")
    assert objective.alpha == 0.0 and objective.trace == []


# ---- #5 #6 #7: meta tensors in every objective --------------------------------------------------------------
def _meta_cases(vae, causal):
    x = torch.rand(3, 1, 4, 4)
    xc, u = torch.rand(2, 3, 4, 4), torch.rand(2, 3)
    meta = lambda t: t.to("meta")
    return {
        "elbo": lambda: OE.elbo(vae(x), meta(x)),
        "elbo_terms": lambda: OE.elbo_terms(vae(x), meta(x)),
        "check_target": lambda: OE.check_target(vae(x), meta(x)),
        "beta_vae": lambda: OB.beta_vae(vae(x), meta(x)),
        "capacity_vae": lambda: OB.capacity_vae(vae(x), meta(x)),
        "ConstrainedVAE": lambda: OB.ConstrainedVAE(epsilon=1.0)(vae(x), meta(x)),
        "beta_vae_loss(log_px_z)": lambda: OB.beta_vae_loss(torch.zeros(3, device="meta"), torch.ones(3), 1.0),
        "beta_vae_loss(kl)": lambda: OB.beta_vae_loss(torch.zeros(3), torch.ones(3, device="meta"), 1.0),
        "log_mean_exp": lambda: OE.log_mean_exp(torch.zeros(4, 3, device="meta")),
        "mask_loss(g)": lambda: OC.mask_loss(torch.randn(4, 3), torch.randn(4, 3, device="meta")),
        "mask_loss(z)": lambda: OC.mask_loss(torch.randn(4, 3, device="meta"), torch.randn(4, 3)),
        "causal_vae_loss": lambda: OC.causal_vae_loss(causal(xc, u), meta(xc)),
        "conditional_vae_loss": lambda: OC.conditional_vae_loss(causal(xc, u), meta(xc)),
        "CausalObjective": lambda: OC.CausalObjective()(causal(xc, u), meta(xc)),
        "weighted_log_likelihood": lambda: OC.weighted_log_likelihood(causal(xc, u), meta(xc), torch.ones(4, 4)),
        "label_loss": lambda: OC.label_loss(torch.rand(4, 3, device="meta"), CHAIN),
        "label_residuals": lambda: OC.label_residuals(torch.rand(4, 3, device="meta"), CHAIN),
        "dag_constraint": lambda: OC.dag_constraint(CHAIN.to("meta")),
        "augmented_lagrangian_term": lambda: OC.augmented_lagrangian_term(torch.tensor(0.5, device="meta"), 1.0, 1.0),
        "hsic": lambda: hsic(torch.randn(8, device="meta"), torch.randn(8)),
        "noise_dependence": lambda: noise_dependence(torch.randn(8, 3, device="meta")),
        "dual_ascent_step": lambda: OB.dual_ascent_step(1.0, torch.tensor(1.0, device="meta"), 0.5, 0.1),
        "gaussian_kl_to_label_prior": lambda: gaussian_kl_to_label_prior(
            torch.eye(3), torch.zeros(2, 3, 2, device="meta"), torch.zeros(2, 3, 2), torch.zeros(2, 3)),
        "MaskLayer.predict_labels": lambda: MaskLayer(3, 2).predict_labels(torch.zeros(2, 3, device="meta"), CHAIN),
    }


CASE_NAMES = list(_meta_cases(None, None))


@pytest.mark.parametrize("case", CASE_NAMES)
def test_every_objective_refuses_meta_in_the_librarys_words(vae, causal, case):
    with pytest.raises((ValueError, TypeError)) as excinfo:
        _meta_cases(vae, causal)[case]()
    _one_line(excinfo, META)


def test_ladder_elbo_refuses_meta_too():
    from vaecourse.models import LadderVAE
    torch.manual_seed(0)
    model = LadderVAE([2, 2], [8, 8], image_shape=(1, 4, 4))
    x = torch.rand(3, 1, 4, 4)
    with pytest.raises(ValueError) as excinfo:
        ladder_elbo(model(x), x.to("meta"), epoch=0.0)
    _one_line(excinfo, META)


def test_a_batch_on_another_device_than_the_output_is_refused_by_name(vae):
    x = torch.rand(3, 1, 4, 4)
    out = vae(x)
    with pytest.raises(ValueError) as excinfo:  # (a fake device: the output's z moved to meta)
        OE.check_target(type("Out", (), {"p_x": out.p_x, "z": out.z.to("meta")})(), x)
    _one_line(excinfo, "output z", META)


# ---- #10: CausalVAE's label readers bound labels as forward does --------------------------------------------
@pytest.mark.parametrize("labels", [torch.full((2, 3), 1e30), torch.full((2, 3), 2e6), torch.full((2, 3), math.nan),
                                    torch.full((2, 3), -math.inf)], ids=["1e30", "2e6", "nan", "-inf"])
@pytest.mark.parametrize("method", ["predict_labels", "prune_graph", "forward", "embed", "intervene"])
def test_causal_vae_methods_bound_labels(causal, method, labels):
    x = torch.rand(2, 3, 4, 4)
    call = {"predict_labels": lambda: causal.predict_labels(labels), "prune_graph": lambda: causal.prune_graph(labels),
            "forward": lambda: causal(x, labels), "embed": lambda: causal.embed(x, labels),
            "intervene": lambda: causal.intervene(x, labels, {0: 0.5})}[method]
    with pytest.raises(ValueError) as excinfo:
        call()
    _one_line(excinfo, "1e+06")


def test_causal_vae_label_readers_take_labels_at_the_bound(causal):
    u = torch.full((2, 3), values.MAX_WEIGHT)
    assert bool(torch.isfinite(causal.predict_labels(u)).all())
    assert isinstance(causal.prune_graph(torch.rand(5, 3)), dict)
    assert causal.prune_graph(torch.randint(0, 2, (5, 3))) is not None  # integer labels read as numbers


def test_predict_labels_refuses_meta_labels(causal):
    with pytest.raises(ValueError) as excinfo:
        causal.predict_labels(torch.zeros(2, 3, device="meta"))
    _one_line(excinfo, "predict_labels' u", META)


# ---- #11: pixel weights at most MAX_WEIGHT ----------------------------------------------------------------
@pytest.mark.parametrize("weight", [1e37, 1e30, 1e7, 1.000001e6, math.inf])
@pytest.mark.parametrize("reader", ["causal_vae_loss", "weighted_log_likelihood", "CausalObjective"])
def test_pixel_weights_beyond_max_weight_are_refused(causal, reader, weight):
    x, u = torch.rand(2, 3, 4, 4), torch.rand(2, 3)
    w = torch.ones(3, 4, 4)
    w[0, 0, 0] = weight
    call = {"causal_vae_loss": lambda: OC.causal_vae_loss(causal(x, u), x, pixel_weights=w),
            "weighted_log_likelihood": lambda: OC.weighted_log_likelihood(causal(x, u), x, w),
            "CausalObjective": lambda: OC.CausalObjective(pixel_weights=w)}[reader]
    with pytest.raises(ValueError) as excinfo:
        call()
    _one_line(excinfo, "pixel_weights", "1e+06")


def test_pixel_weights_at_max_weight_give_a_finite_loss(causal):
    x, u = torch.rand(2, 3, 4, 4), torch.rand(2, 3)
    loss = OC.causal_vae_loss(causal(x, u), x, pixel_weights=torch.full((4, 4), values.MAX_WEIGHT)).loss
    assert bool(torch.isfinite(loss))


# ---- #25: prune_edges' label loss is >= 0 and finite ---------------------------------------------------------
@pytest.mark.parametrize("loss", [-1.0, -1e-9, math.nan, math.inf, 1e31, "0.1", None, True])
def test_prune_edges_refuses_a_label_loss_that_is_no_loss(loss):
    with pytest.raises(ValueError) as excinfo:
        prune_edges(CHAIN, lambda A: loss)
    _one_line(excinfo, "label_loss(A)")


def test_prune_edges_takes_a_loss_of_zero_and_at_the_bound():
    keep, _ = prune_edges(CHAIN, lambda A: 0.0)
    assert keep.shape == (3, 3)
    keep, _ = prune_edges(CHAIN, lambda A: values.MAX_MEASURED)
    assert keep.shape == (3, 3)


# ---- #29: mlp's widths through values.layer_sizes and its memory before building ----------------------------
@pytest.mark.parametrize("sizes", [[3, 65537], [65537, 3], [3, 10 ** 6, 3], [3, 0], [3, -1]])
def test_mlp_refuses_widths_beyond_max_units(sizes):
    with pytest.raises(ValueError) as excinfo:
        mlp(sizes)
    _one_line(excinfo, "mlp's sizes")


@pytest.mark.parametrize("sizes", [[65536, 65536], [65536, 65536, 65536], [40000, 65536, 40000]])
def test_mlp_refuses_weights_beyond_max_bytes_before_building(sizes):
    with pytest.raises(ValueError) as excinfo:
        mlp(sizes)
    _one_line(excinfo, "mlp's sizes", "GiB")


def test_mlp_at_the_bounds_and_image_bodies_still_build():
    assert len(mlp([1, 65536])) == 1
    body = build_encoder("mlp28", (1, 256, 256), 2)  # 65,536 pixels in; a wide image body is no unit count
    assert body[1][0].in_features == 65536
    body = build_encoder("mlp28", (3, 256, 256), 2)
    assert body[1][0].in_features == 3 * 256 * 256


# ---- #30 #31: the linear SCM's do() values at most MAX_WEIGHT, named -----------------------------------------
BIG = torch.tensor([[0., 1e6, 0.], [0., 0., 1e6], [0., 0., 0.]])


@pytest.mark.parametrize("value", [1e30, 1e7, -2e6, math.nan, math.inf, "1", True])
def test_linear_sample_interventions_are_do_values(value):
    with pytest.raises(ValueError) as excinfo:
        S.linear_sample(BIG, torch.randn(5, 3), {0: value})
    _one_line(excinfo, "linear_sample's interventions[0]")


@pytest.mark.parametrize("value", [1e30, 1e7, -2e6, math.nan, "1"])
def test_linear_intervene_names_its_value(value):
    with pytest.raises(ValueError) as excinfo:
        S.linear_intervene(BIG, torch.randn(5, 3), 0, value)
    _one_line(excinfo, "linear_intervene's value")
    assert not str(excinfo.value).startswith("eps")


def test_do_values_at_the_bound_work():
    x = S.linear_sample(CHAIN, torch.randn(5, 3), {0: values.MAX_WEIGHT})
    assert bool(torch.isfinite(x).all()) and float(x[0, 0]) == values.MAX_WEIGHT
    z = S.linear_intervene(BIG, torch.randn(5, 3), 0, -values.MAX_WEIGHT)
    assert bool(torch.isfinite(z).all())


@pytest.mark.parametrize("who", ["linear_sample", "linear_solve", "causal_matrix", "linear_covariance"])
def test_weights_whose_products_overflow_are_named(who):
    A = torch.diag(torch.full((9,), 1e6), 1)  # a chain of ten, weights 1e6: 1e54 at its end
    call = {"linear_sample": lambda: S.linear_sample(A, torch.ones(2, 10)),
            "linear_solve": lambda: S.linear_solve(A, torch.ones(2, 10)),
            "causal_matrix": lambda: S.causal_matrix(A), "linear_covariance": lambda: S.linear_covariance(A)}[who]
    with pytest.raises(ValueError) as excinfo:
        call()
    _one_line(excinfo, f"{who}'s A", "products along its paths")


# ---- Unsure: H(A) >= 0 in the penalty; covariances whose noise scales the SCMs take ---------------------------
@pytest.mark.parametrize("H", [-1.0, -0.01, math.nan, math.inf, 1.1e30])
def test_augmented_lagrangian_term_refuses_an_h_that_is_no_h(H):
    with pytest.raises(ValueError) as excinfo:
        OC.augmented_lagrangian_term(torch.tensor(H), 1.0, 1.0)
    _one_line(excinfo, "augmented_lagrangian_term's H")


def test_augmented_lagrangian_term_refuses_an_overflowing_penalty_and_takes_rounding():
    with pytest.raises(ValueError) as excinfo:
        OC.augmented_lagrangian_term(torch.tensor(1e25), 1.0, 1.0)  # (1e25)^2 is inf in float32
    _one_line(excinfo, "augmented_lagrangian_term's H", "finite")
    assert float(OC.augmented_lagrangian_term(torch.tensor(-1e-4), 1.0, 1.0)) < 0.001  # rounding below 0
    H = torch.tensor(2.0, requires_grad=True)
    OC.augmented_lagrangian_term(H, 1.0, 1.0).backward()
    assert float(H.grad) == 3.0  # (the check keeps the gradient: alpha + rho H)


@pytest.mark.parametrize("scale", [1e30, 1e13, 2e12])
def test_linear_scm_from_covariance_refuses_noise_scales_beyond_max_weight(scale):
    with pytest.raises(ValueError) as excinfo:
        S.linear_scm_from_covariance(torch.eye(3, dtype=torch.float64) * scale, [0, 1, 2])
    _one_line(excinfo, "cov")


def test_linear_scm_from_covariance_refuses_weights_beyond_max_weight():
    cov = torch.tensor([[1e-12, 0.5], [0.5, 1e12]], dtype=torch.float64)  # x1 = 5e11 x0 + eps
    with pytest.raises(ValueError) as excinfo:
        S.linear_scm_from_covariance(cov, [0, 1])
    _one_line(excinfo, "cov", "regression weights")


def test_linear_scm_from_covariance_at_the_bound():
    A, s = S.linear_scm_from_covariance(torch.eye(3, dtype=torch.float64) * 1e12, [2, 0, 1])
    assert torch.allclose(s, torch.full((3,), 1e6, dtype=torch.float64)) and float(A.abs().max()) == 0.0
    S.linear_scm(A, scale=s)  # the SCM takes what it returned
