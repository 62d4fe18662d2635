"""Chapter 5 figures render headless; the intervention explorer's render function is pure."""

import math

import numpy as np
import pytest
import torch

from vaecourse import scm
from vaecourse.data.pendulum import TRUE_GRAPH, Pendulum, official_images, render_scene
from vaecourse.models import CausalVAE
from vaecourse.viz import (adjacency_figure, intervention_grid_figure, mic_matrix_figure, ownership_figure,
                           pendulum_reference_figure, render_intervention, score_figure, scm_scatter_figure)
from vaecourse.viz.figure import CourseFigure


def test_static_figures_render():
    g = torch.Generator().manual_seed(0)
    chain = scm.chain()
    fig = scm_scatter_figure({"observational": chain.sample(200, g), "do(x2 = 1)": chain.sample(200, g, {"x2": 1.0})},
                             "x1", "x3")
    assert isinstance(fig, CourseFigure) and len(fig.axes) == 2 and fig._repr_png_()[:4] == b"\x89PNG"
    names = Pendulum.concept_names
    assert len(adjacency_figure(torch.randn(4, 4), TRUE_GRAPH, names).axes) == 3  # two heatmaps + colour bar
    assert score_figure({"a": {"mic": 0.5, "tic": 0.3}, "b": {"mic": 0.9, "tic": 0.6}})._repr_png_()
    assert len(mic_matrix_figure({"m": np.random.rand(4, 4)}, names).axes) == 1
    grid = intervention_grid_figure(torch.rand(4, 3, 3, 16, 16), torch.rand(4, 3, 3, 16, 16), names,
                                    values=[[-1, 0, 1]] * 4)
    assert len(grid.axes) == 4 * 7
    owned = torch.rand(4, 16, 16)
    fig = ownership_figure(owned, names, image=torch.rand(3, 16, 16))
    assert len(fig.axes) == 1 + 4 + 1 and fig._repr_png_()[:4] == b"\x89PNG"  # image, one panel per concept, bar
    assert fig.axes[2].get_title() == f"{names[1]}: {float(owned[1].sum()):.0f} px"
    assert len(ownership_figure(owned, names).axes) == 4 + 1


def test_pendulum_reference_figure_shows_the_official_images_above_the_simulator():
    official, concepts = official_images()
    simulated, small = render_scene(concepts, 96), Pendulum(size=32).render_concepts(concepts)
    fig = pendulum_reference_figure(official, simulated, small, titles=["a", "b", "c", "d"])
    assert len(fig.axes) == 12 and fig.axes[0].get_title() == "a"
    assert np.allclose(fig.axes[0].images[0].get_array(), official[0].permute(1, 2, 0).numpy())
    assert np.allclose(fig.axes[5].images[0].get_array(), simulated[1].permute(1, 2, 0).numpy())
    assert fig.axes[8].images[0].get_array().shape == (32, 32, 3)
    assert len(pendulum_reference_figure(official, simulated).axes) == 8
    with pytest.raises(ValueError, match="same number of images"):
        pendulum_reference_figure(official, simulated[:2])


def test_render_intervention_is_pure_and_shows_the_simulator_truth():
    data = Pendulum(size=32)
    model = CausalVAE(concept_dim=2, encoder="conv32", image_shape=(3, 32, 32)).eval()

    def counterfactual(x, u, interventions):
        return model.intervene(x, u, interventions)

    concepts = data.concepts(torch.tensor([[20, 30]]))[0]
    fig = render_intervention(counterfactual, data, concepts, {1: 0.0})
    again = render_intervention(counterfactual, data, concepts, {1: 0.0})
    assert len(fig.axes) == 3 and fig._repr_png_() == again._repr_png_()
    truth = fig.axes[2].images[0].get_array()
    expected = data.counterfactual(concepts[None], phi=math.pi / 2)[0][0].permute(1, 2, 0).numpy()
    assert np.allclose(truth, expected, atol=1e-6)
    assert "phi = +0.00" in fig.axes[1].get_title()
    render_intervention(counterfactual, data, concepts, {})  # no intervention: the reconstruction


def test_intervention_explorer_wires_one_slider_per_concept():
    import ipywidgets

    from vaecourse.widgets import intervention_explorer

    data = Pendulum(size=16)
    box = intervention_explorer(lambda x, u, i: x, data, data.concepts(torch.tensor([[3, 4]]))[0])
    sliders = [w for row in box.children[:2] for w in row.children]
    assert isinstance(box, ipywidgets.VBox) and len(sliders) == 4
    assert all(not s.continuous_update for s in sliders)
    assert sliders[0].value == round(float(data.labels(data.concepts(torch.tensor([[3, 4]])))[0, 0]), 2)


def test_every_intervention_slider_offers_only_what_the_simulator_accepts():
    """Issue 25: the shadow-length slider offered -1.2 ... 1.2 label units, and below about -0.93 (a negative shadow)
    the simulator refused with a traceback in the output area. Each slider's whole range, alone and with every other
    slider at an end too, renders for scenes at the corners of the grid."""
    import itertools

    from vaecourse.viz.causal import render_intervention
    from vaecourse.widgets import intervention_explorer, intervention_ranges

    data = Pendulum(size=16)
    ranges = intervention_ranges(data)
    assert ranges[2][0] >= -0.9333 and all(lo < 0 < hi for lo, hi in ranges)
    scenes = data.concepts(torch.tensor([[0, 0], [83, 0], [0, 86], [83, 86], [42, 43]]))
    for scene in scenes:
        box = intervention_explorer(lambda x, u, i: x, data, scene)
        sliders = [w for row in box.children[:2] for w in row.children]
        assert [(s.min, s.max) for s in sliders] == ranges
        for i, (lo, hi) in enumerate(ranges):
            for value in (lo, hi):
                render_intervention(lambda x, u, i: x, data, scene, {i: value})
        for corner in itertools.product(*ranges):
            render_intervention(lambda x, u, i: x, data, scene, dict(enumerate(corner)))
