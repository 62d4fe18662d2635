"""Ninth probe, figures: a boolean graph is a graph (FINDINGS #8)."""
import numpy as np
import torch

from vaecourse import viz


def test_adjacency_figure_accepts_bool_tensor():
    fig = viz.adjacency_figure(torch.zeros(4, 4), torch.eye(4, dtype=torch.bool), ["t", "p", "l", "s"])
    assert fig._repr_png_()


def test_adjacency_figure_accepts_bool_ndarray():
    fig = viz.adjacency_figure(torch.zeros(4, 4), np.eye(4, dtype=bool), ["t", "p", "l", "s"])
    assert fig._repr_png_()
