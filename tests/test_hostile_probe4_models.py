"""Issue 25, the fourth held-out probe: its classes in the distributions, likelihoods, network bodies, models and
objectives.

Each bad call is refused at the call with one ValueError or TypeError in one line that names the argument (and, where
the words matter, what was expected); a few valid odd inputs must keep working. New values, not only the probe's.
"""
import math

import numpy as np
import pytest
import torch

from vaecourse import distributions as D
from vaecourse import likelihoods as L
from vaecourse import nn as N
from vaecourse import objectives as O
from vaecourse.models import CausalVAE, LadderVAE, VAE
from vaecourse.models import causal as C
from vaecourse.models import causal_layers as CL
from vaecourse.objectives import causal as OC
from vaecourse.objectives.independence import noise_dependence

NAN, INF = math.nan, math.inf


def _vae():
    torch.manual_seed(0)
    return VAE(latent_dim=2, encoder="mlp", image_shape=(1, 4, 4))


def _ladder():
    torch.manual_seed(0)
    return LadderVAE(latent_sizes=[3, 2], hidden_sizes=[8, 8], image_shape=(1, 4, 4))


def _causal():
    torch.manual_seed(0)
    return CausalVAE(n_concepts=4, concept_dim=1, encoder="mlp", image_shape=(3, 4, 4))


def _x(n=3, c=1):
    return torch.rand(n, c, 4, 4, generator=torch.Generator().manual_seed(1))


def _d():
    return D.DiagonalGaussian(torch.zeros(4, 3), torch.zeros(4, 3))


CASES = {  # id -> (call, words the one-line message must hold)
    # distributions: types, shapes, devices, counts (NaN values follow IEEE there, by design)
    "DiagonalGaussian(bool mu)": (lambda: D.DiagonalGaussian(torch.zeros(2, 3, dtype=torch.bool), torch.zeros(2, 3)),
                                  ["DiagonalGaussian's mu", "torch.bool"]),
    "DiagonalGaussian(int logvar)": (lambda: D.DiagonalGaussian(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.int32)),
                                     ["logvar", "torch.int32"]),
    "DiagonalGaussian(meta logvar)": (lambda: D.DiagonalGaussian(torch.zeros(2, 3), torch.zeros(2, 3, device="meta")),
                                      ["DiagonalGaussian's logvar is a meta tensor (no values)"]),
    "rsample((10**6, 10**6))": (lambda: _d().rsample((10 ** 6, 10 ** 6)), ["sample_shape", "GiB"]),
    "rsample((0, -2))": (lambda: _d().rsample((0, -2)), ["sample_shape", "(0, -2)"]),
    "rsample(True)": (lambda: _d().rsample(True), ["sample_shape", "True"]),
    "rsample(generator='g')": (lambda: _d().rsample(generator="g"), ["generator", "'g'"]),
    "log_prob(int value)": (lambda: _d().log_prob(torch.zeros(4, 3, dtype=torch.long)), ["value", "torch.int64"]),
    "log_prob((4, 2))": (lambda: _d().log_prob(torch.zeros(4, 2)), ["value", "(4, 2)"]),
    "log_prob(tuple)": (lambda: _d().log_prob((0.0, 0.0, 0.0)), ["value", "tuple"]),
    "kl_standard_normal(numpy)": (lambda: D.kl_standard_normal(np.zeros((2, 3)), np.zeros((2, 3))), ["mu", "ndarray"]),
    "kl_standard_normal(complex)": (lambda: D.kl_standard_normal(torch.zeros(2, 3, dtype=torch.complex64),
                                                                 torch.zeros(2, 3)), ["mu", "complex64"]),
    "kl_diagonal_gaussians(shapes)": (lambda: D.kl_diagonal_gaussians(*[torch.zeros(2, 3)] * 3, torch.zeros(2, 4)),
                                      ["logvar_p (2, 4)"]),
    "log_normal(z None)": (lambda: D.log_normal(None), ["log_normal's z", "None"]),
    "log_normal(mu nan float)": (lambda: D.log_normal(torch.zeros(2, 3), NAN), ["log_normal's mu", "nan"]),
    "log_normal(logvar (5, 3))": (lambda: D.log_normal(torch.zeros(2, 3), 0.0, torch.zeros(5, 3)), ["logvar", "(5, 3)"]),
    "monte_carlo_kl(0-d)": (lambda: D.monte_carlo_kl(torch.tensor(0.0), torch.tensor(0.0), 2), ["mu", "(B, D)"]),
    "standard_normal(dtype bool)": (lambda: D.standard_normal((2,), 3, dtype=torch.bool), ["dtype", "torch.bool"]),
    "standard_normal(dtype 'float32')": (lambda: D.standard_normal((2,), 3, dtype="float32"), ["dtype", "'float32'"]),
    "standard_normal(device 'tpu')": (lambda: D.standard_normal((2,), 3, device="tpu"), ["device", "'tpu'"]),
    "reparameterize(int eps)": (lambda: D.reparameterize(torch.zeros(2, 3), torch.zeros(2, 3),
                                                         eps=torch.zeros(2, 3, dtype=torch.long)), ["eps", "int64"]),
    "precision_weighted_merge(list)": (lambda: D.precision_weighted_merge(torch.ones(2), [1.0, 1.0], torch.ones(2),
                                                                          torch.ones(2)), ["var_hat", "list"]),
    # likelihoods
    "bernoulli(numpy)": (lambda: L.bernoulli(np.zeros((2, 1, 4, 4))), ["bernoulli's logits", "ndarray"]),
    "bernoulli(bool)": (lambda: L.bernoulli(torch.zeros(2, 4, dtype=torch.bool)), ["logits", "torch.bool"]),
    "bernoulli(1-D)": (lambda: L.bernoulli(torch.zeros(5)), ["logits", "(5,)"]),
    "bernoulli_log_prob(x -0.5)": (lambda: L.bernoulli_log_prob(torch.zeros(2, 4), torch.full((2, 4), -0.5)),
                                   ["x", "[0, 1]", "-0.5"]),
    "bernoulli_log_prob(x int)": (lambda: L.bernoulli_log_prob(torch.zeros(2, 4), torch.ones(2, 4, dtype=torch.long)),
                                  ["x", "int64"]),
    "gaussian(mean list)": (lambda: L.gaussian([[0.0, 0.0]]), ["gaussian's mean", "[[0.0, 0.0]]"]),
    "gaussian(logvar int tensor)": (lambda: L.gaussian(torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.long)),
                                    ["logvar", "int64"]),
    "gaussian(logvar (2, 5))": (lambda: L.gaussian(torch.zeros(2, 4), torch.zeros(2, 5)), ["logvar", "(2, 5)"]),
    "LikelihoodHead()(list)": (lambda: L.LikelihoodHead()([[0.0, 0.0]]), ["params", "[[0.0, 0.0]]"]),
    "LikelihoodHead('gaussian').mean(int)": (lambda: L.LikelihoodHead("gaussian").mean(torch.zeros(2, 3, dtype=torch.long)),
                                             ["params", "int64"]),
    # nn
    "mlp(activation=nn.ReLU())": (lambda: N.mlp([2, 3, 4], activation=torch.nn.ReLU()), ["activation", "ReLU()"]),
    "mlp(activation='relu')": (lambda: N.mlp([2, 3, 4], activation="relu"), ["activation", "'relu'"]),
    "mlp(activation=int)": (lambda: N.mlp([2, 3, 4], activation=int), ["activation", "int"]),
    "mlp(float array)": (lambda: N.mlp(np.array([2.0, 3.0])), ["sizes"]),
    # models
    "VAE.decode(bool z)": (lambda: _vae().decode(torch.zeros(2, 2, dtype=torch.bool)), ["decode", "z", "torch.bool"]),
    "VAE.decode(list)": (lambda: _vae().decode([[0.0, 0.0]]), ["decode", "z", "[[0.0, 0.0]]"]),
    "VAE.parameter_groups(0)": (lambda: _vae().parameter_groups(0.0), ["lr", "got 0.0"]),
    "VAE.parameter_groups('1e-3')": (lambda: _vae().parameter_groups("1e-3"), ["lr", "'1e-3'"]),
    "VAE(x, generator=1)": (lambda: _vae()(_x(), generator=1), ["generator", "got 1"]),
    "LadderVAE.check_layer(-1)": (lambda: _ladder().check_layer(-1), ["layer must be in 0..1", "-1"]),
    "LadderVAE.check_layer(np.float64)": (lambda: _ladder().check_layer(np.float64(0.0)), ["layer", "0.0"]),
    "LadderVAE.decode_from(2.0)": (lambda: _ladder().decode_from(2.0, torch.zeros(2, 2)), ["layer", "2.0"]),
    "LadderVAE.decode_from(1, int z)": (lambda: _ladder().decode_from(1, torch.zeros(2, 2, dtype=torch.long)),
                                        ["z", "int64"]),
    "LadderVAE.decode(empty)": (lambda: _ladder().decode(torch.zeros(0, 3)), ["z_1", "non-empty"]),
    "LadderVAE.prior_step(-1)": (lambda: _ladder().prior_step(-1, torch.zeros(2, 2)), ["prior_step's i", "-1"]),
    "LadderVAE.prior_step(True)": (lambda: _ladder().prior_step(True, torch.zeros(2, 2)), ["prior_step's i", "True"]),
    "LadderVAE.prior_step(z_above (2, 3))": (lambda: _ladder().prior_step(0, torch.zeros(2, 3)), ["z_above", "(2, 3)"]),
    "LadderVAE.sample(layers=1)": (lambda: _ladder().eval().sample(2, layers=1), ["layers", "got 1"]),
    "LadderVAE.sample(generator=0)": (lambda: _ladder().eval().sample(2, generator=0), ["generator", "got 0"]),
    "LadderVAE.log_importance_weights(2.5)": (lambda: _ladder().eval().log_importance_weights(_x(), 2.5),
                                              ["n_samples", "2.5"]),
    "LadderVAE.log_importance_weights(x list)": (lambda: _ladder().eval().log_importance_weights([[0.0]], 2),
                                                 ["images", "list"]),
    "LadderVAE(hats of one tensor)": (lambda: _ladder().eval()(_x(), hats=[torch.zeros(3, 3), torch.zeros(3, 2)]),
                                      ["hats"]),
    "LadderVAE(hats, bottom_up)": (lambda: LadderVAE(latent_sizes=[3, 2], hidden_sizes=[8, 8], image_shape=(1, 4, 4),
                                                     inference="bottom_up").eval()(_x(), hats=[]), ["hats", "bottom_up"]),
    "LadderVAE(eps a tensor)": (lambda: _ladder().eval()(_x(), eps=torch.zeros(3, 3)), ["eps must be 2 tensors"]),
    "LadderVAE(eps int)": (lambda: _ladder().eval()(_x(), eps=[torch.zeros(3, 3, dtype=torch.long),
                                                               torch.zeros(3, 2)]), ["eps", "int64"]),
    "LadderVAE.layer_means(generator='g')": (lambda: _ladder().eval().layer_means(_x(), 2, generator="g"),
                                             ["generator", "'g'"]),
    "LadderVAE.embed(list)": (lambda: _ladder().eval().embed([[0.0]]), ["images", "list"]),
    "CausalVAE.intervene(tuple)": (lambda: _causal().intervene(_x(c=3), torch.zeros(3, 4), ((0, 1.0),)),
                                   ["interventions", "dict"]),
    "CausalVAE.intervene({0: -inf})": (lambda: _causal().intervene(_x(c=3), torch.zeros(3, 4), {0: -INF}),
                                       ["interventions[0]", "-inf"]),
    "CausalVAE.intervene({1: None})": (lambda: _causal().intervene(_x(c=3), torch.zeros(3, 4), {1: None}),
                                       ["interventions[1]", "None"]),
    "CausalVAE.intervene({0: 2 values for 3})": (lambda: _causal().intervene(_x(c=3), torch.zeros(3, 4),
                                                                             {0: torch.zeros(2)}), ["interventions[0]", "(3,)"]),
    "CausalVAE.intervene({0: bool tensor})": (lambda: _causal().intervene(_x(c=3), torch.zeros(3, 4),
                                                                          {0: torch.tensor(True)}), ["interventions[0]", "torch.bool"]),
    "CausalVAE.parameter_groups(graph_lr_scale=0)": (lambda: _causal().parameter_groups(1e-3, graph_lr_scale=0.0),
                                                     ["graph_lr_scale", "0.0"]),
    "CausalVAE.parameter_groups(graph_lr_scale=inf)": (lambda: _causal().parameter_groups(1e-3, graph_lr_scale=INF),
                                                       ["graph_lr_scale", "inf"]),
    "CausalVAE.parameter_groups(lr=nan)": (lambda: _causal().parameter_groups(NAN), ["lr", "nan"]),
    "CausalVAE.predict_labels(inf)": (lambda: _causal().predict_labels(torch.full((2, 4), INF)), ["u", "inf"]),
    "CausalVAE.predict_labels(int)": (lambda: _causal().predict_labels(torch.zeros(2, 4, dtype=torch.long)), ["u", "int64"]),
    "CausalVAE.causal_layer(list)": (lambda: _causal().causal_layer([[0.0] * 4]), ["eps", "[[0.0, 0.0, 0.0, 0.0]]"]),
    "CausalVAE.structural((2, 4, 1))": (lambda: _causal().structural(torch.zeros(2, 4, 1)), ["z", "(2, 4, 1)"]),
    "CausalVAE.read_back(z int)": (lambda: _causal().read_back(torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.long)),
                                   ["z", "int64"]),
    "CausalVAE.decode((2, 5))": (lambda: _causal().decode(torch.zeros(2, 5)), ["decode", "z", "(2, 5)"]),
    "CausalVAE.encode(given (3,))": (lambda: _causal().encode(_x(c=3), torch.zeros(3, 4), given=torch.ones(3)),
                                     ["given", "(3,)"]),
    "CausalVAE(image_shape=(3, 4, True))": (lambda: CausalVAE(n_concepts=2, concept_dim=1, encoder="mlp",
                                                              image_shape=(3, 4, True)), ["image_shape"]),
    "CausalVAE(seed_a=-1)": (lambda: CausalVAE(n_concepts=2, concept_dim=1, encoder="mlp", image_shape=(3, 4, 4),
                                               a_init="random", seed_a=-1), ["seed_a", "-1"]),
    "gaussian_kl_to_label_prior(list C)": (lambda: C.gaussian_kl_to_label_prior([[1.0]], torch.zeros(2, 1, 1),
                                                                                torch.zeros(2, 1, 1), torch.zeros(2, 1)),
                                           ["C", "[[1.0]]"]),
    "gaussian_kl_to_label_prior(logvar shape)": (lambda: C.gaussian_kl_to_label_prior(
        torch.eye(2), torch.zeros(3, 2, 1), torch.zeros(3, 2, 2), torch.zeros(3, 2)), ["logvar (3, 2, 2)"]),
    "MaskLayer(k=True)": (lambda: CL.MaskLayer(2, True), ["k", "True"]),
    "MaskLayer(hidden=-3)": (lambda: CL.MaskLayer(2, 1, hidden=-3), ["hidden", "-3"]),
    "MaskLayer(A int)": (lambda: CL.MaskLayer(2, 1)(torch.zeros(3, 2, 1), torch.zeros(2, 2, dtype=torch.long)),
                         ["A", "int64"]),
    "MaskLayer(frozen='yes')": (lambda: CL.MaskLayer(2, 1)(torch.zeros(3, 2, 1), torch.zeros(2, 2), frozen="yes"),
                                ["frozen", "'yes'"]),
    "MaskLayer.predict_labels((3, 5))": (lambda: CL.MaskLayer(2, 1).predict_labels(torch.zeros(3, 5), torch.zeros(2, 2)),
                                         ["u", "(3, 5)"]),
    "LayeredDecoder(layers=65)": (lambda: CL.LayeredDecoder(2, 1, "mlp", (3, 4, 4), layers=65), ["layers", "65"]),
    "LayeredDecoder(other_logit=inf)": (lambda: CL.LayeredDecoder(2, 1, "mlp", (3, 4, 4), other_logit=INF),
                                        ["other_logit", "inf"]),
    "LayeredDecoder(n=2.0)": (lambda: CL.LayeredDecoder(2.0, 1, "mlp", (3, 4, 4)), ["n", "2.0"]),
    "LayeredDecoder(z (2, 3))": (lambda: CL.LayeredDecoder(2, 1, "mlp", (3, 4, 4))(torch.zeros(2, 3)), ["z", "(2, 3)"]),
    "ConceptDecoders(k=0)": (lambda: CL.ConceptDecoders(2, 0, "mlp", (3, 4, 4)), ["k", "got 0"]),
    "ConceptDecoders(z list)": (lambda: CL.ConceptDecoders(2, 1, "mlp", (3, 4, 4))([[0.0, 0.0]]), ["z", "[[0.0, 0.0]]"]),
    # objectives
    "causal_vae_loss(LadderOutput)": (lambda: O.causal_vae_loss(_ladder().eval()(_x()), _x()), ["output", "LadderOutput"]),
    "conditional_vae_loss(None)": (lambda: O.conditional_vae_loss(None, _x()), ["output", "NoneType"]),
    "causal_vae_loss(alpha=nan)": (lambda: _causal_loss(alpha=NAN), ["alpha", "nan"]),
    "causal_vae_loss(bandwidth=0)": (lambda: _causal_loss(bandwidth=0.0), ["bandwidth", "0.0"]),
    "causal_vae_loss(pixel_weights (5, 5))": (lambda: _causal_loss(pixel_weights=torch.ones(5, 5)), ["pixel_weights"]),
    "causal_vae_loss(pixel_weights list)": (lambda: _causal_loss(pixel_weights=[[1.0]]), ["pixel_weights", "[[1.0]]"]),
    "ladder_elbo(CausalVAEOutput)": (lambda: O.ladder_elbo(_causal()(_x(c=3), torch.zeros(3, 4)), _x(c=3)),
                                     ["ladder_elbo's output", "CausalVAEOutput"]),
    "ladder_elbo(step=-5)": (lambda: O.ladder_elbo(_ladder()(_x()), _x(), step=-5, steps_per_epoch=2), ["step", "-5"]),
    "ConstrainedVAE.load_state_dict(beta -1)": (lambda: O.ConstrainedVAE(epsilon=1.0).load_state_dict(
        {"beta": -1.0, "beta_trace": []}), ["beta", "-1.0"]),
    "ConstrainedVAE.load_state_dict(trace 3)": (lambda: O.ConstrainedVAE(epsilon=1.0).load_state_dict(
        {"beta": 1.0, "beta_trace": 3}), ["beta_trace", "got 3"]),
    "ConstrainedVAE.load_state_dict('x')": (lambda: O.ConstrainedVAE(epsilon=1.0).load_state_dict("x"), ["state", "'x'"]),
    "CausalObjective.load_state_dict(alpha nan)": (lambda: O.CausalObjective().load_state_dict(
        {"alpha": NAN, "rho": 1.0, "h_previous": 1.0, "trace": []}), ["alpha", "nan"]),
    "CausalObjective.load_state_dict(h_previous 'x')": (lambda: O.CausalObjective().load_state_dict(
        {"alpha": 0.0, "rho": 1.0, "h_previous": "x", "trace": []}), ["h_previous", "'x'"]),
    "CausalObjective.load_state_dict(no trace)": (lambda: O.CausalObjective().load_state_dict(
        {"alpha": 0.0, "rho": 1.0, "h_previous": 1.0}), ["trace"]),
    "CausalObjective.load_state_dict(trace step 1.5)": (lambda: O.CausalObjective().load_state_dict(
        {"alpha": 0.0, "rho": 1.0, "h_previous": 1.0, "trace": [(1.5, 0.1, 0.1, 1.0)]}), ["trace", "1.5"]),
    "CausalObjective.dual_update(h=inf)": (lambda: O.CausalObjective().dual_update(100, INF), ["h", "inf"]),
    "CausalObjective.dual_update(h='0.1')": (lambda: O.CausalObjective().dual_update(100, "0.1"), ["h", "'0.1'"]),
    "CausalObjective.dual_update(step=True)": (lambda: O.CausalObjective().dual_update(True, 0.1), ["step", "True"]),
    "CausalObjective(rho=5, rho_max=2)": (lambda: O.CausalObjective(rho=5.0, rho_max=2.0), ["rho_max", "rho"]),
    "CausalObjective()(step=-1)": (lambda: O.CausalObjective()(None, None, step=-1), ["step", "-1"]),
    "label_residuals(u int)": (lambda: O.label_residuals(torch.zeros(3, 2, dtype=torch.long), torch.zeros(2, 2)),
                               ["labels u", "int64"]),
    "label_residuals(u -inf)": (lambda: O.label_residuals(torch.full((3, 2), -INF), torch.zeros(2, 2)), ["u", "inf"]),
    "label_loss(u (3, 3))": (lambda: O.label_loss(torch.zeros(3, 3), torch.zeros(2, 2)), ["u", "(3, 3)"]),
    "mask_loss(g int)": (lambda: O.mask_loss(torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.long)), ["g", "int64"]),
    "beta_vae_loss(kl bool)": (lambda: O.beta_vae_loss(torch.zeros(3), torch.zeros(3, dtype=torch.bool), 1.0),
                               ["kl", "torch.bool"]),
    "beta_vae_loss(empty)": (lambda: O.beta_vae_loss(torch.zeros(0), torch.zeros(0), 1.0), ["log_px_z", "(0,)"]),
    "Terms(loss (3,))": (lambda: O.Terms(torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.zeros(3)),
                         ["loss", "scalar", "(3,)"]),
    "Terms(kl None)": (lambda: O.Terms(torch.zeros(3), None, torch.zeros(3), torch.tensor(0.0)), ["kl", "None"]),
    "Terms(extras list)": (lambda: O.Terms(*[torch.zeros(3)] * 3, torch.tensor(0.0), extras=[1]), ["extras", "[1]"]),
    "log_mean_exp(bool)": (lambda: O.log_mean_exp(torch.ones(3, dtype=torch.bool)), ["log_mean_exp", "torch.bool"]),
    "log_mean_exp(0-d)": (lambda: O.log_mean_exp(torch.tensor(1.0)), ["log_mean_exp", "0-d"]),
    "schedule(3)": (lambda: O.schedule(3), ["schedule", "3"]),
    "schedule('step')(None)": (lambda: O.schedule("step")(None), ["objective", "None"]),
    "noise_dependence(int)": (lambda: noise_dependence(torch.zeros(4, 2, dtype=torch.long)), ["r", "int64"]),
    "augmented_lagrangian_term(rho=-1)": (lambda: OC.augmented_lagrangian_term(torch.tensor(0.5), 0.0, -1.0),
                                          ["rho", "-1.0"]),
    "augmented_lagrangian_term(H float)": (lambda: OC.augmented_lagrangian_term(0.5, 0.0, 1.0), ["H", "0.5"]),
}


def _causal_loss(**kwargs):
    model = _causal()
    x = _x(c=3)
    return O.causal_vae_loss(model(x, torch.zeros(3, 4)), x, **kwargs)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_at_the_call_in_one_line_naming_the_argument(case):
    call, words = CASES[case]
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    assert type(err.value) in (ValueError, TypeError), type(err.value)
    text = str(err.value)
    assert "\n" not in text, text
    for word in words:
        assert word in text, (word, text)


def test_nan_follows_ieee_in_the_elementwise_formulas():
    """The documented design: NaN in, NaN out (a scan there would synchronise a GPU at every step)."""
    assert torch.isnan(D.kl_standard_normal(torch.full((2, 3), NAN), torch.zeros(2, 3))).all()
    assert torch.isnan(D.reparameterize(torch.zeros(2, 3), torch.zeros(2, 3), eps=torch.full((2, 3), NAN))).all()


def test_valid_odd_inputs_keep_working():
    d = D.DiagonalGaussian(torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 3, dtype=torch.float64))
    assert d.rsample(torch.Size([2])).shape == (2, 4, 3) and d.rsample((0,)).shape == (0, 4, 3)
    assert d.log_prob(d.rsample((5,))).shape == (5, 4)
    assert D.log_normal(torch.zeros(5, 4, 3), torch.zeros(4, 3), 0.5).shape == (5, 4)
    assert D.standard_normal((2,), 3, device=torch.device("cpu"), dtype=torch.float64).mu.dtype == torch.float64
    assert D.monte_carlo_kl(torch.zeros(2, 3), torch.zeros(2, 3), 4, generator=torch.Generator()).shape == (4, 2)
    assert L.gaussian(torch.zeros(2, 1, 4, 4), torch.zeros(1, 4, 4)).batch_shape == (2,)
    assert torch.isfinite(L.bernoulli_log_prob(torch.zeros(2, 4, dtype=torch.float64),
                                               torch.rand(2, 4, dtype=torch.float64))).all()
    assert len(N.mlp(np.array([2, 3, 4]), activation=torch.nn.Tanh)) == 3  # an integer array of widths is read
    vae = _vae().eval()
    assert vae.decode(torch.zeros(3, 2, dtype=torch.float64)).mean.dtype == torch.float32
    assert vae.parameter_groups(np.float32(1e-3))[0]["lr"] == pytest.approx(1e-3)
    ladder = _ladder().eval()
    assert ladder(_x(1)).z.shape == (1, 5)  # a batch of one in eval mode
    ladder.check_layer(np.int64(1))
    assert ladder.decode_from(1, torch.zeros(2, 2, dtype=torch.float64)).mean.shape == (2, 1, 4, 4)
    hats = ladder.bottom_up(_x())
    assert ladder(_x(), hats=hats).z.shape == (3, 5)
    assert ladder.log_importance_weights(_x(), 3).shape == (3, 3)
    images, zs = ladder.sample(2, layers=True)
    assert images.shape == (2, 1, 4, 4) and [tuple(z.shape) for z in zs] == [(2, 3), (2, 2)]
    causal = _causal().eval()
    x, u = _x(c=3), torch.zeros(3, 4)
    assert causal.intervene(x, u, {0: np.float64(0.5), 2: torch.linspace(-1, 1, 3)}).shape == (3, 3, 4, 4)
    assert causal.predict_labels(torch.zeros(2, 4, dtype=torch.float64)).shape == (2, 4)
    assert len(causal.parameter_groups(1e-3, graph_lr_scale=2)) == 2
    objective = O.CausalObjective()
    objective.dual_update(100, 0.5)
    again = O.CausalObjective()
    again.load_state_dict(objective.state_dict())
    assert again.trace == objective.trace and again.alpha == objective.alpha
    fresh = O.CausalObjective()
    fresh.load_state_dict(O.CausalObjective().state_dict())  # h_previous inf: no dual update yet
    assert fresh.h_previous == math.inf
    constrained = O.ConstrainedVAE(epsilon=1.0)
    constrained.load_state_dict({"beta": np.float64(2.0), "beta_trace": [1, 1.5]})
    assert constrained.beta == 2.0 and constrained.beta_trace == [1.0, 1.5]
    out = causal.train()(x, u)
    assert torch.isfinite(O.causal_vae_loss(out, x, pixel_weights=torch.ones(4, 4)).loss)
    assert torch.isfinite(O.dag_constraint([[0.0, 1.0], [0.0, 0.0]]))  # check_adjacency reads lists


def _constrained():
    return O.ConstrainedVAE(epsilon=1.0)


def _dual():
    return O.CausalObjective(rho_max=50.0)


_C_OK = {"beta": 2.0, "beta_trace": [1.0, 2.0]}
_D_OK = {"alpha": 1.0, "rho": 10.0, "h_previous": 0.2, "trace": [(100, 0.2, 1.0, 10.0)]}

# what `train --resume` passes from a checkpoint's objective_state: each refused, and the objective left unchanged
STATES = {
    "beta nan": (_constrained, {**_C_OK, "beta": NAN}, ["beta", "nan"]),
    "beta tensor nan": (_constrained, {**_C_OK, "beta": torch.tensor(NAN)}, ["beta", "Tensor"]),
    "beta inf": (_constrained, {**_C_OK, "beta": INF}, ["beta", "inf"]),
    "beta '2'": (_constrained, {**_C_OK, "beta": "2"}, ["beta", "'2'"]),
    "beta None": (_constrained, {**_C_OK, "beta": None}, ["beta", "None"]),
    "beta_trace [nan]": (_constrained, {**_C_OK, "beta_trace": [1.0, NAN]}, ["beta_trace", "nan"]),
    "beta_trace dict": (_constrained, {**_C_OK, "beta_trace": {1.0: 2.0}}, ["beta_trace", "{1.0: 2.0}"]),
    "beta_trace set": (_constrained, {**_C_OK, "beta_trace": {1.0}}, ["beta_trace", "{1.0}"]),
    "no beta": (_constrained, {"beta_trace": []}, ["state", "missing beta"]),
    "constrained {}": (_constrained, {}, ["state", "missing beta, beta_trace"]),
    "constrained list": (_constrained, [("beta", 1.0)], ["state", "dict"]),
    "constrained None": (_constrained, None, ["state", "dict", "None"]),
    "alpha nan": (_dual, {**_D_OK, "alpha": NAN}, ["alpha", "nan"]),
    "alpha -1": (_dual, {**_D_OK, "alpha": -1.0}, ["alpha", "-1.0"]),
    "rho inf": (_dual, {**_D_OK, "rho": INF}, ["rho", "inf"]),
    "rho above rho_max": (_dual, {**_D_OK, "rho": 60.0}, ["rho", "rho_max", "60.0"]),
    "h_previous nan": (_dual, {**_D_OK, "h_previous": NAN}, ["h_previous", "nan"]),
    "h_previous -1": (_dual, {**_D_OK, "h_previous": -1.0}, ["h_previous", "-1.0"]),
    "h_previous -inf": (_dual, {**_D_OK, "h_previous": -INF}, ["h_previous", "-inf"]),
    "h_previous 'inf'": (_dual, {**_D_OK, "h_previous": "inf"}, ["h_previous", "'inf'"]),
    "trace H nan": (_dual, {**_D_OK, "trace": [(100, NAN, 1.0, 10.0)]}, ["trace", "nan"]),
    "trace H -2": (_dual, {**_D_OK, "trace": [(100, -2.0, 1.0, 10.0)]}, ["trace", "-2.0"]),
    "trace alpha -1": (_dual, {**_D_OK, "trace": [(100, 0.2, -1.0, 10.0)]}, ["trace", "-1.0"]),
    "trace three fields": (_dual, {**_D_OK, "trace": [(100, 0.2, 1.0)]}, ["trace", "(100, 0.2, 1.0)"]),
    "trace dict": (_dual, {**_D_OK, "trace": {}}, ["trace", "{}"]),
    "no h_previous": (_dual, {"alpha": 0.0, "rho": 1.0, "trace": []}, ["state", "missing h_previous"]),
    "dual []": (_dual, [], ["state", "dict", "[]"]),
    "dual 'alpha'": (_dual, "alpha", ["state", "dict", "'alpha'"]),
}


@pytest.mark.parametrize("case", sorted(STATES))
def test_objective_states_are_checked_and_nothing_changes_when_refused(case):
    make, state, words = STATES[case]
    objective = make()
    before = objective.state_dict()
    with pytest.raises((ValueError, TypeError)) as err:
        objective.load_state_dict(state)
    text = str(err.value)
    assert "\n" not in text, text
    for word in words:
        assert word in text, (word, text)
    assert objective.state_dict() == before


def test_objective_states_round_trip():
    constrained = _constrained()
    constrained.load_state_dict(_C_OK)
    assert constrained.state_dict() == _C_OK
    dual = _dual()
    dual.load_state_dict({**_D_OK, "h_previous": np.float32(INF), "trace": [[100, 0, 1, 10]]})  # inf: no update yet
    assert dual.h_previous == INF and dual.trace == [(100, 0.0, 1.0, 10.0)]
    dual.load_state_dict(_D_OK)
    assert dual.state_dict() == {**_D_OK, "trace": [(100, 0.2, 1.0, 10.0)]}


SIBLINGS = {
    "LadderVAE.bottom_up(2.5)": (lambda: _ladder().bottom_up(2.5), ["LadderVAE", "Tensor", "float"]),
    "LadderVAE.bottom_up(list)": (lambda: _ladder().bottom_up([[0.0] * 16]), ["LadderVAE", "Tensor", "list"]),
    "LadderVAE.bottom_up(0-d)": (lambda: _ladder().bottom_up(torch.tensor(0.5)), ["LadderVAE", "shape", "()"]),
    "LadderVAE.bottom_up(flat)": (lambda: _ladder().bottom_up(torch.rand(2, 16)), ["LadderVAE", "(2, 16)"]),
    "LadderVAE.bottom_up(nan)": (lambda: _ladder().bottom_up(torch.full((2, 1, 4, 4), NAN)), ["LadderVAE", "NaN"]),
    "CausalVAE(band_owners only)": (lambda: CausalVAE(n_concepts=4, concept_dim=1, encoder="mlp", image_shape=(3, 4, 4),
                                                      band_owners=[1]), ["band_owners", "[1]", "shadow_rows"]),
    "CausalVAE(band_rows only)": (lambda: CausalVAE(n_concepts=4, concept_dim=1, encoder="mlp", image_shape=(3, 4, 4),
                                                    band_rows="ab"), ["band_rows", "'ab'", "shadow_rows"]),
    "dual_ascent_step(kl=-5)": (lambda: O.dual_ascent_step(1.0, -5.0, 1.0, 0.1), ["kl", "-5.0", ">= 0"]),
    "dual_ascent_step(kl=nan)": (lambda: O.dual_ascent_step(1.0, NAN, 1.0, 0.1), ["kl", "nan"]),
}


def test_siblings_valid_odd_inputs():
    ladder = _ladder().eval()
    hats = ladder.bottom_up(_x(1).double())  # float64 images: read in the model's dtype
    assert [tuple(t.shape) for pair in hats for t in pair] == [(1, 3), (1, 3), (1, 2), (1, 2)]
    assert O.dual_ascent_step(1.0, -1e-7, 1.0, 0.1) == pytest.approx(0.9, abs=1e-6)  # rounding below 0 is a KL of 0
    assert O.dual_ascent_step(np.float32(1.0), np.float64(3.0), 1, 0.5) == pytest.approx(2.0)


def _layered():
    torch.manual_seed(0)
    return CL.LayeredDecoder(4, 1, "mlp", (3, 4, 4))


def _shadow(**kwargs):
    return CausalVAE(n_concepts=4, concept_dim=1, encoder="mlp", image_shape=(3, 4, 4), decoder="shadow_rows", **kwargs)


MORE = {
    "LayeredDecoder.gates(10**11)": (lambda: _layered().gates(10 ** 11), ["gates' batch", "at most", "GiB"]),
    "LayeredDecoder.gates(-2)": (lambda: _layered().gates(-2), ["gates' batch", "-2"]),
    "LayeredDecoder.gates(3.0)": (lambda: _layered().gates(3.0), ["gates' batch", "3.0"]),
    "LayeredDecoder.gates('4')": (lambda: _layered().eval().gates("4"), ["gates' batch", "'4'"]),
    "reparameterize(eps meta)": (lambda: D.reparameterize(torch.zeros(2, 3), torch.zeros(2, 3),
                                                         eps=torch.zeros(2, 3, device="meta")), ["eps", "meta"]),
    "hsic(y meta)": (lambda: O.hsic(torch.rand(6), torch.zeros(6, device="meta")), ["hsic", "meta"]),
    "noise_dependence(meta)": (lambda: noise_dependence(torch.zeros(6, 2, device="meta")), ["meta"]),
    "ladder_elbo(steps_per_epoch nan, no step)": (lambda: O.ladder_elbo(_ladder()(_x()), _x(), steps_per_epoch=NAN),
                                                  ["steps_per_epoch", "nan"]),
    "ladder_elbo(steps_per_epoch -3, an epoch)": (lambda: O.ladder_elbo(_ladder()(_x()), _x(), epoch=1.0,
                                                                        steps_per_epoch=-3), ["steps_per_epoch", "-3"]),
    "importance_weighted_bound(x empty 1-D)": (lambda: O.importance_weighted_bound(_ladder(), torch.zeros(0), k=2),
                                               ["LadderVAE", "(0,)"]),
    "VAE(encoder tensor)": (lambda: VAE(latent_dim=2, encoder=torch.zeros(3, 3), image_shape=(1, 4, 4)),
                            ["encoder", "Tensor of shape (3, 3)"]),
    "VAE(likelihood tensor)": (lambda: VAE(latent_dim=2, encoder="mlp", image_shape=(1, 4, 4),
                                           likelihood=torch.zeros(2, 2)), ["likelihood", "Tensor of shape (2, 2)"]),
    "LadderVAE(inference tensor)": (lambda: LadderVAE(latent_sizes=[3, 2], hidden_sizes=[8, 8], image_shape=(1, 4, 4),
                                                      inference=torch.zeros(2, 2)), ["inference", "Tensor"]),
    "mlp(sizes 2-D tensor)": (lambda: N.mlp(torch.zeros(3, 3)), ["sizes", "Tensor of shape (3, 3)"]),
    "CausalVAE(decoder tensor)": (lambda: CausalVAE(n_concepts=4, concept_dim=1, encoder="mlp", image_shape=(3, 4, 4),
                                                    decoder=torch.zeros(4, 4)), ["decoder", "Tensor of shape (4, 4)"]),
    "CausalObjective(label_fit tensor)": (lambda: O.CausalObjective(label_fit=torch.zeros(2, 2)), ["label_fit", "Tensor"]),
    "CausalVAE(band_rows (5, 5) tensor)": (lambda: _shadow(band_rows=torch.zeros(5, 5), band_owners=[0]),
                                           ["band_rows", "Tensor of shape (5, 5)"]),
    "CausalVAE(band_owners 9)": (lambda: _shadow(band_rows=[0, 1], band_owners=[9]), ["band_owners", "[9]", "[0, 4)"]),
    "CausalVAE.ownership(u list, joint decoder)": (lambda: _causal().ownership(_x(c=3), [[0.0] * 4] * 3),
                                                   ["labels u", "list"]),
    "Terms(kl of another shape)": (lambda: O.Terms(torch.zeros(4), torch.zeros(2, 7), torch.zeros(4), torch.tensor(0.0)),
                                   ["kl", "(2, 7)", "one shape"]),
    "Terms(elbo (3, 1))": (lambda: O.Terms(torch.zeros(3), torch.zeros(3), torch.zeros(3, 1), torch.tensor(0.0)),
                           ["elbo", "(3, 1)"]),
    "augmented_lagrangian_term(H (2, 7))": (lambda: OC.augmented_lagrangian_term(torch.zeros(2, 7), 0.0, 1.0),
                                            ["H", "scalar", "(2, 7)"]),
}


SIBLINGS.update(MORE)


@pytest.mark.parametrize("case", sorted(SIBLINGS))
def test_siblings_refuse_at_the_call_in_one_line(case):
    call, words = SIBLINGS[case]
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    text = str(err.value)
    assert "\n" not in text, text
    for word in words:
        assert word in text, (word, text)


def test_more_siblings_valid_odd_inputs():
    layered = _layered()
    assert layered.gates(np.int64(2)).shape == (2, layered.gate_logits.shape[0], 4)
    ladder = _ladder()
    assert ladder.training
    path = ladder.layer_decoder(0).decode(torch.zeros(2, 3))  # in training mode: batch norm reads its running stats
    assert path.mean.shape == (2, 1, 4, 4) and ladder.training
    assert [tuple(mu.shape) for mu, _ in ladder.prior_mean_path()] == [(3,), (2,)]
    assert torch.isfinite(O.ladder_elbo(ladder(_x()), _x(), step=4, steps_per_epoch=np.int64(2)).loss)
    model = _shadow(band_rows=(0, 1), band_owners=np.array([2, 3]))
    assert model.hparams["band_rows"] == [0, 1] and model.hparams["band_owners"] == [2, 3]
    assert D.reparameterize(torch.zeros(2, 3), torch.zeros(2, 3), eps=torch.ones(5, 2, 3)).shape == (5, 2, 3)
    assert O.Terms(*(torch.zeros(()),) * 4).loss.dim() == 0  # one shape, whatever it is
    assert OC.augmented_lagrangian_term(torch.tensor(0.5, dtype=torch.float64), 1, 2).item() == pytest.approx(0.75)
