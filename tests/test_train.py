"""fit(): the loop's promises (steps, epochs, keywords, callbacks, clipping, NaN stop, resume), on a tiny VAE."""

import functools
import math

import pytest
import torch

from vaecourse.models import VAE
from vaecourse.objectives import Terms, elbo, schedule
from vaecourse.train import Every, History, StopTraining, fit

SHAPE = (1, 8, 8)


def _model(seed=0):
    torch.manual_seed(seed)
    return VAE(latent_dim=2, encoder="mlp28", image_shape=SHAPE)


def _data(n=32, seed=1):
    return (torch.rand((n, *SHAPE), generator=torch.Generator().manual_seed(seed)) > 0.5).float()


def _fit(model, data, **kw):
    kw.setdefault("steps", None if "epochs" in kw else 4)
    kw.setdefault("batch_size", 8)
    return fit(model, kw.pop("objective", elbo), data, progress=kw.pop("progress", False), device="cpu", **kw)


def _fixed_loss(model, x):
    with torch.no_grad():
        return elbo(model(x, generator=torch.Generator().manual_seed(0)), x).loss.item()


def _grad_norm(model):
    return math.sqrt(sum(p.grad.pow(2).sum().item() for p in model.parameters() if p.grad is not None))


def test_one_optimiser_step_lowers_the_loss_on_a_fixed_batch():
    model, x = _model(), _data(16)
    before = _fixed_loss(model, x)
    history = _fit(model, x, steps=1, batch_size=16, lr=1e-3)
    after = _fixed_loss(model, x)
    assert after < before - 0.1, (before, after)
    assert len(history) == 1 and history["loss"][0] == pytest.approx(before, abs=5.0)  # another eps, same batch


def test_fit_is_deterministic_for_a_seed():
    runs = [_fit(_model(), _data(), steps=6, seed=3) for _ in range(2)]
    assert runs[0].steps == runs[1].steps == list(range(6))
    assert runs[0].records == runs[1].records
    models = [_model(), _model()]
    for m in models:
        _fit(m, _data(), steps=3, seed=7)
    for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()):
        assert torch.equal(a, b)
    # another seed gives another run
    assert _fit(_model(), _data(), steps=6, seed=4).records != runs[0].records


def test_progress_bar_does_not_change_the_run():
    quiet = _fit(_model(), _data(), steps=3, seed=0)
    loud = _fit(_model(), _data(), steps=3, seed=0, progress=True)
    assert quiet.records == loud.records


def test_history_has_one_entry_per_step_with_every_term():
    history = _fit(_model(), _data(), steps=5)
    assert len(history) == 5 and history.steps == [0, 1, 2, 3, 4]
    assert {"loss", "elbo", "log_px_z", "kl"} <= set(history.keys())
    for key in ("loss", "elbo", "log_px_z", "kl"):
        assert history[key].shape == (5,) and all(math.isfinite(v) for v in history[key])
    # the logged terms keep their identities: loss = -elbo, elbo = log_px_z - kl (batch means)
    assert history["loss"] == pytest.approx(-history["elbo"], rel=1e-6)
    assert history["elbo"] == pytest.approx(history["log_px_z"] - history["kl"], rel=1e-5, abs=1e-4)
    assert history.examples == 5 * 8 and history.seconds > 0 and history.examples_per_second > 0
    assert history.last(2)["loss"] == pytest.approx(history["loss"][-2:].mean())
    again = History.from_dict(history.to_dict())
    assert again.records == history.records and again.steps == history.steps and again.examples == 40
    with pytest.raises(KeyError, match="no term 'beta' in this history; it has"):
        history["beta"]


def _recording(seen, base=elbo):
    """An objective that records which examples (identified by their constant pixel value) each step saw."""
    def objective(output, x):
        seen.append(sorted(round(v * 40) for v in x[:, 0, 0, 0].tolist()))
        return base(output, x)
    return objective


def test_epochs_over_a_tensor_take_n_over_batch_size_steps_and_see_every_example_once():
    n, batch_size = 40, 8
    data = (torch.arange(n, dtype=torch.float32) / n).view(n, 1, 1, 1).expand(n, *SHAPE).contiguous()
    seen = []
    history = _fit(_model(), data, epochs=2, batch_size=batch_size, objective=_recording(seen))
    assert len(history) == 2 * (n // batch_size) == 10
    assert all(len(batch) == batch_size for batch in seen)
    for epoch in range(2):
        ids = sorted(i for batch in seen[5 * epoch:5 * (epoch + 1)] for i in batch)
        assert ids == list(range(n))
    assert seen[:5] != seen[5:]  # reshuffled each epoch
    assert len(_fit(_model(), data, epochs=0.5, batch_size=batch_size)) == 3  # ceil(0.5 * 5)
    # a remainder that does not fill a batch is dropped: 43 examples are still 5 steps of 8 per epoch
    assert len(_fit(_model(), torch.cat([data, data[:3]]), epochs=1, batch_size=batch_size)) == 5


def test_objective_receives_step_and_epoch_when_it_declares_them():
    """fit reads an objective's declared schedule (``@schedule``, through partials), never its signature: an objective
    that declares nothing is called objective(output, x), even when it could take a step."""
    calls = []

    @schedule("step")
    def with_step(output, x, step):
        calls.append(("step", step))
        return elbo(output, x)

    @schedule("step", "epoch")
    def with_both(output, x, *, step, epoch):
        calls.append(("both", step, epoch))
        return elbo(output, x)

    def undeclared(output, x, step=-1, **hyper):
        calls.append(("undeclared", step, hyper))
        return elbo(output, x)

    @schedule("step")
    def scaled(output, x, scale, step):
        calls.append(("partial", scale, step))
        return elbo(output, x)

    class Stateful:
        schedule = ("epoch",)

        def __call__(self, output, x, epoch):
            calls.append(("class", epoch))
            return elbo(output, x)

    data = _data(32)  # 4 steps of 8 per epoch
    _fit(_model(), data, steps=2, objective=with_step)
    _fit(_model(), data, steps=6, objective=with_both)
    _fit(_model(), data, steps=1, objective=undeclared)
    _fit(_model(), data, steps=1, objective=functools.partial(scaled, scale=2.0))
    _fit(_model(), data, steps=2, objective=Stateful())
    assert calls[:2] == [("step", 0), ("step", 1)]
    assert calls[2:8] == [("both", s, s / 4) for s in range(6)]
    assert calls[8] == ("undeclared", -1, {})
    assert calls[9] == ("partial", 2.0, 0)
    assert calls[10:] == [("class", 0.0), ("class", 0.25)]
    with pytest.raises(ValueError, match="'step' and/or 'epoch'"):
        schedule("epochs")


def test_callbacks_receive_step_model_and_terms_every_step_and_every_n():
    model, calls, sparse = _model(), [], []

    def callback(step, m, terms):
        calls.append((step, m is model, isinstance(terms, Terms), terms.loss.item()))

    history = _fit(model, _data(), steps=7, callbacks=[callback, Every(3, lambda s, m, t: sparse.append(s))])
    assert [c[0] for c in calls] == list(range(7)) and all(c[1] and c[2] for c in calls)
    assert [c[3] for c in calls] == pytest.approx(list(history["loss"]))
    assert sparse == [0, 3, 6]
    with pytest.raises(ValueError, match="Every's n \\(run the callback every n steps\\) must be a positive integer .*got 0"):
        Every(0, callback)


@pytest.mark.parametrize("log_every", [1, 5])
def test_a_callback_can_stop_training_after_its_step_with_every_term_logged(log_every):
    """StopTraining (Ctrl-C in the command line) ends fit after the step whose callback raised it: the model has
    taken exactly those steps, and the history holds each of them, even the ones not yet read from the device."""
    def stop_after_two(step, model, terms):
        if step == 2:
            raise StopTraining

    stopped, whole = _model(), _model()
    history = _fit(stopped, _data(), steps=6, log_every=log_every, callbacks=[stop_after_two])
    reference = _fit(whole, _data(), steps=3)
    assert history.steps == [0, 1, 2] and history.records == reference.records
    for a, b in zip(stopped.parameters(), whole.parameters()):
        assert torch.equal(a, b)


def _nan_at(step_to_fail, term):
    @schedule("step")
    def objective(output, x, step):
        t = elbo(output, x)
        if step != step_to_fail:
            return t
        if term == "loss":
            return Terms(t.log_px_z, t.kl, t.elbo, loss=t.loss * float("nan"))
        return Terms(t.log_px_z, torch.full_like(t.kl, float("inf")), t.elbo, loss=t.loss)
    return objective


@pytest.mark.parametrize("log_every", [None, 5])
def test_a_nan_loss_stops_training_naming_the_step_and_term(log_every):
    with pytest.raises(FloatingPointError, match=r"training stopped at step 3: the term 'loss' is nan"):
        _fit(_model(), _data(), steps=10, objective=_nan_at(3, "loss"), log_every=log_every)


def test_an_infinite_term_stops_training_naming_it():
    with pytest.raises(FloatingPointError, match=r"at step 2: the term 'kl' is inf"):
        _fit(_model(), _data(), steps=10, objective=_nan_at(2, "kl"))


@pytest.mark.parametrize("kw", [{}, {"steps": 3, "epochs": 1}])
def test_exactly_one_of_steps_or_epochs(kw):
    with pytest.raises(ValueError, match="exactly one of steps=... or epochs=..."):
        fit(_model(), elbo, _data(), progress=False, device="cpu", **kw)


def test_bad_settings_raise_value_error():
    with pytest.raises(ValueError, match=r"unknown device 'tpu': expected 'auto', 'cpu'"):
        fit(_model(), elbo, _data(), steps=1, progress=False, device="tpu")
    with pytest.raises(ValueError, match=r"batch_size must be a batch size between 1 and 65,536, got 0"):
        _fit(_model(), _data(), batch_size=0)
    with pytest.raises(ValueError, match=r"steps must be a number of steps between 0 and 1,000,000,000, got -1"):
        _fit(_model(), _data(), steps=-1)
    with pytest.raises(ValueError, match=r"epochs=... needs data whose length is known"):
        _fit(_model(), iter([_data(8)]), epochs=1)
    with pytest.raises(ValueError, match=r"could not find images in a batch of type str"):
        _fit(_model(), ["not images"], steps=1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_it_is_a_clear_error():
    with pytest.raises(ValueError, match=r"device 'cuda' was asked for but CUDA is not available"):
        fit(_model(), elbo, _data(), steps=1, progress=False, device="cuda")


def test_iterables_of_image_label_tuples_and_dicts_are_accepted():
    x = _data(24)
    labels = torch.arange(24)
    pairs = [(x[i:i + 8], labels[i:i + 8]) for i in range(0, 24, 8)]
    seen = []
    history = _fit(_model(), pairs, epochs=2, objective=_recording(seen))
    assert len(history) == 6  # len(list) batches per epoch
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, labels), batch_size=8)
    assert len(_fit(_model(), loader, epochs=1)) == 3
    dicts = [{"labels": labels[:8], "x": x[:8]}]
    assert len(_fit(_model(), dicts, steps=2)) == 2
    # a one-shot iterator that runs out ends training early
    assert len(_fit(_model(), iter(pairs), steps=10)) == 3


def test_transform_is_applied_to_each_batch():
    grey = torch.full((16, *SHAPE), 0.7)
    seen = []

    def objective(output, x):
        seen.append(x.unique().tolist())
        return elbo(output, x)

    _fit(_model(), grey, steps=2, objective=objective, transform=lambda x: (x > 0.5).float())
    assert seen == [[1.0], [1.0]]


def test_gradient_clipping_bounds_the_gradient_norm():
    norms = {}
    for clip in (None, 0.5):
        record = norms.setdefault(clip, [])
        _fit(_model(), _data(), steps=4, clip_grad_norm=clip, callbacks=[lambda s, m, t, r=record: r.append(_grad_norm(m))])
    assert min(norms[None]) > 0.5  # the test means something: unclipped gradients are larger
    assert max(norms[0.5]) <= 0.5 * (1 + 1e-5)
    assert max(norms[0.5]) == pytest.approx(0.5, rel=1e-4)


def test_a_given_optimizer_is_used():
    model = _model()
    given = torch.optim.Adam(model.parameters(), lr=1e-3)  # (lr 0, which had shown it, is refused: probe 10)
    _fit(model, _data(), steps=2, optimizer=given)
    assert all(given.state[p]["step"] == 2 for p in model.parameters())  # the given one took both steps


def test_start_step_and_history_continue_a_run():
    model, steps_seen, callback_steps = _model(), [], []

    @schedule("step")
    def objective(output, x, step):
        steps_seen.append(step)
        return elbo(output, x)

    first = _fit(model, _data(), steps=3, objective=objective)
    second = _fit(model, _data(), steps=2, objective=objective, start_step=3, history=first,
                  callbacks=[lambda s, m, t: callback_steps.append(s)])
    assert second is first
    assert second.steps == [0, 1, 2, 3, 4] and len(second["loss"]) == 5
    assert steps_seen == [0, 1, 2, 3, 4] and callback_steps == [3, 4]
    assert second.examples == 5 * 8
    assert _fit(model, _data(), steps=0).steps == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=0.0), "fit's lr must be a learning rate > 0"),
    (dict(lr=1e-46), "float32 can hold"),
    (dict(lr=float("nan")), "fit's lr must be"),
    (dict(clip_grad_norm=-1.0), "fit's clip_grad_norm must be a finite number > 0"),
    (dict(batch_size=True), "fit's batch_size must be a batch size"),
    (dict(batch_size=8.0), "fit's batch_size must be a batch size"),
    (dict(steps=2.5), "fit's steps must be a number of steps between 0"),
    (dict(steps=-1), "fit's steps must be a number of steps between 0"),
    (dict(steps=10 ** 12), "fit's steps must be a number of steps between 0 and 1,000,000,000"),
    (dict(start_step=-3), "fit's start_step must be a number of steps between 0"),
    (dict(clip_grad_norm=1e-46), "fit's clip_grad_norm must be a finite number > 0 \\(at least about 1.2e-38"),
])
def test_fit_refuses_what_the_command_line_refuses(kwargs, message):
    """fit shares the values' checks with Recipe and the command line: clip_grad_norm=-1 would turn descent into
    ascent, lr=1e-46 is 0 in float32 and would train nothing, a bool is not a batch size."""
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=message):
        fit(model, elbo, _data(), **({"steps": 2} | kwargs), progress=False, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
