"""The fifth held-out probe's findings in the lead's files (issue 25): the checks must refuse only what means
nothing, never what a lecture gives in normal mode."""

import math

import numpy as np
import pytest

from vaecourse.viz import kl_estimator_figure


def test_kl_estimator_figure_takes_normal_mode_repeats():
    """Notebook 01 in normal mode draws 2,000 repeated estimates per sample count; a box summarises a distribution,
    so its values are not panels (the 1,024-panel bound refused the lecture's own figure)."""
    rng = np.random.default_rng(0)
    fig = kl_estimator_figure([1, 4, 16, 64, 256], [rng.normal(0.7, 1 / np.sqrt(s), 2000).astype("float32")
                                                     for s in (1, 4, 16, 64, 256)], 0.7)
    assert len(fig.axes) == 2


@pytest.mark.parametrize("counts, estimates, words", [
    (list(range(1, 2001)), [np.ones(3)] * 2000, "number of sample counts must be a number of panels between 1 and 1,024"),
    ([1], [np.ones(10 ** 6 + 1, dtype="float32")], "estimates must be 1 to 1,000,000 finite values"),
    ([1], [np.array([0.1, np.nan])], "estimates must be 1 to 1,000,000 finite values"),
], ids=["2,000 boxes", "a million and one values", "NaN"])
def test_kl_estimator_figure_still_refuses_what_means_nothing(counts, estimates, words):
    with pytest.raises(ValueError, match=words):
        kl_estimator_figure(counts, estimates, 0.5)


# ---- the probe's library findings ---------------------------------------------------------------------------------
import errno  # noqa: E402
import os  # noqa: E402

import torch  # noqa: E402

from vaecourse import checkpoints, files, prose  # noqa: E402
from vaecourse.cli.main import main  # noqa: E402
import vaecourse.cli.train  # noqa: E402,F401  (imported before a test patches files.atomic_write: it keeps its own name)
from vaecourse.models import VAE, CausalVAE, ConditionalVAE  # noqa: E402
from vaecourse.objectives import elbo  # noqa: E402
from vaecourse.train import fit  # noqa: E402
from vaecourse.viz import adjacency_figure, kl_per_dimension_figure, reconstruction_figure, traversal_images  # noqa: E402
from vaecourse.viz.beta import sweep_model_figure  # noqa: E402


def _vae():
    return VAE(latent_dim=2, image_shape=(1, 4, 4), encoder="mlp", decoder="mlp")


@pytest.fixture(params=[CausalVAE, ConditionalVAE], ids=["CausalVAE", "ConditionalVAE"])
def causal(request):
    return request.param(n_concepts=3, concept_dim=2, encoder="mlp", image_shape=(1, 8, 8)).eval()


@pytest.mark.parametrize("u", [torch.ones(2, 3, dtype=torch.bool), torch.ones(2, 3, dtype=torch.complex64),
                               torch.ones(2, 3, device="meta")], ids=["bool", "complex", "meta"])
def test_causal_models_refuse_labels_that_are_not_concept_values(causal, u):
    """Bool labels were taken as 0/1 concept values; meta labels were torch's '.item() on meta' RuntimeError."""
    with pytest.raises(ValueError, match=r"expected finite real labels u \(not bools\) on cpu, .* got a Tensor"):
        causal(torch.rand(2, 1, 8, 8), u)


def test_causal_models_take_float64_labels(causal):
    assert causal(torch.rand(2, 1, 8, 8), torch.rand(2, 3, dtype=torch.float64)) is not None


def test_interventions_take_numpy_ints_as_concept_indices():
    """np.int64(0) was refused as 'keyed by concept index 0..2, got np.int64(0)', a message that contradicts itself."""
    model = CausalVAE(n_concepts=3, concept_dim=2, encoder="mlp", image_shape=(1, 8, 8)).eval()
    x, u = torch.rand(2, 1, 8, 8), torch.rand(2, 3)
    assert torch.equal(model.intervene(x, u, {np.int64(1): 0.5}), model.intervene(x, u, {1: 0.5}))
    with pytest.raises(ValueError, match=r"keyed by concept index 0..2 \(ints\), got np.True_"):
        model.intervene(x, u, {np.bool_(True): 0.5})


def test_say_names_an_attribute_field_that_does_not_fit():
    """'{x.nope}' was Python's AttributeError from inside str.format."""
    with pytest.raises(ValueError, match=r"does not fit the values given \('int' object has no attribute 'nope'\)"):
        prose.say("a {x.real.nope}", show=False, x=1)


def test_fit_names_the_epochs_that_give_too_many_steps():
    """fit(epochs=10**15) was refused in the words of steps=, which the caller never passed."""
    with pytest.raises(ValueError, match=r"fit's epochs must give at most 1,000,000,000 steps \(2 per epoch\)"):
        fit(_vae(), elbo, torch.rand(8, 1, 4, 4), epochs=10 ** 15, batch_size=4)


def test_reconstruction_figure_refuses_reconstructions_of_other_images():
    """4 images beside 3 reconstructions were drawn as pairs, x[3] without its partner and n cut silently."""
    with pytest.raises(ValueError, match=r"one reconstruction per image of x, of shape \(4, 1, 4, 4\), got \(3, 1, 4, 4\)"):
        reconstruction_figure(torch.rand(4, 1, 4, 4), torch.rand(3, 1, 4, 4))


@pytest.mark.parametrize("draw", [
    lambda: kl_per_dimension_figure({"a": [0.5, 1.0]}, threshold=-1.0),
    lambda: sweep_model_figure(_vae().eval(), torch.rand(2, 1, 4, 4), "m", n_latents=2, threshold=-0.1),
    lambda: adjacency_figure(torch.zeros(2, 2), torch.zeros(2, 2), ["a", "b"], threshold=-0.3),
], ids=["kl_per_dimension_figure", "sweep_model_figure", "adjacency_figure"])
def test_figures_refuse_a_negative_threshold_on_a_kl_or_an_absolute_weight(draw):
    with pytest.raises(ValueError, match=r"threshold must be a finite number >= 0 .*, got -"):
        draw()


def test_a_count_bound_is_checked_before_any_pass_over_the_values(monkeypatch):
    """traversal_images of 10^9 values reached the allocator in the finiteness pass before the 1,024-panel bound."""
    huge = torch.zeros(1).expand(10 ** 9)  # 10^9 values in 4 bytes: a pass over them would allocate 1 GB
    real = torch.isfinite
    model = _vae().eval()
    weights = {w.data_ptr() for w in model.state_dict().values()}  # (the model's own weights are read: probe 10)
    monkeypatch.setattr(torch, "isfinite", lambda t: real(t) if t.numel() <= 10 ** 6 or t.data_ptr() in weights
                        else pytest.fail("a pass over 10^9 values"))
    with pytest.raises(ValueError, match=r"traversal_images' values must be 1 to 1,024 finite values"):
        traversal_images(model, torch.zeros(2), [0], huge)


# ---- the probe's command-line findings ----------------------------------------------------------------------------
def test_a_full_disk_under_show_names_the_file_and_the_cause(tmp_path, capsys, monkeypatch):
    """Under ulimit -f, show said only '[Errno 27] File too large': a write(2) names no file."""
    checkpoint = checkpoints.save(_vae(), tmp_path / "vae.pt")
    real = files.atomic_write

    def full(path, write):
        return real(path, lambda tmp: (_ for _ in ()).throw(OSError(errno.EFBIG, os.strerror(errno.EFBIG))))

    monkeypatch.setattr(files, "atomic_write", full)
    (tmp_path / "o.png").write_bytes(b"\x89PNG\r\n\x1a\nold")
    code = main(["show", str(checkpoint), "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"cannot write {tmp_path / 'o.png'}: File too large (a full disk or a file-size limit" in err
    assert (tmp_path / "o.png").read_bytes() == b"\x89PNG\r\n\x1a\nold"


def test_show_out_a_folder_suggests_a_png(tmp_path, capsys):
    checkpoint = checkpoints.save(_vae(), tmp_path / "vae.pt")
    (tmp_path / "d").mkdir()
    assert main(["show", str(checkpoint), "--out", str(tmp_path / "d")]) == 2
    assert f"e.g. {tmp_path / 'd' / 'traversal.png'}" in capsys.readouterr().err


# ---- the second part of the probe's findings: the SCM, the objectives, the metrics, checkpoints -----------------
from vaecourse import scm  # noqa: E402
from vaecourse.metrics import encode_grid, model_kl_per_dimension, spearman_matrix  # noqa: E402
from vaecourse.metrics.mic import mic  # noqa: E402
from vaecourse.models import LadderVAE  # noqa: E402
from vaecourse.objectives import CausalObjective, causal_vae_loss, conditional_vae_loss, ladder_elbo  # noqa: E402
from vaecourse.objectives.causal import dag_constraint  # noqa: E402

CYCLE = torch.tensor([[0.0, 1.0], [1.0, 0.0]])


@pytest.mark.parametrize("call, words", [
    (lambda: scm.linear_solve(CYCLE, torch.rand(5, 2)), r"linear_solve needs an A whose I - A\^T is invertible"),
    (lambda: scm.markov_equivalent(CYCLE, torch.zeros(2, 2)), r"markov_equivalent's A must be a DAG"),
    (lambda: scm.markov_equivalent(torch.zeros(2, 2), CYCLE), r"markov_equivalent's B must be a DAG"),
    (lambda: scm.linear_sample(torch.zeros(3, 3), torch.rand(5, 3), {7: 0.0}),
     r"linear_sample's interventions key must be a variable index between 0 and 2, got 7"),
], ids=["linear_solve of a cycle", "markov_equivalent of a cyclic A", "... of a cyclic B", "an intervention on no variable"])
def test_scm_helpers_refuse_graphs_and_keys_that_mean_nothing(call, words):
    """A singular I - A^T was torch's _LinAlgError; a cycle was 'not equivalent' (False), as if it had been compared."""
    with pytest.raises(ValueError, match=words):
        call()


def test_scm_helpers_still_answer_for_dags():
    assert scm.markov_equivalent(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    assert torch.allclose(scm.linear_solve(torch.tensor([[0.0, 0.5], [0.0, 0.0]]), torch.ones(1, 2)),
                          torch.tensor([[1.0, 1.5]]))


def _causal_batch(cls=CausalVAE):
    model = cls(n_concepts=3, concept_dim=2, encoder="mlp", image_shape=(1, 8, 8))
    x, u = torch.rand(2, 1, 8, 8), torch.rand(2, 3)
    return model(x, u), x


@pytest.mark.parametrize("loss, target", [
    (lambda: (lambda o, x: elbo(o, torch.full_like(x, 3.0)))(_vae()(torch.rand(2, 1, 4, 4)), torch.rand(2, 1, 4, 4)), None),
    (lambda: (lambda ox: causal_vae_loss(ox[0], -ox[1]))(_causal_batch()), None),
    (lambda: (lambda ox: conditional_vae_loss(ox[0], ox[1] + 2))(_causal_batch(ConditionalVAE)), None),
    (lambda: (lambda m, x: ladder_elbo(m(x), x * 255, epoch=0))(LadderVAE((2, 2), (8, 8), image_shape=(1, 8, 8)),
                                                                  torch.rand(2, 1, 8, 8)), None),
], ids=["elbo", "causal_vae_loss", "conditional_vae_loss", "ladder_elbo"])
def test_objectives_refuse_pixels_a_bernoulli_cannot_have(loss, target):
    """Targets of 3.0 or -1 beside a Bernoulli p(x|z) gave finite losses (42.09) that are no likelihood at all."""
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\] for the model's Bernoulli likelihood, got values from"):
        loss()


def test_a_gaussian_likelihood_takes_any_real_pixels():
    model = VAE(latent_dim=2, image_shape=(1, 4, 4), encoder="mlp", decoder="mlp", likelihood="gaussian")
    x = torch.rand(2, 1, 4, 4) * 10 - 5
    assert torch.isfinite(elbo(model(x.clamp(0, 1)), x).loss)


@pytest.mark.parametrize("weights", [torch.full((1, 8, 8), float("nan")), -torch.ones(1, 8, 8),
                                     torch.ones(1, 8, 8, device="meta")], ids=["NaN", "negative", "meta"])
def test_causal_vae_loss_refuses_pixel_weights_that_are_no_weights(weights):
    """NaN weights gave a NaN loss and -1 a loss of -32.66: only CausalObjective read the values."""
    output, x = _causal_batch()
    with pytest.raises(ValueError, match=r"pixel_weights must be a non-negative .* of finite values"):
        causal_vae_loss(output, x, pixel_weights=weights)
    with pytest.raises(ValueError, match=r"pixel_weights must be a non-negative .* of finite values"):
        CausalObjective(pixel_weights=weights)


def test_dag_constraint_refuses_weights_whose_h_overflows():
    """A finite A of 1e30 gave H = inf (now refused as no adjacency; weights of 1e6 still overflow a 6-node H)."""
    with pytest.raises(ValueError, match=r"adjacency matrix of finite numbers at most 1e\+06 in size"):
        dag_constraint(torch.full((3, 3), 1e30))
    with pytest.raises(ValueError, match=r"dag_constraint's A must have weights small enough .* up to 1e\+06"):
        dag_constraint(torch.full((6, 6), 1e6))
    assert dag_constraint(torch.zeros(3, 3)) == 0


def test_model_kl_per_dimension_refuses_a_ladder_vae():
    """It gave KLs to N(0, I) of all layers' units stacked, though the lower layers' prior is p(z_i | z_{i+1})."""
    with pytest.raises(ValueError, match=r"got a LadderVAE: its lower layers' prior is p\(z_i \| z_\{i\+1\}\)"):
        model_kl_per_dimension(LadderVAE((4, 2), (16, 8), image_shape=(1, 8, 8)), torch.rand(2, 1, 8, 8))


def test_encode_grid_refuses_an_empty_mapping():
    """{} was Python's ZeroDivisionError."""
    from vaecourse.data import FactorImages
    with pytest.raises(ValueError, match=r"representation_fn must be .* holding at least one, got an empty mapping"):
        encode_grid(FactorImages((3, 4)), {})


@pytest.mark.parametrize("which", ["codes", "factors"])
def test_spearman_matrix_names_the_table_holding_nan(which):
    rng = np.random.default_rng(0)
    tables = {"codes": rng.random((10, 2)), "factors": rng.random((10, 2))}
    tables[which][3, 1] = np.nan
    with pytest.raises(ValueError, match=rf"spearman_matrix's {which} must be finite real numbers, got NaN or inf in 1 of"):
        spearman_matrix(tables["codes"], tables["factors"])


def test_mic_refuses_more_points_than_its_tables_hold_before_allocating(monkeypatch):
    """10^8 points asked numpy for a (31548, 31548) float64 table (MemoryError)."""
    huge = torch.zeros(1).expand(10 ** 8)
    with pytest.raises(ValueError, match=r"x must be real numbers: 4 to 10,000 finite points"):
        mic(huge, huge)


def test_a_checkpoint_with_bytes_appended_is_refused_naming_the_file(tmp_path, capsys):
    """torch's zip reader reads past bytes after the archive's end record: an appended-to file was used silently."""
    path = checkpoints.save(_vae(), tmp_path / "vae.pt")
    with open(path, "ab") as handle:
        handle.write(b"garbage")
    before = path.read_bytes()
    with pytest.raises(ValueError, match=rf"{path} is damaged: 7 bytes follow the end of its archive"):
        checkpoints.read(path)
    for argv in (["show", str(path), "--out", str(tmp_path / "s.png")], ["evaluate", str(path), "--n", "4"]):
        assert main(argv) == 2
        assert "7 bytes follow the end of its archive" in capsys.readouterr().err
    assert path.read_bytes() == before


# ---- the third part: metrics' tables, prose, figures and the thinking checks --------------------------------------
from decimal import Decimal  # noqa: E402

from vaecourse import check  # noqa: E402
from vaecourse.metrics import KLRecorder, active_units, kl_active_units  # noqa: E402
from vaecourse.metrics.mig import mig_from_mutual_info  # noqa: E402
from vaecourse.metrics.likelihood import test_log_likelihood as _test_log_likelihood  # noqa: E402
from vaecourse.train import History  # noqa: E402
from vaecourse.viz import traversal_figure  # noqa: E402
from vaecourse.viz.causal import mic_matrix_figure  # noqa: E402

NAN = float("nan")


def _terms(units):
    """What KLRecorder reads of a step's terms (an objective of one's own may give any object with extras)."""
    from types import SimpleNamespace
    return SimpleNamespace(extras={"kl_units": units})


@pytest.mark.parametrize("second", [torch.ones(2, 4), [[1.0, 2.0, 3.0]] * 2, torch.full((2, 3), NAN)],
                         ids=["another width", "a list", "NaN"])
def test_kl_recorder_refuses_kl_units_that_are_not_one_table(second):
    """(2, 3) then (2, 4) was torch's RuntimeError, a list an AttributeError, NaN a NaN epoch row."""
    recorder = KLRecorder(2)
    recorder(0, None, _terms(torch.ones(2, 3)))
    with pytest.raises(ValueError, match=r"KLRecorder needs terms.extras\['kl_units'\] as finite KLs >= 0 \(B, U\), floating point, with the same U"):
        recorder(1, None, _terms(second))


def test_mig_refuses_more_information_than_the_factor_has():
    """I = 5 nats beside H = 1 gave MIG = 5.0; I(z; v) <= H(v)."""
    with pytest.raises(ValueError, match=r"mutual_info must be at most its factor's entropy .* got 5 nats for factor 0"):
        mig_from_mutual_info(np.array([[5.0], [0.0]]), np.array([1.0]))


def test_kl_active_units_refuses_a_negative_kl():
    with pytest.raises(ValueError, match=r"kl_active_units' kl must be KLs >= 0 \(nats\), got -0.5 at unit 0"):
        kl_active_units(np.array([-0.5, 0.0, 0.2]), [3])


def test_active_units_refuses_a_representation_without_layers():
    with pytest.raises(ValueError, match=r"representation_fn must return E_q\[u\] .* got 0 layers"):
        active_units(torch.rand(4, 1, 4, 4), lambda batch: [])


def test_one_image_has_no_standard_error_rather_than_nan():
    result = _test_log_likelihood(_vae().eval(), torch.rand(1, 1, 4, 4).round(), k=3)
    assert result["standard_error"] is None and math.isfinite(result["log_likelihood"])


def test_a_history_without_time_has_no_speed_rather_than_nan():
    assert History(examples=5).examples_per_second is None


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), np.array([1.0, NAN], dtype=object), {NAN: 1},
                                   "nan", " -inf"], ids=["Decimal NaN", "Decimal inf", "object array", "a dict key",
                                                         "text nan", "text -inf"])
def test_say_refuses_every_value_that_would_print_nan_or_inf(value):
    with pytest.raises(ValueError, match=r"say's x must be a finite number"):
        prose.say("a {x}", show=False, x=value)


@pytest.mark.parametrize("value, printed", [(Decimal("1.5"), "a 1.5"), ("banana", "a banana"), (np.int64(3), "a 3"),
                                            ({"info": 2}, "a {'info': 2}")], ids=["Decimal", "a word", "numpy int", "dict"])
def test_say_still_prints_finite_values_and_words(value, printed):
    assert prose.say("a {x}", show=False, x=value).text == printed


def test_claim_refuses_an_empty_statement():
    with pytest.raises(ValueError, match=r"claim's statement must say what is claimed"):
        prose.claim(" ", True, show=False)


def test_traversal_figure_refuses_to_highlight_a_latent_that_does_not_exist():
    with pytest.raises(ValueError, match=r"highlight names latent dimension 7, which does not exist: the model has 2"):
        traversal_figure(_vae().eval(), torch.zeros(2), highlight=(7, 0.0))


def test_mic_matrix_figure_refuses_values_that_are_not_mic():
    with pytest.raises(ValueError, match=r"matrices\['a'\] must hold MIC values in \[0, 1\], got values from 5 to 5"):
        mic_matrix_figure({"a": np.full((2, 1), 5.0)}, ["x"])


def test_kl_per_dimension_figure_refuses_negative_kls():
    with pytest.raises(ValueError, match=r"kls\['a'\] must be KLs >= 0 \(nats\), got -1 at dimension 0"):
        kl_per_dimension_figure({"a": [-1.0, 1.0]})


def _runs(beta):
    return {e: {"beta": list(beta), "kl": [5.0] * len(beta)} for e in (4.0, 8.0)}


@pytest.mark.parametrize("name, fn, args", [
    ("predict_multiplier", lambda: "lower", (_runs([NAN] * 20),)),
    ("predict_rotation", lambda: "neither", ({"ideal code": {"Higgins": NAN, "MIG": NAN},
                                              "rotated": {"Higgins": NAN, "MIG": NAN}},)),
    ("interpret_dropped_factor", lambda: "none", ({"factor_names": ("posX", "scale"), "latent": [0, 1],
                                                   "abs_rho": [NAN, NAN], "threshold": 0.9},)),
    ("interpret_dropped_factor", lambda: "none", ({"factor_names": ("posX", "posY", "scale"), "latent": [0],
                                                   "abs_rho": [0.95], "threshold": 0.9},)),
    ("predict_prior_mean", lambda: "average", (torch.full((64, 64), NAN), torch.rand(64, 64))),
    ("interpret_traversals", lambda: 0, (torch.full((3, 5, 1, 8, 8), NAN), torch.ones(3))),
    ("interpret_traversals", lambda: 3, (torch.rand(3, 5, 8, 8), torch.ones(3))),
    ("predict_collider", lambda: "conditioned", ({name: {"x1": torch.full((50,), NAN), "x3": torch.randn(50)}
                                                  for name in ("observational", "conditioned", "intervened")},)),
], ids=["multiplier of NaN runs", "rotation of NaN scores", "dropped factor of NaN rho", "dropped factor, short lists",
        "prior mean of a NaN image", "traversals of a NaN grid", "traversals of a 4-D grid", "collider of NaN panels"])
def test_thinking_checks_give_no_verdict_on_a_run_they_cannot_read(capsys, name, fn, args):
    """Each of these answers passed (✅) against a diverged or misshapen run; a run with no outcome gets one line."""
    assert getattr(check, name)(fn, *args) is False
    out = capsys.readouterr().out
    assert "the check could not read the run's results" in out and "✅" not in out
