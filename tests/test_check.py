"""The exercise checks: references pass, stubs say "not done yet", each typical mistake gets its own message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vaecourse import check
from vaecourse.distributions import kl_standard_normal
from vaecourse.distributions import reparameterize as ref_reparameterize
from vaecourse.likelihoods import bernoulli_log_prob

from checking import assert_caught, assert_precise, class_cases, verdict  # noqa: E402  (tests/checking.py)


def ref_elbo(model, x, eps):
    q = model.encode(x)
    z = ref_reparameterize(q.mu, q.logvar, eps)
    return model.decode(z).log_prob(x) - kl_standard_normal(q.mu, q.logvar)


REFERENCES = {
    "reparameterize": ref_reparameterize,
    "gaussian_kl": kl_standard_normal,
    "bernoulli_log_likelihood": bernoulli_log_prob,
    "elbo": ref_elbo,
}




@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name, capsys):
    ok, out = verdict(name, REFERENCES[name], capsys)
    assert ok is True
    assert out.startswith("✅"), out


def test_alternative_correct_forms_pass(capsys):
    assert verdict("gaussian_kl", lambda mu, lv: -0.5 * (1 + lv - mu**2 - lv.exp()).sum(dim=1), capsys)[0]
    assert verdict("bernoulli_log_likelihood", lambda l, x: -F.binary_cross_entropy_with_logits(
        l, x, reduction="none").sum(dim=(1, 2, 3)), capsys)[0]
    assert verdict("bernoulli_log_likelihood", lambda l, x: torch.distributions.Bernoulli(logits=l).log_prob(x)
                   .flatten(1).sum(1), capsys)[0]


@pytest.mark.parametrize("name, exercise", [("reparameterize", "1.1"), ("gaussian_kl", "1.2"),
                                            ("bernoulli_log_likelihood", "1.3"), ("elbo", "1.4")])
def test_stub_is_not_done_yet(name, exercise, capsys):
    def stub(*args):
        raise NotImplementedError(f"Exercise {exercise}: do the thing")

    ok, out = verdict(name, stub, capsys)
    assert ok is False
    assert out.startswith(f"Exercise {exercise} is not done yet: do the thing.")
    assert "library's version" in out


def test_stub_without_message_uses_default_todo(capsys):
    def stub(mu, logvar):
        raise NotImplementedError

    ok, out = verdict("gaussian_kl", stub, capsys)
    assert not ok and "Exercise 1.2 is not done yet: compute the closed-form KL" in out


def test_other_errors_are_reported_not_raised(capsys):
    def broken(mu, logvar):
        raise RuntimeError("boom")

    ok, out = verdict("gaussian_kl", broken, capsys)
    assert ok is False
    assert "RuntimeError: boom" in out and "in broken" in out and "Hint:" in out


def test_not_a_function(capsys):
    ok, out = verdict("gaussian_kl", 3.0, capsys)
    assert not ok and "pass the function itself" in out


def test_bad_return_type(capsys):
    ok, out = verdict("gaussian_kl", lambda mu, lv: 1.0, capsys)
    assert not ok and "should be a torch.Tensor, got float" in out


MISTAKES = [
    # reparameterize(mu, logvar, eps)
    ("reparameterize", lambda mu, lv, eps: mu + lv.exp() * eps, "the variance"),
    ("reparameterize", lambda mu, lv, eps: mu + torch.exp(0.5 * lv) * torch.randn_like(mu), "drew your own noise"),
    ("reparameterize", lambda mu, lv, eps: mu + torch.exp(0.5 * lv), "ignores eps"),
    ("reparameterize", lambda mu, lv, eps: (mu + torch.exp(0.5 * lv) * eps).sum(1), "has shape (5,)"),
    ("reparameterize", lambda mu, lv, eps: (mu + torch.exp(0.5 * lv) * eps).detach(), "carries no gradient"),
    ("reparameterize", lambda mu, lv, eps: mu.detach() + torch.exp(0.5 * lv) * eps, "no gradient reaches mu"),
    ("reparameterize", lambda mu, lv, eps: mu + torch.exp(0.5 * lv.detach()) * eps, "no gradient reaches logvar"),
    ("reparameterize", lambda mu, lv, eps: mu + 1.01 * torch.exp(0.5 * lv) * eps, "z differs from z = mu + sigma"),
    # gaussian_kl(mu, logvar)
    ("gaussian_kl", lambda mu, lv: 0.5 * (1 + lv - mu**2 - lv.exp()).sum(-1), "KL came out negative"),
    ("gaussian_kl", lambda mu, lv: 0.5 * (-mu**2 - lv.exp() + 1 + lv).sum(-1), "exactly −KL"),
    ("gaussian_kl", lambda mu, lv: 0.5 * (mu**2 - lv.exp() - 1 + lv).sum(-1), "sign of the log-variance term"),
    ("gaussian_kl", lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 + lv).sum(-1), "sign of the log-variance term"),
    ("gaussian_kl", lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv), "forgot to sum over the latent dimensions"),
    ("gaussian_kl", lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(), "never over the batch"),
    ("gaussian_kl", lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(-1).mean(), "never over the batch"),
    ("gaussian_kl", lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(0), "summed over the batch"),
    ("gaussian_kl", lambda mu, lv: 0.5 * (mu**2 + torch.exp(0.5 * lv) - 1 - lv).sum(-1), "sigma = exp(logvar / 2)"),
    ("gaussian_kl", lambda mu, lv: (mu**2 + lv.exp() - 1 - lv).sum(-1), "twice the closed form"),
    ("gaussian_kl", lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).mean(-1), "averaged over the latent"),
    ("gaussian_kl", lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv).sum(-1), "KL differs from the closed form at"),
    # bernoulli_log_likelihood(logits, x)
    ("bernoulli_log_likelihood", lambda l, x: (x * l - F.softplus(l)).flatten(1).mean(1), "averaged over the pixels"),
    ("bernoulli_log_likelihood", lambda l, x: F.binary_cross_entropy_with_logits(l, x, reduction="none").sum((1, 2, 3)),
     "returned the binary cross-entropy"),
    ("bernoulli_log_likelihood", lambda l, x: (x * l.log() + (1 - x) * (1 - l).log()).sum((1, 2, 3)),
     "treated the logits as probabilities"),
    ("bernoulli_log_likelihood",
     lambda l, x: -F.binary_cross_entropy(l.clamp(0, 1), x, reduction="none").sum((1, 2, 3)),
     "treated the logits as probabilities"),
    ("bernoulli_log_likelihood", lambda l, x: (x * torch.sigmoid(l).log() + (1 - x) * (1 - torch.sigmoid(l)).log())
     .sum((1, 2, 3)), "softplus"),
    ("bernoulli_log_likelihood", lambda l, x: (x * torch.log(torch.sigmoid(l) + 1e-8)
                                               + (1 - x) * torch.log(1 - torch.sigmoid(l) + 1e-8)).sum((1, 2, 3)),
     "for logits of ±40 to ±160"),
    ("bernoulli_log_likelihood", lambda l, x: x * l - F.softplus(l), "one number per pixel"),
    ("bernoulli_log_likelihood", lambda l, x: -F.binary_cross_entropy_with_logits(l, x), "never over the batch"),
    # elbo(model, x, eps)
    ("elbo", lambda m, x, eps: -ref_elbo(m, x, eps), "returned the loss"),
    ("elbo", lambda m, x, eps: m.decode(ref_reparameterize(m.encode(x).mu, m.encode(x).logvar, eps)).log_prob(x),
     "KL term is missing"),
    ("elbo", lambda m, x, eps: ref_elbo(m, x, eps) + 2 * m.encode(x).kl_to_standard_normal(), "you added the KL"),
    ("elbo", lambda m, x, eps: ref_elbo(m, x, eps).mean(), "never over the batch"),
    ("elbo", lambda m, x, eps: m.decode(m.encode(x).mu).log_prob(x) - m.encode(x).kl_to_standard_normal(),
     "ignored eps"),
    ("elbo", lambda m, x, eps: (lambda out: out.p_x.log_prob(x) - out.q_z.kl_to_standard_normal())(m(x)),
     "drew your own noise"),
]


@pytest.mark.parametrize("name, fn, message", MISTAKES,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(MISTAKES)])
def test_mistake_is_named(name, fn, message, capsys):
    ok, out = verdict(name, fn, capsys)
    assert ok is False
    assert out.startswith("❌"), out
    assert message in out, out
    assert "library's version" in out


def test_a_function_that_changes_its_inputs_fails(capsys):
    """A function that overwrites its inputs in place fails, even when its output is right: it spoils what the
    notebook computes next from the same tensors (issue 24)."""
    def mutating(mu, logvar):
        out = kl_standard_normal(mu, logvar)
        mu.zero_()
        logvar.fill_(3.0)
        return out

    ok, out = verdict("gaussian_kl", mutating, capsys)
    assert not ok and "changed its input logvar in place" in out and "must not modify its inputs" in out, out


def test_check_leaves_global_rng_alone(capsys):
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    check.elbo(ref_elbo)
    check.gaussian_kl(kl_standard_normal)
    capsys.readouterr()
    assert torch.equal(torch.rand(3), before)


def test_package_exports_exactly_the_chapter_checks():
    """``check.__all__`` is the union of the chapter modules' ``__all__`` (core is machinery, not a check), every
    name resolves to that module's function, and every ``check.<name>(`` a solution notebook calls is exported."""
    import importlib
    import pkgutil
    import re
    from pathlib import Path

    chapters = [importlib.import_module(f"vaecourse.check.{m.name}") for m in pkgutil.iter_modules(check.__path__)
                if m.name != "core"]
    expected = {name: getattr(module, name) for module in chapters for name in module.__all__}
    assert len(check.__all__) == len(set(check.__all__)), "a name is listed twice in check.__all__"
    assert sorted(check.__all__) == sorted(expected)
    assert all(getattr(check, name) is fn for name, fn in expected.items())
    solutions = Path(__file__).resolve().parents[1] / "solutions"
    used = {m for path in solutions.glob("*.py") for m in re.findall(r"\bcheck\.(\w+)\(", path.read_text())}
    assert used and used <= set(check.__all__), sorted(used - set(check.__all__))


# ---- issue 24: plausible wrong code of each class, each with its own message ------------------------------------
def _kl(mu, lv):
    return 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(-1)


def _kl_no_grad(mu, lv):
    with torch.no_grad():
        return _kl(mu, lv)


def _z_no_grad(mu, lv, eps):
    with torch.no_grad():
        return mu + torch.exp(0.5 * lv) * eps


def _elbo_without(term):
    def elbo(m, x, eps):
        q = m.encode(x)
        rec = m.decode(q.mu + torch.exp(0.5 * q.logvar) * eps).log_prob(x)
        kl = kl_standard_normal(q.mu, q.logvar)
        return (rec.detach() if term == "rec" else rec) - (kl.detach() if term == "kl" else kl)
    return elbo


def _elbo_no_grad(m, x, eps):
    with torch.no_grad():
        return ref_elbo(m, x, eps)


def _z_in_place(mu, lv, eps):
    return eps.mul_(torch.exp(0.5 * lv)).add_(mu)


def _elbo_in_place(m, x, eps):
    q = m.encode(x)
    z = eps.mul_(torch.exp(0.5 * q.logvar)).add_(q.mu)  # writes z into the caller's eps
    return m.decode(z).log_prob(x) - kl_standard_normal(q.mu, q.logvar)


def _elbo_touches_weights(m, x, eps):
    with torch.no_grad():
        next(m.parameters()).mul_(1.5)
    return ref_elbo(m, x, eps)


def _bernoulli_clamps_logits(l, x):
    l.clamp_(-30, 30)
    return bernoulli_log_prob(l, x)


CLASSES = {
    "gradients cut": [
        ("reparameterize", _z_no_grad, "carries no gradient"),
        ("gaussian_kl", lambda mu, lv: _kl(mu, lv).detach(), "carries no gradient"),
        ("gaussian_kl", lambda mu, lv: torch.tensor([_kl(m, v).item() for m, v in zip(mu, lv)], dtype=mu.dtype),
         "carries no gradient"),
        ("gaussian_kl", lambda mu, lv: torch.from_numpy(0.5 * (mu.numpy() ** 2 + lv.exp().numpy() - 1 - lv.numpy())
                                                        .sum(-1)), ".numpy() on a tensor that needs a gradient"),
        ("gaussian_kl", _kl_no_grad, "carries no gradient"),
        ("gaussian_kl", lambda mu, lv: 0.5 * (mu**2 + lv.exp().detach() - 1 - lv).sum(-1),
         "wrong gradient with respect to logvar"),
        ("bernoulli_log_likelihood", lambda l, x: bernoulli_log_prob(l, x).detach(), "carries no gradient"),
        ("elbo", _elbo_without("kl"), "its KL term carries no gradient"),
        ("elbo", _elbo_without("rec"), "its reconstruction term log p(x|z) carries no gradient"),
        ("elbo", _elbo_no_grad, "carries no gradient"),
    ],
    "right only for the tested shape": [
        ("reparameterize", lambda mu, lv, eps: mu + torch.exp(0.5 * lv) * eps.reshape(5, 3), "right for B=5, D=3 but "
                                                                                            "not for B="),
        ("gaussian_kl", lambda mu, lv: _kl(mu, lv).reshape(5), "right for B=5, D=3 but not for"),
        ("gaussian_kl", lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv)[:, :3].sum(-1), "right for B=5, D=3"),
        ("bernoulli_log_likelihood", lambda l, x: (x * l - F.softplus(l)).view(4, 784).sum(1),
         "right for B=4, C=1, H=28, W=28 but not for"),
        ("elbo", lambda m, x, eps: ref_elbo(m, x, eps)[:5], "right for B=5, D=4 but not for"),
    ],
    "numerically fragile": [
        ("bernoulli_log_likelihood", lambda l, x: (x * l - torch.log(1 + torch.exp(l))).flatten(1).sum(1),
         "in float32 at logits of ±40 to ±160 the log-likelihood contains inf or NaN"),
        ("bernoulli_log_likelihood", lambda l, x: (x * torch.log(torch.sigmoid(l)) + (1 - x) * torch.log(
            1 - torch.sigmoid(l))).flatten(1).sum(1), "log(1 + exp(l)) overflows"),
        ("bernoulli_log_likelihood", lambda l, x: -F.binary_cross_entropy(torch.sigmoid(l), x, reduction="none")
         .flatten(1).sum(1), "clamping loses the tail"),
    ],
    "inputs mutated": [
        ("reparameterize", _z_in_place, "changed its input eps in place"),
        ("gaussian_kl", lambda mu, lv: 0.5 * (mu.pow_(2) + lv.exp() - 1 - lv).sum(-1), "changed its input mu in place"),
        ("bernoulli_log_likelihood", _bernoulli_clamps_logits, "changed its input logits in place"),
        ("elbo", _elbo_in_place, "changed its input eps in place"),
        ("elbo", _elbo_touches_weights, "changed its input model in place"),
    ],
}


@pytest.mark.parametrize("kind, name, fn, message", **class_cases(CLASSES))
def test_each_class_of_wrong_code_is_caught_and_named(kind, name, fn, message, capsys):
    assert_caught(name, fn, message, capsys)


def test_differences_are_printed_at_a_precision_that_shows_them(capsys):
    """Never "you return 0.0000, expected 0.0000": a KL off by 2e-5 prints two numbers that differ."""
    assert_precise("gaussian_kl", lambda mu, lv: _kl(mu, lv) + 2e-5, capsys)
