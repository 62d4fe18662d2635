"""CausalVAE, its objective (Eq. 36-41) and the conditional baseline: identities, shapes, bad input, training."""

import math
import time

import pytest
import torch

from vaecourse import checkpoints
from vaecourse.graph_fit import learn_graph_from_labels
from vaecourse.models import CausalVAE, ConditionalVAE
from vaecourse.models.causal import MaskLayer, gaussian_kl_to_label_prior
from vaecourse.objectives.causal import (CausalObjective, causal_terms, causal_vae_loss, conditional_vae_loss,
                                         dag_constraint, dag_constraint_grad, label_loss)
from vaecourse.objectives.independence import noise_dependence
from vaecourse.scm import causal_matrix, linear_solve
from vaecourse.train import fit

SHAPE = (3, 32, 32)


def tiny(cls=CausalVAE, **kw):
    torch.manual_seed(0)
    return cls(n_concepts=4, concept_dim=2, encoder="conv32", image_shape=SHAPE, **kw)


def batch(b=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, *SHAPE, generator=g), torch.randn(b, 4, generator=g)


def test_dag_constraint_known_values_and_gradient():
    assert dag_constraint(torch.zeros(3, 3)).item() == 0
    assert dag_constraint(torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, -1.0], [0.0, 0.0, 0.0]])).item() == pytest.approx(0)
    # a 2-cycle a <-> b with weights 1: (I + A o A)^2 = [[2, 2], [2, 2]], trace 4, H = 2
    assert dag_constraint(torch.tensor([[0.0, 1.0], [1.0, 0.0]])).item() == pytest.approx(2.0)
    assert dag_constraint(0.5 * torch.eye(2)).item() > 0  # self-loops are cycles too
    A = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(dag_constraint(A), A)
    assert torch.allclose(grad, dag_constraint_grad(A.detach()))


def test_mask_layer_depends_on_a_parent_no_more_than_its_entry_in_A():
    """|g_i(z) - g_i(z')| <= sum_j |A[j, i]| |z_j - z'_j| whatever the MLP's raw weights: a tiny A entry is a weak
    edge, so H(A) and the thresholded A describe what the mask layer reads (an unnormalised MLP can scale a 0.01
    entry back up, and a cycle of small entries then passes full information while H(A) ~ 0)."""
    torch.manual_seed(0)
    n, k = 4, 3
    mask = MaskLayer(n, k, hidden=16)
    with torch.no_grad():  # raw weights far from their initial scale change nothing
        mask.w1.mul_(1e3)
        mask.w2.mul_(1e3)
    A = torch.tensor([[0.0, 1e-2, 0.0, 2.0], [0.5, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1e-3], [0.0, 0.0, 0.0, 0.0]])
    z = torch.randn(64, n, k)
    for j in range(n):
        moved = z.clone()
        moved[:, j] += torch.randn(64, k)  # change parent j only
        change = (mask(moved, A) - mask(z, A)).norm(dim=2)  # (B, n_child)
        bound = A[j].abs()[None, :] * (moved[:, j] - z[:, j]).norm(dim=1, keepdim=True)  # (B, n_child)
        assert (change <= bound * (1 + 1e-5) + 1e-6).all(), (j, (change - bound).max())
    assert (mask(z, A) - mask(z, torch.zeros(n, n))).abs().max() > 1e-2  # and the real edges are used


def test_causal_layer_matches_the_linear_scm():
    model = tiny()
    with torch.no_grad():
        model.A_raw.copy_(torch.tensor([[0.0, 0.7, 0.0, 0.0], [0.0, 0.0, -1.2, 0.0], [0.0] * 4, [0.5, 0.0, 0.0, 0.0]]))
    eps = torch.randn(5, 4, 2)
    z = model.causal_layer(eps.reshape(5, 8)).view(5, 4, 2)
    for r in range(2):  # each of the k columns is the linear SCM z = A^T z + eps
        assert torch.allclose(z[:, :, r], linear_solve(model.adjacency().detach(), eps[:, :, r]), atol=1e-5)
    assert torch.allclose(model.causal_matrix(), causal_matrix(model.adjacency().detach()), atol=1e-6)


def test_kl_to_label_prior_matches_torch_distributions():
    A = torch.tensor([[0.0, 0.8, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64)
    C = causal_matrix(A)
    mu, logvar, u = torch.randn(2, 3, 2, dtype=torch.float64), torch.randn(2, 3, 2, dtype=torch.float64), \
        torch.randn(2, 3, dtype=torch.float64)
    want = torch.zeros(2, dtype=torch.float64)
    for r in range(2):
        q = torch.distributions.MultivariateNormal(mu[:, :, r] @ C.T, C @ torch.diag_embed(logvar[:, :, r].exp()) @ C.T)
        p = torch.distributions.MultivariateNormal(u, torch.eye(3, dtype=torch.float64))
        want += torch.distributions.kl_divergence(q, p)
    assert torch.allclose(gaussian_kl_to_label_prior(C, mu, logvar, u), want)


def test_elbo_is_eq_36_37_built_from_the_output_by_hand():
    """What notebook 05 computes in its prior-and-ELBO cell: the Bernoulli log-likelihood, the closed-form KL of eps
    to N(0, I) (Eq. 32) and torch.distributions' KL of q(z|x, u) = N(C mu, C diag sigma^2 C^T) to N(u, I) (Eq. 33, 35),
    per latent column, equal causal_terms' (Eq. 36-37)."""
    model = tiny()
    with torch.no_grad():
        model.A_raw.copy_(torch.tensor([[0.0, 0.7, 0.0, 0.0], [0.0, 0.0, -1.2, 0.0], [0.0] * 4, [0.5, 0.0, 0.0, 0.0]]))
    x, u = torch.rand(6, 3, 32, 32).round(), torch.randn(6, 4)
    out = model(x, u, generator=torch.Generator().manual_seed(0))
    mu, var = out.q_eps.mu.view(6, 4, -1), out.q_eps.logvar.exp().view(6, 4, -1)
    C = torch.linalg.inv(torch.eye(4) - out.A.T)
    logits = out.p_x.base_dist.logits
    log_px = (x * logits - torch.nn.functional.softplus(logits)).flatten(1).sum(1)
    kl_eps = 0.5 * (mu ** 2 + var - 1 - var.log()).flatten(1).sum(1)
    kl_z = sum(torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(mu[:, :, r] @ C.T, C @ torch.diag_embed(var[:, :, r]) @ C.T),
        torch.distributions.MultivariateNormal(u, torch.eye(4))) for r in range(mu.shape[2]))
    terms = causal_terms(out, x)
    for mine, lib in zip((log_px, kl_eps, kl_z, log_px - kl_eps - kl_z), terms):
        assert torch.allclose(mine, lib, rtol=1e-4, atol=1e-3)


def test_a_zero_gives_independent_latents_and_local_interventions():
    model = tiny()  # A starts at zero
    assert torch.equal(model.adjacency(), torch.zeros(4, 4))
    eps = torch.randn(20000, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        z = model.structural(model.causal_layer(eps)) + eps  # the decoder's input under the prior
    cov = torch.cov(z.T)
    assert (cov - torch.diag(torch.diag(cov))).abs().max() < 0.05  # independent blocks
    x, u = batch()
    model.eval()
    base = model.intervene_latent(x, u, {})
    moved = model.intervene_latent(x, u, {1: 2.5})
    z = model.embed(x, u).view(-1, 4, 2)  # each block's abducted value
    assert torch.allclose((moved - base).view(-1, 4, 2)[:, 1], 2.5 - z[:, 1], atol=1e-5)  # moved by c - z_1
    assert torch.allclose(moved.view(-1, 4, 2)[:, [0, 2, 3]], base.view(-1, 4, 2)[:, [0, 2, 3]], atol=1e-6)


def test_intervention_reaches_descendants_only():
    model = tiny()
    with torch.no_grad():
        model.A_raw.copy_(torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0] * 4, [0.0] * 4]))  # 0->1->2
    model.eval()
    x, u = batch()
    base = model.intervene_latent(x, u, {}).view(-1, 4, 2)
    z = model.embed(x, u).view(-1, 4, 2)
    for value in (-3.0, 0.0, 7.5):  # any value, not only 0
        moved = model.intervene_latent(x, u, {0: value}).view(-1, 4, 2)
        assert torch.allclose(moved[:, 0] - base[:, 0], value - z[:, 0], atol=1e-5)
        assert torch.allclose(moved[:, 3], base[:, 3], atol=1e-6)  # not a descendant
        assert not torch.allclose(moved[:, 2], base[:, 2])  # a grandchild
    per_example = model.intervene_latent(x, u, {0: torch.arange(6.0)}).view(-1, 4, 2)
    assert torch.allclose(per_example[:, 0, 0] - base[:, 0, 0], torch.arange(6.0) - z[:, 0, 0], atol=1e-5)
    sink = model.intervene_latent(x, u, {2: 1.0}).view(-1, 4, 2)  # the end of the chain: nothing else moves
    assert torch.allclose(sink[:, 2] - base[:, 2], 1.0 - z[:, 2], atol=1e-5)
    assert torch.allclose(sink[:, :2], base[:, :2], atol=1e-6) and torch.allclose(sink[:, 3], base[:, 3], atol=1e-6)
    assert model.intervene(x, u, {2: 1.0}).shape == (6, *SHAPE)
    # no intervention: the forward pass's decoder input at the posterior mean, g(A o C mu) + mu
    mu = model.encode(x, u).mu
    assert torch.allclose(base.reshape(6, -1), model.structural(model.causal_layer(mu)) + mu, atol=1e-5)


def test_objective_terms_and_a_step_lowers_the_loss():
    model = tiny(a_init="random")
    x, u = batch(16)
    out = model(x, u, generator=torch.Generator().manual_seed(0))
    terms = causal_vae_loss(out, x, alpha=0.5, rho=1.0, lu_weight=2.0, lm_weight=3.0)
    H = dag_constraint(out.A)
    manual = (-terms.elbo.mean() + 0.5 * H + 0.5 * H ** 2 + 2.0 * label_loss(u, out.A).mean()
              + 3.0 * (out.z - out.g).pow(2).sum(1).mean())
    assert torch.allclose(terms.loss, manual)
    assert torch.allclose(terms.elbo, terms.log_px_z - terms.extras["kl_eps"] - terms.extras["kl_z"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(2):
        t = causal_vae_loss(model(x, u, generator=torch.Generator().manual_seed(0)), x, lu_weight=1.0, lm_weight=1.0)
        losses.append(t.loss.item())
        opt.zero_grad()
        t.loss.backward()
        opt.step()
    assert losses[1] < losses[0]


def test_mask_label_fit_and_independence_terms():
    """label_fit="mask": l_u = ||u - g(A o u)||^2 with the model's own mask layer; independence adds
    lambda * sum_{i<j} HSIC of the label residuals; the paper's loss is the default and logs l_ind too."""
    model = tiny(a_init="random")
    x, u = batch(16)
    out = model(x, u, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out.u_hat, model.mask(u[:, :, None].expand(-1, -1, 2), out.A).mean(2))
    plain = causal_vae_loss(out, x, alpha=0.5, rho=1.0)
    terms = causal_vae_loss(out, x, alpha=0.5, rho=1.0, label_fit="mask", independence=7.0, bandwidth=0.8)
    r = u - out.u_hat
    manual = (plain.loss - label_loss(u, out.A).mean() + r.pow(2).sum(1).mean() + 7.0 * noise_dependence(r, 0.8))
    assert torch.allclose(terms.loss, manual) and torch.allclose(terms.extras["l_u"], r.pow(2).sum(1))
    assert torch.allclose(plain.extras["l_ind"], noise_dependence(u - torch.tanh(u @ out.A)))
    one = MaskLayer(4, 1)  # blocks of one dimension: predict_labels is the layer itself
    assert torch.allclose(one.predict_labels(u, out.A), one(u[:, :, None], out.A)[:, :, 0])
    objective = CausalObjective(label_fit="mask", independence=7.0, bandwidth=0.8)
    assert torch.allclose(objective(out, x).loss, causal_vae_loss(out, x, rho=1.0, label_fit="mask",
                                                                  independence=7.0, bandwidth=0.8).loss)
    with pytest.raises(ValueError, match="label_fit must be one of"):
        CausalObjective(label_fit="sigmoid")
    with pytest.raises(ValueError, match="independence must be a finite number >= 0"):
        causal_vae_loss(out, x, independence=-1.0)
    baseline = tiny(ConditionalVAE)
    with pytest.raises(ValueError, match="needs a CausalVAE output with label predictions"):
        causal_vae_loss(baseline(x, u), x, label_fit="mask")
    with pytest.raises(ValueError, match="predictor must be a MaskLayer"):
        learn_graph_from_labels(u, predictor=torch.nn.Linear(4, 4))


def test_graph_from_labels_keeps_the_elbo_off_A():
    """graph_from="labels": the image side reads A detached, so -ELBO and l_m give A no gradient while l_u (through
    the model's own label equations), the independence term and H(A) do; the image side computes the same values
    as with graph_from="all"."""
    x, u = batch(8)
    both = {src: tiny(a_init="random", graph_from=src) for src in ("all", "labels")}
    missing = both["labels"].load_state_dict(both["all"].state_dict(), strict=False).missing_keys
    assert missing and all(key.startswith("label_equations.") for key in missing)  # its own label equations
    outs = {src: m(x, u, generator=torch.Generator().manual_seed(0)) for src, m in both.items()}
    labels = both["labels"]
    assert torch.allclose(outs["labels"].u_hat, labels.label_equations(u[:, :, None], labels.adjacency())[:, :, 0])
    assert torch.allclose(outs["all"].z_tilde, outs["labels"].z_tilde)
    assert torch.allclose(outs["all"].kl_z, outs["labels"].kl_z)
    for src, m in both.items():
        terms = causal_vae_loss(outs[src], x, lu_weight=0.0, lm_weight=1.0)  # -ELBO + l_m only (H = 0 at alpha = rho = 0)
        m.zero_grad()
        terms.loss.backward()
        moved = m.A_raw.grad is not None and m.A_raw.grad.abs().sum().item() > 0
        assert moved == (src == "all")
    model = both["labels"]
    model.zero_grad()
    out = model(x, u)
    causal_vae_loss(out, x, lu_weight=1.0, lm_weight=0.0, label_fit="mask", independence=1.0).loss.backward()
    assert model.A_raw.grad.abs().sum().item() > 0
    assert "graph_from" not in tiny().hparams and tiny(graph_from="labels").hparams["graph_from"] == "labels"
    with pytest.raises(ValueError, match="graph_from must be one of"):
        tiny(graph_from="images")


def test_augmented_lagrangian_pushes_a_cycle_away():
    target = torch.tensor([[0.0, 1.0], [0.6, 0.0]])  # a 2-cycle the data would like; the weaker edge must go
    A = target.clone().requires_grad_(True)
    objective = CausalObjective(rho=1.0, update_every=10)
    opt = torch.optim.Adam([A], lr=0.05)
    for step in range(1, 600):
        H = dag_constraint(A)
        loss = objective.alpha * H + 0.5 * objective.rho * H ** 2 + (A - target).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            objective.dual_update(step, float(dag_constraint(A.detach())))
    assert dag_constraint(A.detach()).item() < 1e-3 and objective.alpha > 0
    assert A[0, 1].item() > 0.5 and abs(A[1, 0].item()) < 0.05
    state = objective.state_dict()
    again = CausalObjective()
    again.load_state_dict(state)
    assert again.alpha == objective.alpha and again.rho == objective.rho


def test_graph_from_labels_recovers_a_known_edge_and_stays_acyclic():
    g = torch.Generator().manual_seed(0)
    x1 = 0.5 * torch.randn(4000, generator=g)
    u = torch.stack([x1, torch.tanh(1.5 * x1), 0.3 * torch.randn(4000, generator=g)], 1)  # x1 -> x2, x3 apart
    A, lu = learn_graph_from_labels(u, support=torch.tensor([[0, 1, 0], [0, 0, 0], [0, 0, 0]]), steps=800)
    assert A[0, 1].item() == pytest.approx(1.5, abs=0.05) and (A.abs().sum() - A[0, 1].abs()).item() == 0
    assert lu == pytest.approx((u[:, 0] ** 2 + u[:, 2] ** 2).mean().item(), rel=0.02)  # only the roots are left
    torch.manual_seed(0)  # a nonlinear predictor of each label from its parents (bounded by |A|)
    A, fit = learn_graph_from_labels(u, support=torch.tensor([[0, 1, 0], [0, 0, 0], [0, 0, 0]]), steps=800,
                                     predictor=MaskLayer(3, 1), predictor_lr=1e-2)
    roots = (u[:, 0] ** 2 + u[:, 2] ** 2).mean().item()
    assert roots <= fit < roots + 0.1 * u[:, 1].var().item() and abs(A[0, 1].item()) > 1  # slope 1.5 needs |A| >~ 1
    A, lu = learn_graph_from_labels(u, steps=800, a_init="random")  # free graph: acyclic, better than no edge
    assert dag_constraint(A).item() < 1e-2 and lu < label_loss(u, torch.zeros(3, 3)).mean().item()
    with pytest.raises(ValueError, match="never the true graph"):
        learn_graph_from_labels(u, a_init="true")
    with pytest.raises(ValueError, match=r"\(N, n\)"):
        learn_graph_from_labels(u[:, 0])
    with pytest.raises(ValueError, match=r"support must be \(3, 3\)"):
        learn_graph_from_labels(u, support=torch.zeros(2, 2))


def test_pendulum_labels_do_not_orient_the_true_graph():
    """What the chapter teaches: l_u on the pendulum's labels is lower on graphs with the shadow as a cause than on
    the true graph, so no optimiser setting can recover the true orientation from the labels alone."""
    from vaecourse.data import Pendulum
    from vaecourse.data.pendulum import TRUE_GRAPH
    data = Pendulum(size=32)
    u = data.labels(data.concepts(data.factors_at(data.split_indices("train")))).float()
    true_lu = learn_graph_from_labels(u, support=TRUE_GRAPH, steps=500)[1]
    reversed_lu = learn_graph_from_labels(u, support=TRUE_GRAPH.T, steps=500)[1]
    assert reversed_lu < true_lu - 0.1


def test_independent_noise_orients_the_pendulum_graph_from_zero():
    """The fix the chapter teaches: the same labels, the mask layer's equations, A from zero, plus the HSIC of the
    residuals (an SCM's noises are independent). The four true edges come out, none reversed; at most one extra
    edge (position -> length, which the angles already explain). Without the independence term: the failure."""
    from vaecourse.data import Pendulum
    from vaecourse.data.pendulum import TRUE_GRAPH
    from vaecourse.metrics.causal import structural_hamming_distance
    data = Pendulum(size=32)
    u = data.labels(data.concepts(data.factors_at(data.split_indices("train")))).float()
    torch.manual_seed(0)
    A, fit = learn_graph_from_labels(u, steps=3000, batch_size=128, predictor=MaskLayer(4, 1), independence=10.0)
    learned = A.abs() > 0.3
    assert learned[TRUE_GRAPH != 0].all() and not learned[TRUE_GRAPH.T != 0].any(), A
    assert structural_hamming_distance(A, TRUE_GRAPH) <= 1 and dag_constraint(A).item() < 1e-2
    assert fit == pytest.approx((u[:, :2] - u[:, :2].mean(0)).pow(2).sum(1).mean().item(), rel=0.05)  # roots' var
    torch.manual_seed(0)
    A0, _ = learn_graph_from_labels(u, steps=3000, batch_size=128, predictor=MaskLayer(4, 1))
    assert structural_hamming_distance(A0, TRUE_GRAPH) >= 3


def test_conditional_baseline_has_no_graph_and_one_kl():
    model = tiny(ConditionalVAE)
    x, u = batch()
    out = model(x, u)
    assert not any(p is model.A_raw for p in model.parameters())
    assert torch.equal(out.z, out.eps) and torch.equal(out.z_tilde, out.z)
    terms = conditional_vae_loss(out, x)
    assert torch.allclose(terms.elbo, terms.log_px_z - out.kl_z)


def test_fit_passes_labels_and_checkpoints_round_trip(tmp_path):
    model = tiny()
    x, u = batch(8)
    history = fit(model, CausalObjective(), [(x, u)], steps=3, batch_size=8, progress=False, device="cpu")
    assert len(history) == 3 and "H" in history.keys()
    checkpoints.save(model, tmp_path / "c.pt")
    again = checkpoints.load(tmp_path / "c.pt")
    assert type(again) is CausalVAE and again.hparams == model.hparams
    assert torch.allclose(again.adjacency(), model.adjacency())
    model.eval(), again.eval()
    assert torch.allclose(again.embed(x, u), model.embed(x, u))
    with pytest.raises(ValueError, match="labels"):
        fit(tiny(), CausalObjective(), x, steps=1, batch_size=8, progress=False, device="cpu")


def test_bad_input():
    model = tiny()
    x, u = batch()
    with pytest.raises(ValueError, match=r"labels u of shape \(6, 4\)"):
        model(x, u[:, :3])
    with pytest.raises(ValueError, match="concept index"):
        model.intervene(x, u, {4: 1.0})
    with pytest.raises(ValueError, match="finite"):
        model.intervene(x, u, {0: math.nan})
    with pytest.raises(ValueError, match="never the true graph"):
        tiny(a_init="true")
    with pytest.raises(ValueError, match="square"):
        dag_constraint(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"shape \(B, 4\)"):
        label_loss(torch.zeros(3, 5), torch.zeros(4, 4))
    with pytest.raises(ValueError, match="lu_weight must be a finite number >= 0"):
        CausalObjective(lu_weight=-1.0)
    for kw, message in ((dict(n_concepts=0), "n_concepts must be a number of units between 1 and 65,536"),
                        (dict(concept_dim=True), "concept_dim must be a number of units"),
                        (dict(mask_hidden=2.5), "mask_hidden must be a number of units"),
                        (dict(concept_dim=10 ** 6), "concept_dim must be a number of units"),
                        (dict(n_concepts=1000, concept_dim=100), r"latent size\) must be a number of units"),
                        (dict(n_concepts=20_000, concept_dim=1), r"n_concepts must be at most .* got .* \(about")):
        with pytest.raises(ValueError, match=message):  # refused before anything is allocated
            CausalVAE(**({"n_concepts": 4, "concept_dim": 2, "encoder": "conv32", "image_shape": SHAPE} | kw))


def test_command_line_trains_causalvae_on_the_pendulum(tmp_path, capsys):
    from vaecourse.cli import main

    out = tmp_path / "c.pt"
    started = time.time()
    assert main(["train", "--model", "causalvae", "--dataset", "pendulum", "--image-size", "32", "--encoder", "conv32",
                 "--steps", "2", "--batch-size", "4", "--out", str(out), "--no-progress"]) == 0
    wall = time.time() - started
    saved = checkpoints.read(out)
    assert saved.model_class == "CausalVAE" and saved.extra["objective"] == "causal"
    assert 0 < saved.extra["seconds"] <= wall  # training time counted once
    assert set(saved.extra["objective_state"]) == {"alpha", "rho", "h_previous", "trace"}
    fixed = tmp_path / "fixed.pt"
    assert main(["train", "--model", "causalvae", "--dataset", "pendulum", "--image-size", "32", "--encoder", "conv32",
                 "--steps", "2", "--batch-size", "4", "--label-fit", "mask", "--independence", "10", "--graph-from",
                 "labels", "--shadow-noise", "1.0", "--out", str(fixed), "--no-progress"]) == 0
    saved = checkpoints.read(fixed)
    assert saved.model.graph_from == "labels" and saved.hparams["graph_from"] == "labels"
    assert saved.extra["arguments"]["label_fit"] == "mask" and saved.extra["arguments"]["independence"] == 10.0
    assert saved.extra["arguments"]["shadow_noise"] == 1.0
    capsys.readouterr()
    pruned = tmp_path / "pruned.pt"  # the promise recipe's own flags, two steps: the prune runs after the last
    assert main(["train", "--recipe", "ch5-causalvae-promise", "--steps", "2", "--batch-size", "4", "--out",
                 str(pruned), "--no-progress"]) == 0
    assert "pruned the graph (--prune 0.01)" in capsys.readouterr().out
    saved = checkpoints.read(pruned)
    assert saved.extra["arguments"]["prune"] == 0.01 and saved.hparams["decoder"] == "shadow_rows"
    assert "edge_mask" in saved.model.state_dict()
    assert main(["train", "--model", "cvae", "--dataset", "pendulum", "--steps", "1", "--prune", "0.01", "--out",
                 str(tmp_path / "bad3.pt")]) == 2
    assert "prune (--prune) applies to model causalvae only, not to model cvae" in capsys.readouterr().err
    assert main(["train", "--dataset", "dsprites", "--steps", "1", "--shadow-noise", "1", "--out",
                 str(tmp_path / "bad2.pt")]) == 2
    assert "shadow_noise (--shadow-noise) applies to dataset pendulum only" in capsys.readouterr().err
    assert main(["train", "--model", "causalvae", "--dataset", "dsprites", "--steps", "1", "--out",
                 str(tmp_path / "bad.pt")]) == 2
    assert "needs labelled data" in capsys.readouterr().err


def test_command_line_evaluates_causal_checkpoints_or_says_why_not(tmp_path, capsys):
    from vaecourse.cli import main

    for model, noise, label_fit in (("causalvae", "0", "tanh"), ("cvae", "0.5", "tanh"), ("causalvae", "0", "mask")):
        out = tmp_path / f"{model}_{label_fit}.pt"
        assert main(["train", "--model", model, "--dataset", "pendulum", "--image-size", "32", "--encoder", "conv32",
                     "--steps", "1", "--batch-size", "4", "--shadow-noise", noise,
                     *(["--label-fit", label_fit] if model == "causalvae" else []),  # (the CVAE's loss has no l_u)
                     "--out", str(out), "--no-progress"]) == 0
        capsys.readouterr()
        assert main(["evaluate", str(out), "--n", "16"]) == 0
        printed = capsys.readouterr().out
        if model == "causalvae":  # the label loss it was trained with
            assert ("mask-layer label equations, as trained" in printed) == (label_fit == "mask")
            assert ("tanh(A^T u), Eq. 38, as trained" in printed) == (label_fit == "tanh")
        assert "KL_z" in printed and "MIC" in printed and "TIC" in printed
        assert f"shadow noise {float(noise):g} as in training" in printed
        assert ("structural Hamming distance" in printed) == (model == "causalvae")
        assert main(["evaluate", str(out), "--dataset", "dsprites"]) == 2
        assert "need labelled images" in capsys.readouterr().err
        assert main(["evaluate", str(out), "--k", "4"]) == 2
        assert "importance sampling" in capsys.readouterr().err


def test_latent_scm_equations_solves_the_label_equations_and_intervenes_on_them():
    """latent_scm="equations": z = g(A o z) + eps with the label equations, the decoder reads z; do(z_i = c) shifts
    block i to c and recomputes its descendants from their own eps; the KL of z is exact in expectation."""
    with pytest.raises(ValueError, match="graph_from='labels'"):
        tiny(latent_scm="equations")
    with pytest.raises(ValueError, match="latent_scm must be one of"):
        tiny(graph_from="labels", latent_scm="flow")
    model = tiny(graph_from="labels", latent_scm="equations")
    assert model.hparams["latent_scm"] == "equations" and not hasattr(model, "mask")
    A = torch.tensor([[0.0, 0.0, 2.0, -1.0], [0.0, 0.0, -2.0, 1.0], [0.0] * 4, [0.0] * 4])  # theta, phi -> shadow
    with torch.no_grad():
        model.A_raw.copy_(A)
    x, u = batch()
    out = model(x, u, generator=torch.Generator().manual_seed(0))
    z = out.z.view(6, 4, 2)
    g = model.label_equations(z.mean(2, keepdim=True), A)  # (6, 4, 1)
    assert torch.allclose(z, g + out.eps.view(6, 4, 2), atol=1e-5) and torch.equal(out.z_tilde, out.z)
    before = model.intervene_latent(x, u, {}).view(6, 4, 2)
    after = model.intervene_latent(x, u, {0: 0.7}).view(6, 4, 2)
    assert torch.allclose(after[:, 0], torch.full((6, 2), 0.7))  # the whole block set to c
    per_example = model.intervene_latent(x, u, {0: torch.linspace(-1, 1, 6)}).view(6, 4, 2)
    assert torch.allclose(per_example[:, 0], torch.linspace(-1, 1, 6)[:, None].expand(6, 2))
    assert torch.allclose(after[:, 1], before[:, 1])  # phi is no descendant of theta
    eps = model.encode(x, u).mu.view(6, 4, 2)
    recomputed = model.label_equations(after.mean(2, keepdim=True), A) + eps
    assert torch.allclose(after[:, 2:], recomputed[:, 2:], atol=1e-5)  # the shadow blocks follow their equations
    assert (after[:, 2:] - before[:, 2:]).abs().max() > 1e-3
    # with A = 0, z = g(0) + eps is Gaussian: the sampled KL of z averages to the closed form
    with torch.no_grad():
        model.A_raw.zero_()
        x1, u1 = x[:1].expand(4000, -1, -1, -1), u[:1].expand(4000, -1)
        sampled = model(x1, u1, generator=torch.Generator().manual_seed(1)).kl_z.mean()
        q = model.encode(x[:1], u[:1])
        shift = model.label_equations(torch.zeros(1, 4, 1), A * 0).expand(-1, -1, 2).reshape(1, 8)
        target = u[:1].repeat_interleave(2, 1)
        exact = 0.5 * (q.logvar.exp() + (q.mu + shift - target) ** 2 - 1 - q.logvar).sum()
    assert sampled.item() == pytest.approx(exact.item(), rel=0.03)


def test_pixel_weights_weight_the_likelihood_in_the_loss_only():
    model = tiny()
    x, u = batch()
    x = x.round()
    out = model(x, u, generator=torch.Generator().manual_seed(0))
    plain = causal_vae_loss(out, x)
    assert causal_vae_loss(out, x, pixel_weights=torch.ones(32, 32)).loss.item() == pytest.approx(plain.loss.item())
    rows = torch.zeros(32, 1)
    rows[27:29] = 1.0  # only two rows count
    weighted = causal_vae_loss(out, x, pixel_weights=rows)
    want = -(out.p_x.base_dist.log_prob(x)[:, :, 27:29].flatten(1).sum(1) - out.q_eps.kl_to_standard_normal()
             - out.kl_z).mean()
    assert weighted.loss.item() == pytest.approx(want.item() + (plain.loss - (-plain.elbo.mean())).item(), rel=1e-5)
    assert torch.equal(weighted.elbo, plain.elbo)  # the logged ELBO stays Eq. 36's
    with pytest.raises(ValueError, match="pixel_weights must be a non-negative"):
        CausalObjective(pixel_weights=-torch.ones(32, 32))


def test_prior_std_narrows_the_label_prior_of_the_equations_model():
    with pytest.raises(ValueError, match="prior_std applies to latent_scm='equations'"):
        tiny(prior_std=0.5)
    for bad in (0.0, 1e-46, 1.5, True, float("nan"), "0.1"):  # 1e-46: s^2 is 0 in float32, the KL infinite
        with pytest.raises(ValueError, match=r"prior_std must be a standard deviation between 0.001 and 1"):
            tiny(graph_from="labels", latent_scm="equations", prior_std=bad)
    wide, narrow = (tiny(graph_from="labels", latent_scm="equations", prior_std=s) for s in (1.0, 0.25))
    assert "prior_std" not in wide.hparams and narrow.hparams["prior_std"] == 0.25
    x, u = batch()
    a = wide(x, u, generator=torch.Generator().manual_seed(0))
    b = narrow(x, u, generator=torch.Generator().manual_seed(0))  # same weights (same seed), same sample
    assert torch.allclose(a.z, b.z)
    target = u.repeat_interleave(2, 1)
    want = 0.5 * (-b.q_eps.logvar - 1 + math.log(0.0625) + (b.z - target) ** 2 / 0.0625).sum(1)  # log N ratio
    assert torch.allclose(b.kl_z, want, atol=1e-4) and (b.kl_z > a.kl_z).all()


def test_per_concept_decoders_average_the_blocks_own_logits_and_round_trip(tmp_path):
    with pytest.raises(ValueError, match="decoder must be one of"):
        tiny(decoder="each")
    joint, split = tiny(), tiny(decoder="per_concept")
    assert "decoder" not in joint.hparams and split.hparams["decoder"] == "per_concept"
    z = torch.randn(5, split.latent_dim)
    parts = split.decoder.parts
    want = sum(parts[i](z[:, 2 * i:2 * i + 2]) for i in range(4)) / 4  # (1/n) sum_i f_i(z_i): Decoder_DAG.decode_sep
    assert torch.allclose(split.decoder(z), want, atol=1e-6)
    moved = z.clone()
    moved[:, 4:6] += 1.0  # block 2 only: only f_2's share of the logits changes
    delta = split.decoder(moved) - split.decoder(z)
    assert torch.allclose(delta, (parts[2](moved[:, 4:6]) - parts[2](z[:, 4:6])) / 4, atol=1e-6)
    x, u = batch()
    assert split(x, u).p_x.mean.shape == x.shape
    checkpoints.save(split, tmp_path / "split.pt")
    again = checkpoints.load(tmp_path / "split.pt")
    assert again.hparams == split.hparams and isinstance(again.decoder, type(split.decoder))
    split.eval(), again.eval()
    assert torch.allclose(again.reconstruct(x, u), split.reconstruct(x, u))


def test_shadow_rows_decoder_draws_the_shadow_rows_from_the_shadow_blocks_only(tmp_path):
    from vaecourse.data import Pendulum
    with pytest.raises(ValueError, match="needs band_rows and band_owners"):
        CausalVAE(n_concepts=3, concept_dim=2, encoder="conv32", image_shape=SHAPE, decoder="shadow_rows")
    with pytest.raises(ValueError, match="needs band_rows and band_owners"):  # and only it takes them
        tiny(band_rows=[1], band_owners=[0])
    for rows, owners in (([40], [0]), ([1, 1], [0]), ([1], [4]), ([], [0]), ([1.5], [0]), ([True], [0])):
        with pytest.raises(ValueError, match="must be distinct integers in"):
            tiny(decoder="shadow_rows", band_rows=rows, band_owners=owners)
    # nothing of the scene in the class: any number of concepts, any band, any image size
    other = CausalVAE(n_concepts=3, concept_dim=1, encoder="mlp", image_shape=(1, 16, 16), decoder="shadow_rows",
                      band_rows=[0, 5, 9], band_owners=[1])
    assert other.decoder(torch.randn(2, 3)).shape == (2, 1, 16, 16)
    model = tiny(decoder="shadow_rows", **dict(zip(("band_rows", "band_owners"), Pendulum(size=32).shadow_band())))
    assert model.hparams["decoder"] == "shadow_rows" and model.hparams["band_owners"] == [2, 3]
    rows = Pendulum(size=32).shadow_rows()
    assert torch.equal(model.decoder.rows, rows) and 0 < int(rows.sum()) < 32
    z = torch.randn(5, model.latent_dim)
    logits = model.decoder(z)
    assert torch.equal(logits[:, :, ~rows], model.decoder.full(z)[:, :, ~rows])  # elsewhere: the joint decoder
    angles, shadow = z.clone(), z.clone()
    angles[:, :4] += 1.0  # blocks 0 and 1 (theta, phi)
    shadow[:, 4:] += 1.0  # blocks 2 and 3 (shadow length, position)
    assert torch.equal(model.decoder(angles)[:, :, rows], logits[:, :, rows])  # the angles cannot draw the shadow
    assert not torch.allclose(model.decoder(shadow)[:, :, rows], logits[:, :, rows])
    x, u = batch()
    checkpoints.save(model, tmp_path / "rows.pt")
    again = checkpoints.load(tmp_path / "rows.pt")
    model.eval(), again.eval()
    assert torch.allclose(again.reconstruct(x, u), model.reconstruct(x, u))


def _pruning_model():
    """A label-equations model with edges 0 -> 2 and 1 -> 2, and labels in which u_1 is constant: the edge 1 -> 2
    then carries nothing (removing it changes no prediction), while u_2 = 0.9 u_0 + noise, which the label
    equations are fitted to (A held)."""
    model = tiny(graph_from="labels")
    with torch.no_grad():
        model.A_raw.zero_()
        model.A_raw[0, 2], model.A_raw[1, 2] = 1.5, 0.8
    g = torch.Generator().manual_seed(0)
    u = torch.randn(200, 4, generator=g)
    u[:, 1] = 0.0
    u[:, 2] = 0.9 * u[:, 0] + 0.1 * u[:, 2]
    optimiser = torch.optim.Adam(model.label_equations.parameters(), lr=1e-2)
    for _ in range(300):
        optimiser.zero_grad()
        (u - model.predict_labels(u)).pow(2).sum(1).mean().backward()
        optimiser.step()
    return model, u


def test_prune_graph_drops_the_edges_the_label_equations_do_not_need(tmp_path):
    model, u = _pruning_model()
    assert model.prune_graph(u, tolerance=0.0) and model.edge_mask.eq(1).all()  # tolerance 0 keeps every edge
    before = (u - model.predict_labels(u)).pow(2).sum(1).mean()
    rises = model.prune_graph(u, tolerance=0.01)
    assert rises[(1, 2)] == pytest.approx(0.0, abs=1e-6) and rises[(0, 2)] > 0.01 * before
    assert model.adjacency()[1, 2] == 0 and model.adjacency()[0, 2] == 1.5 and model.A_raw[1, 2] == 0.8
    assert torch.allclose((u - model.predict_labels(u)).pow(2).sum(1).mean(), before)  # l_u unchanged
    x, y = batch()
    fit(model, CausalObjective(label_fit="mask"), [(x, y)] * 3, steps=3, batch_size=6, progress=False, device="cpu")
    assert model.adjacency()[1, 2] == 0  # a pruned edge stays pruned in training
    checkpoints.save(model, tmp_path / "pruned.pt")
    assert torch.equal(checkpoints.load(tmp_path / "pruned.pt").adjacency(), model.adjacency())


def test_checkpoints_from_before_pruning_load_with_every_edge_kept():
    model, _ = _pruning_model()
    state = model.state_dict()
    del state["edge_mask"]  # as written before pruning existed
    fresh = tiny(graph_from="labels")
    fresh.load_state_dict(state)
    assert fresh.edge_mask.eq(1).all() and torch.equal(fresh.adjacency(), model.adjacency())


def test_prune_graph_bad_input():
    model, u = _pruning_model()
    with pytest.raises(ValueError, match=r"labels u of shape \(N, 4\)"):
        model.prune_graph(u[:, :3])
    with pytest.raises(ValueError, match="tolerance must be a number >= 0"):
        model.prune_graph(u, tolerance=-0.1)
    with pytest.raises(ValueError, match="no graph to prune"):
        tiny(ConditionalVAE).prune_graph(u)


def test_prune_edges_is_backward_elimination_on_a_known_loss():
    """A linear label loss with a known answer: u_2 = u_0 + 0.05 u_1 + noise (unit variances), l_u = 1 on the whole
    graph. Removing 0 -> 2 raises it by var(u_0) = 1, removing 1 -> 2 by 0.05^2 = 0.0025 (a quarter of 1 %), so at
    a 1 % tolerance only 1 -> 2 goes, at 0 nothing, and an entry below the threshold is never tested."""
    from vaecourse.graph_fit import prune_edges
    g = torch.Generator().manual_seed(0)
    u = torch.randn(20000, 3, generator=g, dtype=torch.float64)
    noise = torch.randn(20000, generator=g, dtype=torch.float64)
    for j in (0, 1):  # the noise orthogonal to both causes, so the rises are exactly c_j^2 mean(u_j^2)
        noise = noise - (noise @ u[:, j]) / (u[:, j] @ u[:, j]) * u[:, j]
    u[:, 2] = u[:, 0] + 0.05 * u[:, 1] + noise

    def loss(A):  # l_u with the right coefficients on the edges present: u_2 - sum_j [A_j2 != 0] c_j u_j
        return float((u[:, 2] - (A[0, 2] != 0) * u[:, 0] - (A[1, 2] != 0) * 0.05 * u[:, 1]).pow(2).mean())

    A = torch.zeros(3, 3)
    A[0, 2], A[1, 2], A[0, 1] = 2.0, 0.9, 0.1  # 0 -> 1 is below the threshold
    keep, rises = prune_edges(A, loss, tolerance=0.01)
    assert keep[1, 2] == 0 and keep[0, 2] == 1 and keep[0, 1] == 1 and set(rises) == {(0, 2), (1, 2)}
    assert rises[(1, 2)] == pytest.approx(0.0025 * u[:, 1].pow(2).mean().item(), rel=1e-4)
    assert rises[(0, 2)] == pytest.approx(u[:, 0].pow(2).mean().item(), rel=1e-3)
    assert prune_edges(A, loss, tolerance=0.0)[0].eq(1).all()
    with pytest.raises(ValueError, match=r"square \(n, n\)"):
        prune_edges(torch.zeros(2, 3), loss)


def _layered(**kw):
    model = tiny(decoder="layered", latent_scm="equations", graph_from="labels", **kw)
    return model


def test_layered_decoder_composites_layers_over_a_background_by_hand():
    from vaecourse.models.causal_layers import LayeredDecoder
    # nothing of the scene in the class: any number of concept blocks, any image size, layers default to blocks
    other = LayeredDecoder(3, 2, "mlp", (1, 16, 16))
    assert other.n_layers == 3 and other(torch.randn(2, 6)).shape == (2, 1, 16, 16)
    assert LayeredDecoder(5, 1, "mlp", (2, 8, 12), layers=2)(torch.randn(3, 5)).shape == (3, 2, 8, 12)
    decoder = LayeredDecoder(4, 2, "conv32", SHAPE).eval()
    z = torch.randn(5, 8)
    logits, owned, overlap = decoder.draw(z)
    r = decoder.gates(5)  # eval: the deterministic gate clamp(sigmoid(log alpha) (zeta - gamma) + gamma, 0, 1)
    want_r = (torch.sigmoid(decoder.gate_logits) * 1.2 - 0.1).clamp(0, 1)
    assert torch.allclose(r, want_r.expand(5, -1, -1))
    layers = [part((z.view(5, 4, 2) * r[:, l, :, None]).flatten(1)) for l, part in enumerate(decoder.parts)]
    masks = torch.stack([torch.zeros(5, 32, 32)] + [layer[:, 3] for layer in layers], 1)
    pi = masks.exp() / masks.exp().sum(1, keepdim=True)  # softmax over (background, layer 1, ..., layer L)
    want = pi[:, 0, None] * decoder.background + sum(pi[:, l + 1, None] * layers[l][:, :3] for l in range(4))
    assert torch.allclose(logits, want, atol=1e-5)
    assert torch.allclose(owned, sum(pi[:, l + 1, None] * r[:, l, :, None, None] for l in range(4)), atol=1e-6)
    assert torch.allclose(owned.sum(1) <= pi[:, 1:].sum(1) * 4 + 1e-6, torch.ones(5, 32, 32).bool())
    pairs = sum(pi[:, a] * pi[:, b] for a in range(5) for b in range(a + 1, 5))  # background and 4 layers
    assert torch.allclose(overlap, pairs.flatten(1).sum(1), atol=1e-4)
    # P(r != 0) = sigmoid(log alpha - beta log(-gamma / zeta))   [louizos2018, Eq. 12]
    p = torch.sigmoid(decoder.gate_logits - (2 / 3) * math.log(0.1 / 1.1))
    assert torch.allclose(decoder.open_probability(), p)


def test_layered_decoder_a_block_no_gate_reads_cannot_change_any_pixel():
    model = _layered().eval()
    with torch.no_grad():
        model.decoder.gate_logits.fill_(-10.0)  # every gate shut ...
        model.decoder.gate_logits[:, 0] = 10.0  # ... except block 0's, in every layer
    z = torch.randn(4, model.latent_dim)
    moved, other = z.clone(), z.clone()
    moved[:, 2:] += 3.0  # blocks 1..3: read by no layer
    other[:, :2] += 1.0  # block 0
    assert torch.equal(model.decoder(moved), model.decoder(z))
    assert not torch.allclose(model.decoder(other), model.decoder(z))
    x, u = batch(4)
    owned = model.ownership(x, u)
    assert owned.shape == (4, 4, 32, 32) and torch.equal(owned[:, 1:], torch.zeros_like(owned[:, 1:]))
    # in training the gates are hard-concrete samples in [0, 1], exactly 0 or 1 much of the time
    model.decoder.train()
    with torch.no_grad():
        model.decoder.gate_logits.zero_()
    with torch.no_grad():
        r = model.decoder.gates(2000)
    assert 0 <= float(r.min()) and float(r.max()) <= 1
    assert 0.05 < float((r == 0).float().mean()) < 0.5 and 0.05 < float((r == 1).float().mean()) < 0.5
    # the share of exact zeros is 1 - P(r != 0)
    assert abs(float((r == 0).float().mean()) - float(1 - model.decoder.open_probability().detach().mean())) < 0.02


def test_ownership_term_adds_its_weight_times_the_pixels_each_concept_draws():
    model = _layered()
    x, u = batch()
    out = model(x, u)
    assert out.owned.shape == (6,) and bool((out.owned > 0).all())
    base = causal_vae_loss(out, x, label_fit="mask", lm_weight=0.0)
    paid = causal_vae_loss(out, x, label_fit="mask", lm_weight=0.0, ownership=0.25)
    assert torch.allclose(paid.loss - base.loss, 0.25 * out.owned.mean())
    assert torch.equal(paid.extras["l_own"], out.owned.detach()) and "l_own" not in base.extras
    paid.loss.backward()
    assert model.decoder.gate_logits.grad is not None and model.decoder.gate_logits.grad.abs().sum() > 0
    joint = tiny(latent_scm="equations", graph_from="labels")
    with pytest.raises(ValueError, match="decoder='layered'"):
        causal_vae_loss(joint(x, u), x, label_fit="mask", ownership=0.1)
    with pytest.raises(ValueError, match="decoder='layered'"):
        joint.ownership(x, u)
    with pytest.raises(ValueError, match="ownership"):
        CausalObjective(ownership=-1.0)


def test_label_dropout_lets_the_encoder_read_the_image_alone(tmp_path):
    x, u = batch()
    plain = tiny()
    with pytest.raises(ValueError, match="labels always given"):
        plain.encode(x, None)
    for bad in (-0.1, 1.0, True, "half"):
        with pytest.raises(ValueError, match=r"label_dropout must be a fraction in \[0, 1\)"):
            tiny(label_dropout=bad)
    model = _layered(label_dropout=0.5)
    assert model.hparams["label_dropout"] == 0.5 and "label_dropout" not in plain.hparams
    model.eval()
    alone = model.encode(x, None).mu
    assert torch.allclose(alone, model.encode(x, torch.randn(6, 4), given=torch.zeros(6, 1)).mu)  # u unread
    assert not torch.allclose(alone, model.encode(x, u).mu)
    assert model.concept_latents(x, None).shape == (6, 4) and model.intervene(x, None, {2: 0.0}).shape == x.shape
    with pytest.raises(ValueError, match="forward needs the labels"):
        model(x, None)
    # in training, an example's labels are withheld with probability label_dropout
    nearly = _layered(label_dropout=0.999999)
    torch.manual_seed(1)
    out = nearly(x, u)
    assert torch.allclose(out.q_eps.mu, nearly.encode(x, None).mu, atol=1e-6)
    target = u.repeat_interleave(2, 1)  # ... while the prior p(z|u) = N(u, I) still reads them
    assert torch.allclose(out.kl_z, 0.5 * (-out.q_eps.logvar - 1 + (out.z - target).pow(2)).sum(1), atol=1e-5)
    checkpoints.save(model, tmp_path / "layered.pt")
    again = checkpoints.load(tmp_path / "layered.pt").eval()
    assert again.hparams == model.hparams
    assert torch.allclose(again.intervene(x, None, {1: 0.5}), model.intervene(x, None, {1: 0.5}))


def test_command_line_trains_the_layered_model_and_refuses_its_flags_elsewhere(tmp_path, capsys):
    from vaecourse.cli import main
    common = ["train", "--model", "causalvae", "--dataset", "pendulum", "--image-size", "32", "--encoder", "conv32",
              "--steps", "2", "--batch-size", "4", "--no-progress"]
    out = tmp_path / "layered.pt"
    assert main([*common, "--decoder", "layered", "--ownership", "0.02", "--label-dropout", "0.5",
                 "--out", str(out)]) == 0
    saved = checkpoints.read(out)
    assert saved.hparams["decoder"] == "layered" and saved.hparams["label_dropout"] == 0.5
    assert saved.extra["arguments"]["ownership"] == 0.02
    capsys.readouterr()
    assert main([*common, "--ownership", "0.02", "--out", str(tmp_path / "joint.pt")]) != 0
    assert "applies to decoder layered only" in capsys.readouterr().err
    assert not (tmp_path / "joint.pt").exists()


def test_read_back_draws_a_counterfactual_and_reads_it_through_the_encoder_alone():
    for bad in (dict(cycle=True), dict(cycle=True, label_dropout=0.5, latent_scm="linear"), dict(cycle=1)):
        with pytest.raises(ValueError, match="cycle=True reads the model's counterfactuals back"):
            tiny(**({"graph_from": "labels", "latent_scm": "equations"} | bad))
    model = _layered(label_dropout=0.5, cycle=True, prior_std=0.5)
    assert model.hparams["cycle"] is True
    x, u = batch()
    model.train()
    torch.manual_seed(3)
    out = model(x, u)
    assert out.cycle.shape == (6,)
    # by hand, with the generator where the forward pass left it: the same draws give the same term
    eps, z = out.eps.detach(), out.z.detach()
    state = torch.get_rng_state()
    got = model.read_back(eps, z)
    torch.set_rng_state(state)
    i = int(torch.randint(4, (1,)))
    c = z.view(6, 4, 2)[torch.randperm(6), i]
    z_do = model._propagate(eps, {i: c})
    assert torch.allclose(z_do.view(6, 4, 2)[:, i], c)  # the action: block i holds the other example's value
    torch.set_rng_state(state)
    torch.randint(4, (1,)), torch.randperm(6)
    read = model.causal_layer(model.encode(model.decode(z_do).mean, None).mu)
    assert torch.allclose(got, (read - z_do).pow(2).sum(1) / (2 * 0.5 ** 2), atol=1e-5)
    # the objective adds cycle * mean, and its gradient reaches the decoder and the encoder
    base = causal_vae_loss(out, x, label_fit="mask", lm_weight=0.0)
    paid = causal_vae_loss(out, x, label_fit="mask", lm_weight=0.0, cycle=2.0)
    assert torch.allclose(paid.loss - base.loss, 2.0 * out.cycle.mean())
    assert torch.equal(paid.extras["l_cycle"], out.cycle.detach())
    model.zero_grad()
    out.cycle.mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    model.eval()
    assert model(x, u).cycle is None  # a training term only


def test_label_reliance_tells_a_model_reading_labels_from_one_reading_pixels():
    from vaecourse.data import Pendulum
    from vaecourse.metrics.causal import label_reliance
    data = Pendulum(size=32, shadow_noise=1.0)

    class Reader(torch.nn.Module):  # reads "concepts" from the pixels or passes the labels through
        takes_labels, label_dropout, device = True, 0.5, torch.device("cpu")

        def __init__(self, from_pixels):
            super().__init__()
            self.from_pixels = from_pixels

        def concept_latents(self, x, u):
            if self.from_pixels or u is None:  # mean darkness of four image bands: a function of the scene only
                return torch.stack([(1 - x[:, :, 8 * b:8 * b + 8]).mean((1, 2, 3)) for b in range(4)], 1)
            return u

    labels, pixels = (label_reliance(Reader(p), data, n=200, generator=torch.Generator().manual_seed(0))
                      for p in (False, True))
    assert labels["given"]["mic"] > 0.95 and labels["swapped_vs_fed"]["mic"] > 0.95
    assert labels["swapped_vs_image"]["mic"] < 0.4  # the labels of another scene say nothing of this one
    assert pixels["swapped_vs_image"]["mic"] == pytest.approx(pixels["given"]["mic"])  # the labels are not read
    assert pixels["swapped_vs_fed"]["mic"] < pixels["swapped_vs_image"]["mic"]
    assert pixels["withheld"]["mic"] == pytest.approx(pixels["given"]["mic"])
    assert label_reliance(tiny(), data, n=20)["withheld"] is None  # a model that always reads its labels
    with pytest.raises(ValueError, match="label-conditioned model"):
        label_reliance(torch.nn.Linear(1, 1), data)


def test_exclusive_term_pays_for_each_pair_of_layers_that_read_one_concept():
    model = _layered()
    decoder = model.decoder
    with torch.no_grad():
        decoder.gate_logits.fill_(-30.0)  # every gate shut: no block is read, nothing shared
    assert float(decoder.shared().detach()) < 1e-9
    with torch.no_grad():
        decoder.gate_logits[:2, 0] = 30.0  # block 0 read by layers 0 and 1: one pair, P(open) ~ 1 each
        decoder.gate_logits[2, 1] = 30.0  # block 1 by layer 2 alone: no pair
    assert abs(float(decoder.shared().detach()) - 1.0) < 1e-6
    with torch.no_grad():
        decoder.gate_logits[3, 0] = 30.0  # three layers read block 0: three pairs
    assert abs(float(decoder.shared().detach()) - 3.0) < 1e-6
    # by hand on random gates: sum over blocks of sum_{l < l'} p_l p_l'
    with torch.no_grad():
        decoder.gate_logits.normal_()
    p = decoder.open_probability()
    want = sum(p[a, i] * p[b, i] for i in range(4) for a in range(4) for b in range(a + 1, 4))
    assert torch.allclose(decoder.shared(), want)
    x, u = batch()
    out = model(x, u)
    base = causal_vae_loss(out, x, label_fit="mask", lm_weight=0.0)
    paid = causal_vae_loss(out, x, label_fit="mask", lm_weight=0.0, exclusive=5.0)
    assert torch.allclose(paid.loss - base.loss, 5.0 * want)
    assert paid.extras["l_share"].shape == (6,) and "l_share" not in base.extras
    paid.loss.backward()
    assert decoder.gate_logits.grad.abs().sum() > 0
    joint = tiny(latent_scm="equations", graph_from="labels")
    with pytest.raises(ValueError, match="exclusive > 0 needs a model whose decoder"):
        causal_vae_loss(joint(x, u), x, label_fit="mask", exclusive=1.0)
    with pytest.raises(ValueError, match="exclusive"):
        CausalObjective(exclusive=float("nan"))


def test_cycle_weight_on_a_model_that_does_not_read_back_is_refused_in_training_and_eval():
    x, u = batch()
    plain = _layered(label_dropout=0.5)  # built without cycle=True: no counterfactual is drawn
    for mode in (plain.train, plain.eval):
        mode()
        with pytest.raises(ValueError, match=r"cycle=2 weights a counterfactual read back .* cycle=True"):
            CausalObjective(label_fit="mask", cycle=2.0)(plain(x, u), x)
    reading = _layered(label_dropout=0.5, cycle=True).eval()
    assert CausalObjective(label_fit="mask", cycle=2.0)(reading(x, u), x).loss.isfinite()  # eval: no term, no error


def test_overlap_term_is_zero_where_one_layer_draws_each_pixel_and_pays_for_blending():
    model = _layered()
    x, u = batch()
    out = model(x, u)
    assert out.overlap.shape == (6,) and bool((out.overlap > 0).all())
    base = causal_vae_loss(out, x, label_fit="mask", lm_weight=0.0)
    paid = causal_vae_loss(out, x, label_fit="mask", lm_weight=0.0, overlap=0.5)
    assert torch.allclose(paid.loss - base.loss, 0.5 * out.overlap.mean())
    assert torch.equal(paid.extras["l_overlap"], out.overlap.detach())
    # an even blend of the 1 + L = 5 slots on every pixel: (1 - 5 (1/5)^2) / 2 per pixel, the most there is
    decoder = model.decoder
    with torch.no_grad():
        for part in decoder.parts:
            for p in part.parameters():
                p.zero_()
    z = torch.randn(3, model.latent_dim)
    assert torch.allclose(decoder.draw(z).overlap, torch.full((3,), 0.4 * 32 * 32))
    joint = tiny(latent_scm="equations", graph_from="labels")
    with pytest.raises(ValueError, match="overlap > 0 needs a model whose decoder"):
        causal_vae_loss(joint(x, u), x, label_fit="mask", overlap=1.0)


def test_objective_and_terms_refuse_what_means_nothing_naming_the_argument():
    """Issue 25 (the third probe's cases in these files): the augmented Lagrangian's schedule, HSIC's inputs and
    l_m's shapes were taken as given (a growth below 1 shrinks rho, a NaN bandwidth gives NaN, (B, D) - (D,)
    broadcast)."""
    from vaecourse.objectives.causal import mask_loss
    from vaecourse.objectives.independence import hsic
    for name, bad in (("rho_growth", 0.5), ("rho_growth", float("nan")), ("h_tol", -1.0), ("h_tol", True),
                      ("bandwidth", 0.0), ("bandwidth", float("inf")), ("bandwidth", "wide")):
        with pytest.raises(ValueError, match=f"^{name} must be"):
            CausalObjective(**{name: bad})
    assert CausalObjective(rho_growth=1.0, h_tol=0.0).rho_growth == 1.0  # the edges are allowed
    with pytest.raises(ValueError, match="mask_loss expects z and g of one shape"):
        mask_loss(torch.zeros(3, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="mask_loss expects z and g of one shape"):
        mask_loss(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(TypeError, match="hsic expects two floating-point tensors, got list"):
        hsic([1.0, 2.0], [3.0, 4.0])
    with pytest.raises(TypeError, match="int64"):
        hsic(torch.tensor([1.0, 2.0]), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="bandwidth must be"):
        hsic(torch.randn(4), torch.randn(4), bandwidth=-1.0)
