"""Issue 25, the tenth held-out probe: the cases it found that the lead fixed (checkpoints, the data files and
readers, the models' checked values). Each case is the probe's reproducer, made a test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vaecourse import checkpoints
from vaecourse.models.ladder import LadderVAE
from vaecourse.models.vae import VAE

ROOT = Path(__file__).resolve().parents[1]


def tiny_vae() -> VAE:
    return VAE(latent_dim=2, encoder="mlp28", image_shape=(1, 4, 4))


def rewritten(tmp_path: Path, edit, name: str = "edited.pt", digests: bool = True) -> Path:
    """A checkpoint of a tiny VAE edited by ``edit(payload)``, its digests recomputed (a careful hand edit) or, for
    what no digest can read, left as they were."""
    checkpoints.save(tiny_vae(), tmp_path / "good.pt")
    payload = torch.load(tmp_path / "good.pt", weights_only=True)
    edit(payload)
    if digests:
        payload["state_digest"] = checkpoints.state_digest(payload["state_dict"])
        payload["content_digest"] = checkpoints.content_digest(payload)
    torch.save(payload, tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("value", [1e39, 1e300])
def test_float64_weights_beyond_float32_are_refused_not_loaded_as_inf(tmp_path, value):
    def edit(payload):
        weight = payload["state_dict"]["encoder.1.0.weight"].double()
        weight[0, 0] = value
        payload["state_dict"]["encoder.1.0.weight"] = weight
    path = rewritten(tmp_path, edit)
    with pytest.raises(ValueError, match=r"holds NaN or infinite weights \(encoder\.1\.0\.weight\)"):
        checkpoints.load(path)


def test_float64_weights_within_float32_still_load(tmp_path):
    def edit(payload):
        payload["state_dict"] = {k: v.double() for k, v in payload["state_dict"].items()}
    model = checkpoints.load(rewritten(tmp_path, edit))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def _sparse(payload):
    key = "encoder.1.0.weight"
    payload["state_dict"][key] = payload["state_dict"][key].to_sparse()


def _extra(value):
    def edit(payload):
        payload["extra"] = {"step": 1, "odd": value}
    return edit


@pytest.mark.parametrize("edit, words", [
    (_sparse, r"its state_dict holds a Tensor of layout torch\.sparse_coo"),
    (_extra(torch.zeros(3).to_sparse()), r"its extra holds a Tensor of layout torch\.sparse_coo"),
    (_extra(torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)])), r"its extra holds"),
], ids=["sparse weight", "sparse extra", "nested extra"])
def test_tensors_save_never_writes_are_refused_in_one_line(tmp_path, edit, words):
    """They had reached the digests (torch's "unsupported memory format option", "NestedTensorImpl doesn't support
    sizes"): refused before any digest reads them."""
    path = rewritten(tmp_path, edit, digests=False)
    with pytest.raises(ValueError, match=r"is damaged or hand-edited: " + words) as caught:
        checkpoints.read(path)
    assert "\n" not in str(caught.value) and "dense tensors and plain values" in str(caught.value)


def test_a_meta_tensor_in_extra_is_refused_before_any_digest(tmp_path):
    checkpoints.save(tiny_vae(), tmp_path / "good.pt")
    payload = torch.load(tmp_path / "good.pt", weights_only=True)
    payload["extra"] = {"odd": torch.zeros(2, device="meta")}  # (no digest can read it: the stored one stays)
    torch.save(payload, tmp_path / "meta.pt")
    with pytest.raises(ValueError, match=r"its extra holds a Tensor of layout torch\.strided on meta"):
        checkpoints.read(tmp_path / "meta.pt")


def test_float8_weights_are_no_weights_save_writes(tmp_path):
    def edit(payload):
        payload["state_dict"] = {k: v.to(torch.float8_e4m3fn) for k, v in payload["state_dict"].items()}
    with pytest.raises(ValueError, match=r"should be floating-point .* found torch\.float8_e4m3fn"):
        checkpoints.load(rewritten(tmp_path, edit))


SAVE_UNDER_A_SIZE_LIMIT = """
import resource, sys
from vaecourse import checkpoints
from vaecourse.models.vae import VAE
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
try:
    checkpoints.save(VAE(latent_dim=2, encoder='mlp28', image_shape=(1, 28, 28)), sys.argv[1])
except OSError as err:
    print(type(err).__name__, err.errno, err.filename, err.strerror)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE")
def test_save_past_a_file_size_limit_is_one_oserror_naming_the_file_and_keeps_the_old_one(tmp_path):
    """torch's zip writer had answered EFBIG/ENOSPC with "[enforce fail at inline_container.cc] unexpected pos"."""
    out = tmp_path / "run.pt"
    out.write_bytes(b"the earlier run")
    done = subprocess.run([sys.executable, "-c", SAVE_UNDER_A_SIZE_LIMIT, str(out)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert done.stderr == "" and done.stdout.split()[:3] == ["OSError", "27", str(out)], (done.stdout, done.stderr)
    assert out.read_bytes() == b"the earlier run" and sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]


@pytest.mark.parametrize("floor", [10 ** 20, 1e7, 0, -1e-4, float("nan"), True])
def test_ladder_var_floor_is_read_with_one_bound(floor):
    with pytest.raises(ValueError, match=r"^var_floor must be a variance floor > 0"):
        LadderVAE(latent_sizes=[3, 2], hidden_sizes=[8, 8], image_shape=(1, 4, 4), var_floor=floor)


@pytest.mark.parametrize("floor", [1e-4, 2, torch.tensor(0.1)])
def test_ladder_var_floor_is_kept_as_the_float_it_read(floor):
    model = LadderVAE(latent_sizes=[3, 2], hidden_sizes=[8, 8], image_shape=(1, 4, 4), var_floor=floor)
    assert type(model.q_heads[0].var_floor) is float and model(torch.rand(2, 1, 4, 4)).z[0].isfinite().all()


# ---- figures: labels that read alike once drawn (probe 10C F3) -------------------------------------------------
@pytest.mark.parametrize("pair", [["mic", " mic"], ["mic", "mic "], ["x", "x\t"], ["a", "a\n"], ["a", "a\u200b"],
                                  ["", " "], ["two words", "two  words"]],
                         ids=["lead space", "trail space", "tab", "newline", "zero width", "blank", "double space"])
def test_keys_drawn_alike_once_white_space_is_read_as_a_reader_sees_it_are_refused(pair):
    import matplotlib
    matplotlib.use("Agg")
    from vaecourse.viz import causal, metrics
    with pytest.raises(ValueError, match=r"^score_figure's keys must have names that are drawn differently"):
        causal.score_figure({"m": {pair[0]: 0.5, pair[1]: 0.7}}, keys=pair)
    with pytest.raises(ValueError, match=r"^score_bars' .*read differently as labels"):
        metrics.score_bars({pair[0]: [0.5], pair[1]: [0.7]})


def test_keys_that_differ_in_what_is_drawn_still_draw():
    import io
    import matplotlib
    matplotlib.use("Agg")
    from vaecourse.viz import metrics
    fig = metrics.score_bars({"mic": [0.5], "mac": [0.7], "m ic": [0.1]})
    fig.savefig(io.BytesIO(), format="png", dpi=20)


# ---- widgets and traversals of a model that cannot draw (probe 10A F9, F10) ---------------------------------------
def _vae(weights: str) -> VAE:
    import math
    model = VAE(latent_dim=2, encoder="mlp", image_shape=(1, 8, 8)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(math.nan) if weights == "nan" else p.mul_(1e18)
    return model


def _explorers():
    from vaecourse import widgets
    x = torch.rand(3, 1, 8, 8)
    return {"render_traversal": lambda m: widgets.render_traversal(m, torch.zeros(2), 0, 0.0),
            "traversal_explorer": lambda m: widgets.traversal_explorer(m, torch.zeros(2)),
            "beta_explorer": lambda m: widgets.beta_explorer({"n": m}, x),
            "sweep_traversal_explorer": lambda m: widgets.sweep_traversal_explorer({"n": m}, x)}


@pytest.mark.parametrize("who", list(_explorers()))
def test_a_model_with_nan_weights_is_refused_by_every_explorer_at_the_call(who):
    """It had drawn blank panels (chapter 1's traversal explorer) or put a traceback in the output area."""
    pytest.importorskip("ipywidgets")
    with pytest.raises(ValueError, match=rf"^{who}'s model(s\['n'\])?'s weight encoder\.1\.0\.weight holds NaN or inf"):
        _explorers()[who](_vae("nan"))


@pytest.mark.parametrize("who", ["beta_explorer", "sweep_traversal_explorer"])
def test_a_model_whose_weights_overflow_is_refused_by_the_sweep_explorers_at_the_call(who):
    pytest.importorskip("ipywidgets")
    with pytest.raises(ValueError, match=rf"^{who}'s models\['n'\] encodes x to NaN or inf codes"):
        _explorers()[who](_vae("overflow"))


def test_traversal_images_refuse_what_decodes_to_nan():
    from vaecourse.viz.images import traversal_images

    class Overflowing(VAE):  # finite weights whose decoder gives NaN (an overflow inside it)
        def decode(self, z):
            out = super().decode(z)
            out.mean.fill_(float("nan"))
            return out

    model = Overflowing(latent_dim=2, encoder="mlp", image_shape=(1, 8, 8)).eval()
    with pytest.raises(ValueError, match=r"^traversal_images' model decodes its codes to NaN or inf"):
        traversal_images(model, torch.zeros(2), [0], [0.0, 1.0])


# ---- metrics: a draw too large is named by the argument the caller passed (probe 10A F8) ------------------------
def test_pair_and_vote_metrics_name_batch_size_for_a_draw_too_large():
    from vaecourse import metrics
    from vaecourse.data.factors import FactorImages
    data, g = FactorImages([3, 4, 5]), torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"^higgins' batch_size must be at most 20,000 here: 50 points"):
        metrics.higgins(data, lambda x: x.flatten(1), generator=g, batch_size=30_000, n_train=50, n_eval=20)
    with pytest.raises(ValueError, match=r"^factorvae's batch_size must be at most 15,625 here: 64 points"):
        metrics.factorvae(data, lambda x: x.flatten(1), generator=g, batch_size=10 ** 6)


# ---- sizes, widths, training (probe 10B 12, 14, 18, 19) -----------------------------------------------------------
def test_the_ladder_memory_estimate_counts_every_layer_of_its_blocks():
    """2 x 65,536^2 weights (32 GiB) of the blocks' width x width layers were attempted (the allocator refused)."""
    with pytest.raises(ValueError, match=r"^LadderVAE's weights \(image_shape, hidden_sizes and mlp_layers\) must be "
                                         r"at most .* got 8,590,458,880 \(about 32\.0 GiB\)"):
        LadderVAE(latent_sizes=[2], hidden_sizes=[65536], image_shape=(1, 2, 2))
    model = LadderVAE(latent_sizes=[4, 2], hidden_sizes=[64, 32], image_shape=(1, 28, 28), mlp_layers=3)
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("template, given", [("{x:{w}}", {"w": ">100000000"}), ("{x:{w}.{w}}", {"w": "5000"}),
                                             ("{x:>{w}}", {"w": 10 ** 8}), ("{x:{a}{w}}", {"a": ">", "w": 2000})])
def test_say_caps_the_width_a_nested_field_asks_for(template, given):
    from vaecourse import prose
    with pytest.raises(ValueError, match=r"^say's template field .* expected at most 1,000"):
        prose.say(template, show=False, x=1.0, **given)


def test_say_still_formats_nested_fields_within_the_cap():
    from vaecourse import prose
    assert prose.say("{x:>{w}.{p}f}", show=False, x=2.0, w=8, p=2).text == "    2.00"


def test_fit_refuses_a_model_with_nan_weights_naming_the_weight():
    import math
    from vaecourse import train
    from vaecourse.objectives.elbo import elbo
    model = tiny_vae()
    with torch.no_grad():
        model.encoder[1][0].weight[0, 0] = math.nan
    with pytest.raises(ValueError, match=r"^fit's VAE's weight encoder\.1\.0\.weight holds NaN or inf"):
        train.fit(model, elbo, torch.rand(8, 1, 4, 4), steps=2, batch_size=4, progress=False)


def test_fit_trains_a_float16_model_with_its_own_adam():
    """Adam's eps 1e-8 is 0 in float16: the first update divided by zero and fit blamed the learning rate."""
    from vaecourse import train
    from vaecourse.objectives.elbo import elbo
    model = tiny_vae().half()
    train.fit(model, elbo, torch.rand(16, 1, 4, 4), steps=5, batch_size=4, progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_mic_refuses_more_points_than_its_grid_search_finishes():
    """10^6 points were accepted and would have run for hours (about n^1.8: 20,000 points took 22 s)."""
    import importlib
    import numpy as np
    mic = importlib.import_module("vaecourse.metrics.mic")
    with pytest.raises(ValueError, match=r"^x must be real numbers: 4 to 10,000 finite points"):
        mic.mic(np.random.rand(10_001), np.random.rand(10_001))
    x = np.linspace(0, 1, 200)
    assert mic.mic(x, x) > 0.99  # a function of x: MIC 1


def test_an_explorer_draws_its_first_figure_at_the_call_naming_itself():
    """A counterfactual_fn of another image size (a model trained at 64x64 on a 32x32 scene) built the explorer and
    put a traceback under render_intervention's name in its output area (probe 10A F10)."""
    pytest.importorskip("ipywidgets")
    from vaecourse import widgets
    from vaecourse.data import Pendulum
    data = Pendulum(size=8)
    scene = data.from_labels(torch.zeros(1, 4))
    wrong = lambda x, u, interventions: torch.rand(1, 3, 16, 16)  # noqa: E731
    with pytest.raises(ValueError, match=r"^intervention_explorer's counterfactual_fn must return finite images of the "
                                         r"scene's shape \(1, 3, 8, 8\)"):
        widgets.intervention_explorer(wrong, data, scene)
    right = lambda x, u, interventions: x.clone()  # noqa: E731
    box = widgets.intervention_explorer(right, data, scene)
    assert len(box.children) == 3


def test_an_explorer_shows_its_first_figure_once_and_new_ones_after():
    from vaecourse.widgets import _drawn_first
    drawn = []
    take = _drawn_first("x_explorer", "x_figure", lambda: drawn.append("first") or "first")
    assert take(lambda: "second") == "first" and take(lambda: "third") == "third" and drawn == ["first"]


# ---- the recipes' steps, each public (probe 10B 13) -----------------------------------------------------------------
def _digits_recipe():
    from vaecourse import recipes
    return recipes.Recipe(dataset="digits", encoder="mlp28", steps=2, batch_size=4, latent_dim=2)


@pytest.mark.parametrize("call, words", [
    (lambda r, R: R.make_data(None, torch.device("cpu")), r"^make_data's recipe must be a Recipe"),
    (lambda r, R: R.make_model(r, None), r"^make_model's data must be the recipe's data"),
    (lambda r, R: R.make_optimizer(r, torch.nn.Linear(2, 2)), r"^make_optimizer's model must be a course model"),
    (lambda r, R: R.check_step_fits(r, None), r"^check_step_fits's model must be a course model"),
    (lambda r, R: R.check_weights_fit(r, "x"), r"^check_weights_fit's data must be the recipe's data"),
    (lambda r, R: R.make_objective(r, None, R.make_data(r, "cpu")), r"^make_objective's model must be a course model"),
    (lambda r, R: R.finish(r, "vae", None), r"^finish's model must be a course model"),
    (lambda r, R: R.make_generator(3, "cpu"), r"^make_generator's recipe must be a Recipe"),
    (lambda r, R: R.train(R.build(r, device="cpu"), callbacks=3, progress=False), r"^train's callbacks .* got 3$"),
    (lambda r, R: R.train(R.build(r, device="cpu"), callbacks=[3], progress=False), r"^train's callbacks .* got \[3\]$"),
], ids=["make_data", "make_model", "make_optimizer", "check_step_fits", "check_weights_fit", "make_objective",
        "finish", "make_generator", "train callbacks", "train callbacks list"])
def test_the_recipes_steps_refuse_what_is_not_their_argument_in_one_line(call, words):
    from vaecourse import recipes
    with pytest.raises(ValueError, match=words):
        call(_digits_recipe(), recipes)


def test_the_recipes_steps_take_a_device_string_as_build_does():
    from vaecourse import recipes
    r = _digits_recipe()
    assert recipes.make_generator(r, "cpu").device.type == "cpu"
    assert recipes.make_data(r, "cpu").image_shape == (1, 28, 28)


def _train_under_a_size_limit(out: Path, limit: int) -> subprocess.CompletedProcess:
    """``train`` of two digit steps to ``out`` under RLIMIT_FSIZE ``limit`` bytes (ulimit -f)."""
    import resource
    return subprocess.run([sys.executable, "-m", "vaecourse", "train", "--dataset", "digits", "--encoder", "mlp28",
                           "--steps", "2", "--no-progress", "--out", str(out)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), VAECOURSE_FAST="1"), timeout=300,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY)))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE")
def test_train_under_a_file_size_limit_of_zero_names_the_lock_and_leaves_nothing(tmp_path):
    """The first write of a run is its lock's process number (os.write names no file): 'cannot write the output'."""
    out = tmp_path / "run.pt"
    done = _train_under_a_size_limit(out, 0)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: cannot write {out}.lock: File too large") and done.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


# ---- numbers no float holds, 0-d tensors, bools in lists, optimisers and empty data (probe 10B 23-27) ----------
def test_a_count_beyond_any_float_is_refused_in_one_line():
    from vaecourse import prose, values
    with pytest.raises(ValueError, match=r"got 1\.00e400 \(about 2\^1302 GiB\)$"):
        values.fits_in_memory("n", 10 ** 400, 8)
    with pytest.raises(ValueError, match=r"^say's x must be a value its field \{x:\.3f\} can format"):
        prose.say("{x:.3f}", show=False, x=10 ** 400)
    assert prose.say("{x}", show=False, x=10 ** 40).text == str(10 ** 40)


@pytest.mark.parametrize("steps", [torch.tensor(3), __import__("numpy").array(3)], ids=["0-d tensor", "0-d array"])
def test_history_refuses_a_0d_tensor_as_its_steps(steps):
    from vaecourse import train
    with pytest.raises(ValueError, match=r"^History's steps must be a list of increasing step numbers"):
        train.History(steps=steps)
    assert train.History(steps=torch.tensor([0, 1]), records={"loss": [1.0, 0.5]}).steps == [0, 1]


@pytest.mark.parametrize("chunk", [torch.tensor([0.5]), True, 2.5, 0])
def test_check_chunk_fits_reads_its_count_before_its_words(chunk):
    import importlib
    elbo_module = importlib.import_module("vaecourse.objectives.elbo")
    with pytest.raises(ValueError, match=r"^chunk_size must be a positive integer"):
        elbo_module.check_chunk_fits("chunk_size", chunk, torch.zeros(2, 1, 4, 4))


@pytest.mark.parametrize("value", [[True, 0.5], [0.5, True], [__import__("numpy").True_, 0.5]])
def test_the_pendulum_do_refuses_bools_mixed_into_numbers(value):
    from vaecourse.data import Pendulum
    data = Pendulum(size=8)
    with pytest.raises(ValueError, match=r"^do\(theta = \.\.\.\) needs a real number .* holding bools$"):
        data.do(2, theta=value)
    with pytest.raises(ValueError, match=r"holding bools$"):
        data.counterfactual(data.from_labels(torch.zeros(2, 4)), theta=value)


@pytest.mark.parametrize("make, words", [
    (lambda m: torch.optim.SGD(m.parameters(), lr=0.0), r"param_groups\[0\]\['lr'\] must be a learning rate > 0"),
    (lambda m: torch.optim.SGD(m.parameters(), lr=1e-46), r"param_groups\[0\]\['lr'\] must be a learning rate"),
    (lambda m: torch.optim.Adam(m.parameters(), lr=1e300), r"param_groups\[0\]\['lr'\] must be a learning rate"),
    (lambda m: torch.optim.LBFGS(m.parameters()), r"got LBFGS, whose step needs a closure"),
], ids=["lr 0", "lr 0 in float32", "lr 1e300", "LBFGS"])
def test_fit_reads_a_given_optimizer_as_it_reads_lr(make, words):
    from vaecourse import train
    from vaecourse.objectives.elbo import elbo
    model = tiny_vae()
    with pytest.raises(ValueError, match=r"^fit's optimizer" + ("'s " if "param" in words else " must ") + ".*" + words):
        train.fit(model, elbo, torch.rand(8, 1, 4, 4), steps=2, batch_size=4, optimizer=make(model), progress=False)


@pytest.mark.parametrize("data", [[], "loader", "drop_last"], ids=["empty list", "empty loader", "drop_last"])
def test_fit_for_epochs_refuses_data_of_no_batch(data):
    from torch.utils.data import DataLoader, TensorDataset
    from vaecourse import train
    from vaecourse.objectives.elbo import elbo
    if data == "loader":
        data = DataLoader(TensorDataset(torch.rand(0, 1, 4, 4)), batch_size=4)
    elif data == "drop_last":
        data = DataLoader(torch.rand(3, 1, 4, 4), batch_size=4, drop_last=True)
    with pytest.raises(ValueError, match=r"^fit's data must give at least one batch per epoch"):
        train.fit(tiny_vae(), elbo, data, epochs=1, progress=False)


# ---- the site build: a timed-out or failed cell, a signal inside nbclient (probe 10C F5, F7) -------------------
def _site_execute_raising(monkeypatch, error, signalled=False):
    import importlib
    import nbclient
    from vaecourse.authoring.course import find_notebooks
    site = importlib.import_module("vaecourse.authoring.site")
    seen = {}

    def execute(self, **kwargs):
        seen.update(kwargs)
        if signalled:  # what nbclient's own SIGINT/SIGTERM handler leaves before its clean-up fails
            self._async_cleanup_kernel_future = object()
        raise error

    monkeypatch.setattr(nbclient.NotebookClient, "execute", execute)
    notebook = find_notebooks(ROOT, ("notebooks",))[0]
    return site, notebook, seen


def test_a_cell_past_the_timeout_is_one_line_naming_the_timeout(monkeypatch):
    from nbclient.exceptions import CellTimeoutError
    site, notebook, seen = _site_execute_raising(monkeypatch, CellTimeoutError("a\nmany\nlines\nof preview"))
    with pytest.raises(site.SiteBuildError) as caught:
        site.execute(notebook, fast=True, timeout=7)
    assert str(caught.value) == (f"{notebook.relpath}: a cell ran past the timeout of 7 s while building the site; "
                                 "give a larger --timeout")
    assert seen["stderr"] == subprocess.DEVNULL  # the kernel's own log (a transport warning, its shutdown) is not ours


def test_a_failing_cell_is_one_line_with_its_error(monkeypatch):
    from nbclient.exceptions import CellExecutionError
    site, notebook, _ = _site_execute_raising(monkeypatch, CellExecutionError("Traceback\n...", "ValueError", "bad\nx"))
    with pytest.raises(site.SiteBuildError, match=r"a cell failed while building the site: ValueError: bad x$"):
        site.execute(notebook)


def test_a_signal_inside_nbclient_is_the_interrupt_not_its_clean_up_error(monkeypatch):
    import signal
    site, notebook, _ = _site_execute_raising(monkeypatch, AssertionError(), signalled=True)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(KeyboardInterrupt):
        site.execute(notebook)
    assert {s: signal.getsignal(s) for s in before} == before
    site, notebook, _ = _site_execute_raising(monkeypatch, AssertionError("a real one"))
    with pytest.raises(AssertionError, match="a real one"):
        site.execute(notebook)


@pytest.mark.parametrize("name", ["digits", "mnist"])
def test_make_dataset_refuses_a_shape_the_digits_do_not_have(name):
    """An image_shape (3, 32, 32) for the digits was dropped without a word (probe 10B 16)."""
    from vaecourse.data.catalog import make_dataset
    with pytest.raises(ValueError, match=rf"^make_dataset's image_shape must be None or \(1, 28, 28\) for '{name}'"):
        make_dataset(name, torch.device("cpu"), image_shape=(3, 32, 32))


def test_a_digits_recipe_still_builds_at_the_digits_own_shape():
    from vaecourse import recipes
    assert recipes.make_data(_digits_recipe(), "cpu").image_shape == (1, 28, 28)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE")
def test_a_save_past_a_file_size_limit_says_nothing_was_written_once(tmp_path):
    out = tmp_path / "run.pt"
    done = _train_under_a_size_limit(out, 20_000)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr == f"error: could not save step 2 to {out} (File too large). Nothing was written to {out}.\n"


def test_a_file_swapped_for_a_fifo_after_its_check_is_refused_not_waited_on(tmp_path, monkeypatch):
    """checkpoints.read checked the name, then opened it three more times: a symbolic link flipped to a FIFO between
    the two hung it (probe 10B 22). It reads through one descriptor now, opened without waiting."""
    from vaecourse import files
    fifo = tmp_path / "ck.pt"
    os.mkfifo(fifo)
    monkeypatch.setattr(files, "readable_file", lambda path, what="file", missing="": Path(path))  # the check passed
    with pytest.raises(ValueError, match=r"^the checkpoint .*ck\.pt is a FIFO now \(it changed while it was being read"):
        files.read_once(fifo, "checkpoint")


def test_read_reads_a_checkpoint_through_one_descriptor(tmp_path, monkeypatch):
    import builtins
    path = checkpoints.save(tiny_vae(), tmp_path / "a.pt")
    opened = []
    real = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: opened.append(f) or real(f, *a, **k))
    assert checkpoints.read(path).model_class == "VAE"
    assert str(path) not in [str(f) for f in opened if isinstance(f, (str, os.PathLike))]


def test_a_value_whose_repr_fails_is_refused_in_our_one_line():
    """Every kind's refusal showed the value with repr(): the caller's own RuntimeError escaped it (probe 10B)."""
    from vaecourse import values

    class Unshowable:
        def __repr__(self):
            raise RuntimeError("no repr")

    for kind in (values.units, values.positive_int, values.finite, values.text, values.path, values.learning_rate):
        with pytest.raises(ValueError, match=r"got an object of type Unshowable \(whose repr fails\)$"):
            kind.check("n", Unshowable())
