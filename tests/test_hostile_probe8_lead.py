"""Issue 25, the eighth probe (the library outside the checks): a graph given as a boolean mask, the structural
Hamming distance and the topological order of large graphs, ink_left's rows and a white observation, concept
tables and ranges beyond values.MAX_WEIGHT, KLs beyond distributions.MAX_KL in every reader of KLs (metrics and
figures), metrics that ran a model in training mode, subnormal variances in the precision-weighted merge, and the
number mean and log-variance of log_normal; valid input at each bound still accepted."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vaecourse import distributions as D
from vaecourse import metrics
from vaecourse.metrics import causal as CA
from vaecourse.models import LadderVAE
from vaecourse.scm import check_adjacency, is_dag, topological_order
from vaecourse.viz import beta

CHAIN = torch.tensor([[0., 1., 0.], [0., 0., 1.], [0., 0., 0.]])  # 0 -> 1 -> 2


# ---- a boolean graph is a graph --------------------------------------------------------------------------
@pytest.mark.parametrize("mask", [CHAIN.bool(), CHAIN.numpy().astype(bool), CHAIN.bool().tolist()],
                         ids=["tensor", "array", "list"])
def test_a_boolean_graph_reads_as_its_edges(mask):
    assert torch.equal(check_adjacency(mask), CHAIN)
    assert is_dag(mask) and topological_order(mask) == [0, 1, 2]
    assert CA.structural_hamming_distance(CHAIN * 0.8, mask) == 0
    assert CA.structural_hamming_distance(CHAIN.T, mask) == 2  # both edges reversed
    assert CA.structural_hamming_distance(torch.zeros(3, 3), mask) == 2  # both missing


def test_a_boolean_cycle_is_still_no_dag():
    cycle = torch.tensor([[False, True], [True, False]])
    assert not is_dag(cycle)
    with pytest.raises(ValueError, match=r"^structural_hamming_distance's true graph must be a DAG"):
        CA.structural_hamming_distance(torch.zeros(2, 2), cycle)


def _shd_by_pairs(learned, true, threshold=0.3):
    """The definition, pair by pair: what the vectorised count must equal."""
    learned, true = learned.abs() > threshold, true != 0
    k = true.shape[0]
    return sum(int((learned[i, j], learned[j, i]) != (true[i, j], true[j, i])) for i in range(k) for j in range(i + 1, k))


@pytest.mark.parametrize("k", [1, 2, 4, 7, 12])
def test_structural_hamming_distance_counts_each_pair_once(k):
    g = torch.Generator().manual_seed(k)
    for _ in range(20):
        order = torch.randperm(k, generator=g)
        true = torch.triu((torch.rand(k, k, generator=g) < 0.5).double(), 1)[order][:, order]  # a DAG
        learned = torch.randn(k, k, generator=g, dtype=torch.float64)
        assert CA.structural_hamming_distance(learned, true) == _shd_by_pairs(learned, true)


def test_large_graphs_are_counted_not_looped_over():
    """2,000 nodes: the pair loop ran past 30 s (and Kahn's k^2 tensor reads 22 s); a chain reversed differs in
    every one of its 1,999 edges."""
    k = 2000
    chain = torch.diag(torch.ones(k - 1), 1)
    assert topological_order(chain) == list(range(k))
    assert CA.structural_hamming_distance(chain.T, chain) == k - 1
    assert CA.structural_hamming_distance(np.zeros((k, k)), np.zeros((k, k))) == 0


# ---- ink_left ------------------------------------------------------------------------------------------
OBSERVED = torch.ones(2, 1, 4, 4)
OBSERVED[:, :, 3, :2] = 0.0
TRUTH = torch.ones(2, 1, 4, 4)
ROWS = torch.tensor([False, False, True, True])


@pytest.mark.parametrize("rows", [{}, {2: True}, set(), object(), 3, 2.5, [[True], [True, False]], ["a", "b", "c", "d"]],
                         ids=["dict", "dict2", "set", "object", "int", "float", "ragged", "strings"])
def test_ink_left_refuses_rows_that_are_no_mask(rows):
    with pytest.raises(ValueError, match=r"^rows must be a boolean mask of the 4 image rows with at least one True, got"):
        CA.ink_left(OBSERVED, TRUTH, TRUTH, rows)


@pytest.mark.parametrize("white", [1 - 1e-7, 1 - 1e-5, 1 - 5e-4])
def test_ink_left_refuses_observed_rows_that_are_white(white):
    observed = torch.full((2, 1, 4, 4), white)
    with pytest.raises(ValueError, match=r"^ink_left: the observed images have no darkness in rows \(mean darkness"):
        CA.ink_left(observed, torch.zeros_like(observed), TRUTH, ROWS)


def test_ink_left_still_reads_a_faint_shadow_and_a_list_mask():
    observed = torch.full((2, 1, 4, 4), 1 - 2e-3)  # darkness 0.002 in every row: above MIN_DARKNESS
    assert CA.ink_left(observed, observed, TRUTH, ROWS) == pytest.approx(1.0)
    assert CA.ink_left(OBSERVED, OBSERVED, TRUTH, [False, False, True, True]) == 1.0


# ---- concept values beyond MAX_WEIGHT --------------------------------------------------------------------
@pytest.mark.parametrize("bounds", [[-1e7, 1e7], [0.0, 1e39], [-1e300, 0.0], np.array([0.0, 2e6])],
                         ids=["1e7", "1e39", "1e300", "array 2e6"])
def test_free_concepts_refuses_ranges_beyond_the_weight_bound(bounds):
    with pytest.raises(ValueError, match=r"^free_concepts' ranges\[2\] must be a range .* at most 1e\+06 in size"):
        CA.free_concepts(torch.rand(3, 4), {2: bounds})


def test_free_concepts_refuses_concept_tables_beyond_the_bound_and_keeps_the_bound():
    with pytest.raises(ValueError, match=r"^concepts must be finite concept values of shape \(n, K\), at most 1e\+06"):
        CA.free_concepts(torch.full((2, 4), 3e6), {})
    drawn = CA.free_concepts(torch.zeros(50, 4, dtype=torch.float64), {0: [-1e6, 1e6]},
                             generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(drawn).all() and drawn[:, 0].abs().max() <= 1e6 and drawn[:, 0].std() > 1e4


# ---- KLs beyond MAX_KL, in every reader of KLs -----------------------------------------------------------
@pytest.mark.parametrize("big", [1e31, 1e200, 1.7e308])
def test_readers_of_kls_refuse_kls_no_run_makes(big):
    ok = 0.5
    cases = [
        (lambda: metrics.active_latents(torch.tensor([[ok, big], [ok, big]], dtype=torch.float64)),
         r"^active_latents' kl must be KLs of at most 1e\+30 nats .*got .* at dimension 1 of example 0$"),
        (lambda: metrics.active_latents(np.array([ok, ok, big])), r"^active_latents' kl .* at dimension 2$"),
        (lambda: metrics.kl_active_units(np.array([ok, big, ok]), [2, 1]),
         r"^kl_active_units' kl must be KLs of at most 1e\+30 nats .* at unit 1$"),
        (lambda: beta.kl_per_dimension_figure({"a": [ok, big]}),
         r"^kl_per_dimension_figure's kls\['a'\] must (be|hold) .*at most 1e\+30"),
        (lambda: beta.rate_distortion_figure([{"label": "a", "kl": big, "log_px_z": -10.0}]),
         r"^rate_distortion_figure's points' kl must (be|hold) .*at most 1e\+30"),
        (lambda: beta.multiplier_figure({"a": {"steps": [1, 2], "records": {
            "beta": [1.0, 1.0], "kl": [ok, big], "log_px_z": [-1.0, -1.0]}}}),
         r"^multiplier_figure's runs\['a'\]'s records\['kl'\] must (be|hold) .*at most 1e\+30"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError, match=words):
            call()


def test_kls_at_the_bound_still_rank_and_nan_names_its_place():
    assert metrics.active_latents(torch.tensor([1e29, 1e30, 0.0])).tolist() == [1, 0]  # the larger first
    assert metrics.kl_active_units(np.array([1e30, 0.0]), [2])["active"] == 1
    with pytest.raises(ValueError, match=r"^active_latents' kl must be finite KLs, got nan at dimension 1: the run"):
        metrics.active_latents([0.5, math.nan])
    with pytest.raises(ValueError, match=r"^kl_active_units' kl must be KLs >= 0 \(nats\), got -0.25 at unit 2$"):
        metrics.kl_active_units(np.array([0.5, 0.5, -0.25]), [3])


# ---- measurements run the model in eval mode and give its mode back --------------------------------------
def _ladder() -> LadderVAE:
    torch.manual_seed(0)
    return LadderVAE(latent_sizes=[3, 2], hidden_sizes=[8, 8], image_shape=(1, 4, 4))


def _running_stats(model):
    return [b.clone() for name, b in model.named_buffers() if "running" in name]


@pytest.mark.parametrize("training", [True, False])
def test_kl_per_unit_leaves_batch_norm_and_the_mode_alone(training):
    model = _ladder().train(training)
    before = _running_stats(model)
    x = torch.rand(40, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    kl = metrics.kl_per_unit(model, x, batch_size=8, generator=torch.Generator().manual_seed(2))
    assert model.training == training
    assert all(torch.equal(a, b) for a, b in zip(before, _running_stats(model)))
    with model.evaluating():  # the same numbers as a measurement in eval mode by hand
        again = metrics.kl_per_unit(model, x, batch_size=8, generator=torch.Generator().manual_seed(2))
    assert np.array_equal(kl, again)


def test_evaluating_gives_the_mode_back_after_an_error():
    model = _ladder().train()
    with pytest.raises(RuntimeError, match="inside"):
        with model.evaluating():
            assert not model.training
            raise RuntimeError("inside")
    assert model.training


# ---- distributions: subnormal variances, number means and log-variances ----------------------------------
@pytest.mark.parametrize("dtype,tiny_var", [(torch.float64, 1e-310), (torch.float32, 1e-40), (torch.float32, 1e-39)])
def test_precision_weighted_merge_refuses_subnormal_variances(dtype, tiny_var):
    one = torch.ones(2, 3, dtype=dtype)
    for args in ((one, torch.full_like(one, tiny_var), one, one), (one, one, one, torch.full_like(one, tiny_var))):
        with pytest.raises(ValueError, match=r"^precision_weighted_merge's var_hat and var_p must be variances > 0 "
                                             r"\(at least"):
            D.precision_weighted_merge(*args)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_precision_weighted_merge_keeps_the_smallest_normal_variance(dtype):
    one = torch.ones(2, dtype=dtype)
    tiny = torch.full_like(one, torch.finfo(dtype).tiny)
    mu, var = D.precision_weighted_merge(one * 0.5, tiny, one, one)
    assert torch.isfinite(mu).all() and torch.allclose(mu, one * 0.5) and bool((var > 0).all())


@pytest.mark.parametrize("mu,logvar,words", [
    (0.0, -31.0, r"^log_normal's logvar must be a log-variance between -30 and 30"),
    (0.0, 104.0, r"^log_normal's logvar must be a log-variance"),
    (0.0, -1e30, r"^log_normal's logvar must be a log-variance"),
    (2e6, 0.0, r"^log_normal's mu must be a finite mean \(at most 1e\+06 in size"),
    (-3e38, 0.0, r"^log_normal's mu must be a finite mean"),
])
def test_log_normal_bounds_its_number_parameters(mu, logvar, words):
    with pytest.raises(ValueError, match=words):
        D.log_normal(torch.zeros(2, 3), mu, logvar)


def test_log_normal_at_its_number_bounds_is_finite_and_exact():
    z = torch.zeros(2, 3, dtype=torch.float64)
    for mu, logvar in ((1e6, 0.0), (0.0, -30.0), (0.0, 30.0)):
        want = -0.5 * 3 * (math.log(2 * math.pi) + logvar + mu ** 2 / math.exp(logvar))
        assert torch.allclose(D.log_normal(z, mu, logvar), torch.full((2,), want, dtype=torch.float64))


# ---- the rest of the library: huge ints, long names, widths, steps, seeds, threads, scenes, builds -----------
def test_an_int_beyond_float64_is_no_number_for_any_real_kind():
    from vaecourse import values
    from vaecourse.recipes import Recipe
    for kind, name in ((values.finite, "x"), (values.non_negative, "beta"), (values.learning_rate, "lr"),
                       (values.positive, "bandwidth")):
        for big in (10 ** 400, -10 ** 309):
            with pytest.raises(ValueError, match=rf"^{name} must be .*, got -?1000"):
                kind.check(name, big)
    with pytest.raises(ValueError, match=r"lr"):
        Recipe(lr=10 ** 500)
    assert values.finite.check("x", 2 ** 70) == float(2 ** 70)  # a large int that float64 holds is a number


@pytest.mark.parametrize("reader", ["check_regular", "read", "read_idx", "save", "sha256_of"])
def test_a_name_longer_than_the_file_system_holds_is_one_line(tmp_path, reader):
    from vaecourse import checkpoints, files
    from vaecourse.data.mnist import read_idx
    from vaecourse.models import VAE
    long = tmp_path / ("b" * 300)
    call = {"check_regular": lambda: files.check_regular(long), "read": lambda: checkpoints.read(long),
            "read_idx": lambda: read_idx(long), "sha256_of": lambda: files.sha256_of(long),
            "save": lambda: checkpoints.save(VAE(2, "mlp", (1, 4, 4)), long)}[reader]
    with pytest.raises(ValueError, match=r"File name too long \(errno ENAMETOOLONG\): expected the path of a regular"):
        call()


def test_atomic_write_names_the_target_where_no_file_can_be_made():
    from vaecourse.files import atomic_write
    with pytest.raises(OSError, match=r"cannot create a file in /proc; nothing was written\): '/proc/vaecourse-probe'$"):
        atomic_write("/proc/vaecourse-probe", lambda tmp: open(tmp, "w").write("x"))


@pytest.mark.parametrize("template,fields", [("{x:>100000}", {}), ("{x:.2000f}", {}), ("{x:>{w}}", {"w": 10 ** 9}),
                                             ("{x:0>{w}.{p}f}", {"w": 5, "p": 5000})])
def test_say_refuses_widths_no_sentence_needs(template, fields):
    from vaecourse.prose import say
    with pytest.raises(ValueError, match=r"^say's template field \{x:.*\} asks for .* characters .* at most 1,000"):
        say(template, x=1.5, show=False, **fields)


def test_say_keeps_ordinary_and_nested_widths():
    from vaecourse.prose import say
    assert say("{x:>{w}.{p}f} nats", x=2.25, w=7, p=2, show=False).text == "   2.25 nats"
    assert say("{x:>1000}", x=1, show=False).text == " " * 999 + "1"


def test_fit_refuses_a_last_step_beyond_the_bound_before_training():
    from vaecourse import values
    from vaecourse.models import VAE
    from vaecourse.objectives import elbo
    from vaecourse.train import fit
    model = VAE(2, "mlp", (1, 4, 4))
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"^fit's start_step \+ steps must be at most 1,000,000,000 .*got "
                                         r"999,999,999 \+ 2$"):
        fit(model, elbo, torch.rand(4, 1, 4, 4), steps=2, start_step=values.MAX_STEPS - 1, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # nothing trained


@pytest.mark.parametrize("images", [1, [0.5], "x", None, np.zeros((2, 1, 4, 4))])
def test_fit_names_a_dict_batch_whose_images_are_no_tensor(images):
    from vaecourse.models import VAE
    from vaecourse.objectives import elbo
    from vaecourse.train import fit
    with pytest.raises(ValueError, match=r"^fit expected the batch's 'x' to be a tensor of images, got"):
        fit(VAE(2, "mlp", (1, 4, 4)), elbo, ({"x": images} for _ in range(3)), steps=2, progress=False)


@pytest.mark.parametrize("seconds", [5e-324, 1e-12, 9.9e-10])
def test_history_refuses_a_time_too_short_to_measure(seconds):
    from vaecourse.train import History
    with pytest.raises(ValueError, match=r"^History's seconds must be a time in seconds: 0, or at least 1e-09"):
        History(steps=[1], records={"a": [1.0]}, seconds=seconds, examples=10 ** 6)
    assert History(steps=[1], records={"a": [1.0]}, seconds=1e-9, examples=10 ** 6).examples_per_second == 1e15


@pytest.mark.parametrize("seed", [2 ** 32, 2 ** 40 + 7, 2 ** 63 - 1])
def test_seed_everything_takes_every_seed_its_kind_allows(seed):
    from vaecourse.runtime import seed_everything
    first = seed_everything(seed)
    a = (torch.rand(2, generator=first), np.random.rand(), torch.rand(1))
    second = seed_everything(seed)
    assert torch.equal(a[0], torch.rand(2, generator=second)) and a[1] == np.random.rand() and torch.equal(a[2], torch.rand(1))


@pytest.mark.parametrize("text", ["9" * 30, "4097", "²", "٣", "1e3", "-2"])
def test_vaecourse_threads_is_a_plain_count_a_machine_can_have(text):
    from vaecourse.threads import fixed_threads
    with pytest.raises(ValueError, match=r"expected 'auto' or a whole number from 1 to 4,096$"):
        fixed_threads({"VAECOURSE_THREADS": text})
    assert fixed_threads({"VAECOURSE_THREADS": "4096"}) == 4096


def test_pendulum_counterfactual_reads_its_scenes_as_the_other_readers_do():
    from vaecourse.data import Pendulum
    data = Pendulum(size=8)
    scene = torch.tensor([[0.1, 1.4, 5.0, 2.0]])
    for bad, words in ((scene > 0, r"got dtype torch\.bool"), (scene.to("meta"), r"on the meta device"),
                       (scene * math.nan, r"holding NaN")):
        with pytest.raises(ValueError, match=r"^counterfactual's concepts \(observed scenes\) (must be|is a meta tensor) .*" + words):
            data.counterfactual(bad)
    for big in (2e6, 1e30):
        with pytest.raises(ValueError, match=r"^concepts must be finite real numbers .* at most 1e\+06 in size"):
            Pendulum.labels(scene * big)
        with pytest.raises(ValueError, match=r"^labels u must be finite real numbers .* at most 1e\+06 in size"):
            Pendulum.from_labels(torch.full((1, 4), big))
    images, concepts = data.counterfactual(scene.tolist(), theta=0.0)  # a list of one scene still reads
    assert images.shape == (1, 3, 8, 8) and float(concepts[0, 0]) == 0.0


@pytest.mark.parametrize("phi", [0.0, math.pi, 2 * math.pi, 1e-9, -3.0])
def test_the_scene_geometry_needs_a_light_above_the_ground(phi):
    from vaecourse.data.pendulum_scene import ground_projection, shadow, sun_position
    for call in (lambda: shadow(torch.zeros(2), torch.full((2,), phi)), lambda: sun_position([phi]),
                 lambda: ground_projection(0.0, 0.0, phi)):
        with pytest.raises(ValueError, match=r"'s phi must be the light's angles above the ground, sin\(phi\) >= 1e-06"):
            call()


def test_the_scene_geometry_bounds_coordinates_and_keeps_the_scene():
    from vaecourse.data.pendulum_scene import ground_projection, shadow
    with pytest.raises(ValueError, match=r"^ground_projection's x must be finite real numbers at most 1e\+06"):
        ground_projection(torch.full((2,), 1e30), 0.0, 1.0)
    with pytest.raises(ValueError, match=r"^ground_projection's height must be a height"):
        ground_projection(0.0, 0.0, 1.0, height=1e30)
    length, _ = shadow(torch.zeros(1), torch.tensor([math.pi / 2]))  # the sun overhead: the rod's own shadow
    assert torch.isfinite(length).all()


@pytest.mark.parametrize("marker", ["#BEGIN SOLUTION", "#  begin solution", "## BEGIN_SOLUTION", "# Begin-Solution",
                                    "#END SOLUTION", "# end solution"])
def test_a_mistyped_solution_marker_is_refused_not_shipped(marker):
    from vaecourse.authoring.exercises import ExerciseBuildError, stub_solutions
    begin, end = ("# BEGIN SOLUTION", marker) if "end" in marker.lower() else (marker, "# END SOLUTION")
    text = f"# %%\n# Exercise 9.9: secret\ndef secret():\n    {begin}\n    return 42\n    {end}\n"
    with pytest.raises(ExerciseBuildError, match=r"looks like a solution marker but is not written '# (BEGIN|END) "
                                                  r"SOLUTION'"):
        stub_solutions(text)


def test_the_builds_refuse_a_root_that_is_no_folder_and_a_target_that_is_one(tmp_path):
    from vaecourse.authoring import exercises
    for bad in (tmp_path / "missing", None, 3):
        for build in (exercises.build_exercises, exercises.build_notebooks, exercises.check_built):
            with pytest.raises(ValueError, match=r"^root "):
                build(bad)
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "01_x.py").write_text("# %%\nx = 1\n")
    (tmp_path / "exercises" / "01_x.ipynb").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"01_x\.ipynb is a folder: expected a regular file: move it away"):
        exercises.build_exercises(tmp_path)
    for call in (lambda: exercises.stub_solutions(None), lambda: exercises.exercise_text(b"x"),
                 lambda: exercises.ipynb_text(None)):
        with pytest.raises(TypeError, match=r"expected the text of a"):
            call()


@pytest.mark.parametrize("manifest", ["{not json", '{"ch2_beta4": {"recipe": "ch2-beta4"}}', '{"a": 3}', "[1, 2]",
                                      '{"a": {"sha256": "xyz", "recipe": "r"}}'])
def test_a_damaged_manifest_says_reinstall(tmp_path, monkeypatch, manifest):
    from vaecourse import pretrained
    (tmp_path / "MANIFEST.json").write_text(manifest)
    monkeypatch.setattr(pretrained, "MANIFEST", tmp_path / "MANIFEST.json")
    for call in (pretrained.names, lambda: pretrained.available("ch2_beta4"), lambda: pretrained.load("ch2_beta4")):
        with pytest.raises(ValueError, match=r"^the shipped manifest .* is damaged.*; reinstall vaecourse$"):
            call()


@pytest.mark.parametrize("url", ["http://", "https://", "https:///data.npz", "http://:8080/x", "https://a b/x"])
def test_fetch_refuses_a_url_without_a_host_before_any_network(url):
    import io
    from vaecourse.data.download import fetch
    with pytest.raises(ValueError, match=r"^fetch's url must be an https:// or http:// URL naming a host"):
        fetch(url, io.BytesIO())


# ---- the eighth probe's unsure item, decided: one bound on the number of layers (values.MAX_LAYERS) ---------------
def test_a_hierarchy_has_at_most_the_layers_its_depth_figure_draws():
    from vaecourse import values
    from vaecourse.models.ladder import LadderVAE
    from vaecourse.viz import depth_figure
    with pytest.raises(ValueError, match=r"^latent_sizes must be layer sizes between 1 and 65,536, .*1 to 64 layers, "
                                         r"got .*"):
        LadderVAE(image_shape=(1, 4, 4), latent_sizes=[1] * (values.MAX_LAYERS + 1), hidden_sizes=[2] * 65)
    assert values.layer_sizes.check("latent_sizes", [1] * values.MAX_LAYERS) == tuple([1] * values.MAX_LAYERS)
    with pytest.raises(ValueError, match=r"depth must be a number of layers between 1 and 64, got 65"):
        depth_figure({"ladder": {65: (-90.0, 0.1)}}, k=10)
    depth_figure({"ladder": {64: (-90.0, 0.1)}}, k=10)
