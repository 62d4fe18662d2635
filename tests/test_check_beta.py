"""Chapter 2 exercise checks: references pass, stubs say "not done yet", each typical mistake is named."""

import pytest
import torch

from vaecourse.metrics import active_latents
from vaecourse.objectives import capacity_at, dual_ascent_step

from checking import assert_caught, assert_precise, class_cases, verdict  # noqa: E402  (tests/checking.py)

REFERENCES = {
    "beta_vae_loss": lambda log_px_z, kl, beta: -(log_px_z - beta * kl).mean(),
    "dual_ascent": dual_ascent_step,
    "capacity_schedule": lambda step, c_max, c_steps: capacity_at(step, c_max, c_steps),
    "active_latents": active_latents,
}




@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name, capsys):
    ok, out = verdict(name, REFERENCES[name], capsys)
    assert ok is True and out.startswith("✅"), out


def test_alternative_correct_forms_pass(capsys):
    assert verdict("beta_vae_loss", lambda l, k, b: (b * k - l).sum() / l.shape[0], capsys)[0]
    assert verdict("dual_ascent", lambda b, k, e, lr: torch.clamp(torch.tensor(b + lr * (k - e)), min=0.0), capsys)[0]
    assert verdict("capacity_schedule", lambda s, c, n: c * s / n if s < n else c, capsys)[0]
    assert verdict("active_latents", lambda kl, t: [d for d in kl.mean(0).argsort(descending=True)
                                                    if kl.mean(0)[d] > t] and torch.stack(
        [d for d in kl.mean(0).argsort(descending=True) if kl.mean(0)[d] > t]) if (kl.mean(0) > t).any()
        else torch.zeros(0, dtype=torch.long), capsys)[0]


@pytest.mark.parametrize("name, exercise", [("beta_vae_loss", "2.1"), ("dual_ascent", "2.2"),
                                            ("capacity_schedule", "2.3"), ("active_latents", "2.4")])
def test_stub_is_not_done_yet(name, exercise, capsys):
    def stub(*args):
        raise NotImplementedError(f"Exercise {exercise}: do the thing")

    ok, out = verdict(name, stub, capsys)
    assert ok is False and out.startswith(f"Exercise {exercise} is not done yet: do the thing.")


MISTAKES = [
    ("beta_vae_loss", lambda l, k, b: (l - b * k).mean(), "the sign is flipped"),
    ("beta_vae_loss", lambda l, k, b: -(l - b * k), "one value per example"),
    ("beta_vae_loss", lambda l, k, b: -(l - b * k).sum(), "you summed over the batch"),
    ("beta_vae_loss", lambda l, k, b: -(l - k).mean(), "ignores beta"),
    ("beta_vae_loss", lambda l, k, b: -(b * l - k).mean(), "beta multiplies the reconstruction"),
    ("beta_vae_loss", lambda l, k, b: -b * (l - k).mean(), "beta multiplies the whole ELBO"),
    ("beta_vae_loss", lambda l, k, b: -(l - k / b).mean(), "divided the KL by beta"),
    ("beta_vae_loss", lambda l, k, b: -(l + b * k).mean(), "the KL is added"),
    ("beta_vae_loss", lambda l, k, b: float(-(l - b * k).mean()), "should be a torch.Tensor"),
    ("dual_ascent", lambda b, k, e, lr: max(0.0, b - lr * (k - e)), "the step goes the wrong way"),
    ("dual_ascent", lambda b, k, e, lr: b + lr * (k - e), "negative"),
    ("dual_ascent", lambda b, k, e, lr: max(0.0, b + (k - e)), "ignores the step size"),
    ("dual_ascent", lambda b, k, e, lr: max(0.0, lr * (k - e)), "start from the old one"),
    ("dual_ascent", lambda b, k, e, lr: [b], "as a number"),
    ("dual_ascent", lambda b, k, e, lr: max(0.0, b + lr * (k - e)) * 1.01 + 1e-3, "expected"),
    ("capacity_schedule", lambda s, c, n: c * s / n, "kept growing past c_max"),
    ("capacity_schedule", lambda s, c, n: c * min(s // n, 1), "integer division"),
    ("capacity_schedule", lambda s, c, n: min(s / n, 1.0), "the fraction of the schedule done"),
    ("capacity_schedule", lambda s, c, n: c * (1 - min(s / n, 1.0)), "runs backwards"),
    ("capacity_schedule", lambda s, c, n: "25", "as a number"),
    ("active_latents", lambda kl, t: kl.mean(0) > t, "boolean mask"),
    ("active_latents", lambda kl, t: kl.mean(0), "a KL per dimension"),
    ("active_latents", lambda kl, t: torch.nonzero(kl.mean(0) > t).flatten(), "in index order"),
    ("active_latents", lambda kl, t: (lambda m: m.argsort()[m[m.argsort()] > t])(kl.mean(0)), "increasing order"),
    ("active_latents", lambda kl, t: (lambda m, o: o[(kl > t).any(0)[o]])(kl.mean(0), kl.mean(0).argsort(descending=True)),
     "for one image only"),
    ("active_latents", lambda kl, t: (lambda s, o: o[s[o] > t])(kl.sum(0), kl.sum(0).argsort(descending=True)),
     "summed the KL over the batch"),
    ("active_latents", lambda kl, t: kl.mean(0).argsort(descending=True), "you returned all 7 dimensions"),
    ("active_latents", lambda kl, t: kl.mean(0).argsort(descending=True)[:2], "for each of the thresholds"),
]


@pytest.mark.parametrize("name, fn, message", MISTAKES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(MISTAKES)])
def test_mistake_is_named(name, fn, message, capsys):
    ok, out = verdict(name, fn, capsys)
    assert ok is False and out.startswith("❌"), out
    assert message in out, out
    assert "library's version" in out


# ---- issue 24: plausible wrong code of each class, each with its own message ------------------------------------
def _loss_no_grad(l, k, b):
    with torch.no_grad():
        return -(l - b * k).mean()


def _by_mean(m, t):
    order = m.argsort(descending=True)
    return order[m[order] > t]


CLASSES = {
    "gradients cut": [
        ("beta_vae_loss", lambda l, k, b: -(l - b * k.detach()).mean(), "its KL term carries no gradient"),
        ("beta_vae_loss", lambda l, k, b: torch.tensor((-(l - b * k).mean()).item(), dtype=l.dtype),
         "carries no gradient"),
        ("beta_vae_loss", _loss_no_grad, "carries no gradient"),
    ],
    "right only for the tested shape": [
        ("beta_vae_loss", lambda l, k, b: -(l - b * k).sum() / 6, "right for B=6 but not for B="),
        ("active_latents", lambda kl, t: _by_mean(kl[:8].mean(0), t), "the first 8 images alone give"),
        ("active_latents", lambda kl, t: _by_mean(kl[:, :7].mean(0), t), "the first 7 latent dimensions only"),
    ],
    "semantics missed": [
        ("active_latents", lambda kl, t: _by_mean(kl.median(0).values, t), "you took the median over the batch"),
        ("dual_ascent", lambda b, k, e, lr: abs(b + lr * (k - e)), "absolute value of a negative step"),
    ],
    "inputs mutated": [
        ("beta_vae_loss", lambda l, k, b: -(l - k.mul_(b)).mean(), "changed its input kl in place"),
        ("active_latents", lambda kl, t: _by_mean(kl.div_(kl.shape[0]).sum(0), t), "changed its input kl in place"),
    ],
}


@pytest.mark.parametrize("kind, name, fn, message", **class_cases(CLASSES))
def test_each_class_of_wrong_code_is_caught_and_named(kind, name, fn, message, capsys):
    assert_caught(name, fn, message, capsys)


@pytest.mark.parametrize("name, fn", [
    ("beta_vae_loss", lambda l, k, b: -(l - b * k).mean() + 1e-3),
    ("dual_ascent", lambda b, k, e, lr: max(0.0, b + lr * (k - e)) + 2e-5),
    ("capacity_schedule", lambda s, c, n: c * min(s / n, 1.0) + 2e-5),
])
def test_differences_are_printed_at_a_precision_that_shows_them(name, fn, capsys):
    assert_precise(name, fn, capsys)


def test_cases_drawn_fresh_catch_a_function_tuned_to_the_printed_ones(capsys):
    """A function right on the fixed cases only (a lookup table of the check's source) fails on the fresh ones."""
    table = {(1.0, 30.0, 20.0, 0.1): 2.0, (3.0, 15.0, 20.0, 0.1): 2.5, (0.2, 0.0, 20.0, 0.1): 0.0,
             (2.0, 25.0, 25.0, 0.5): 2.0, (0.7, 12.5, 10.0, 0.02): 0.75}
    ok, out = verdict("dual_ascent", lambda b, k, e, lr: table.get((b, k, e, lr), 1.0), capsys)
    assert not ok and "expected" in out, out
    schedule = {(0, 25.0, 100_000): 0.0, (25_000, 25.0, 100_000): 6.25, (50_000, 25.0, 100_000): 12.5,
                (100_000, 25.0, 100_000): 25.0, (250_000, 25.0, 100_000): 25.0, (7, 10.0, 20): 3.5}
    ok, out = verdict("capacity_schedule", lambda s, c, n: schedule.get((s, c, n), 1.0), capsys)
    assert not ok and "expected" in out, out
