"""Image grids: data, reconstructions and latent traversals.  Shape letters: N images, C/H/W, D latent."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from vaecourse import values as kinds
from vaecourse.viz import figure as checks
from vaecourse.viz.figure import CourseFigure as Figure

latent_values = kinds.numbers(f"1 to {kinds.MAX_PANELS:,} finite values in a list or a 1-D tensor, latent values each at "
                              f"most {checks.MAX_TRAVERSAL:g} in size (codes are standard normal)",
                              lambda t: t.dim() == 1 and 1 <= len(t) <= kinds.MAX_PANELS
                              and bool(t.abs().max() <= checks.MAX_TRAVERSAL))


def _as_hwc(image: Tensor) -> np.ndarray:
    """(C, H, W) tensor in [0, 1] -> (H, W) or (H, W, 3) array for imshow."""
    array = image.detach().float().cpu().clamp(0, 1).numpy()
    return array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0))


def draw_image(ax, image: Tensor) -> None:
    """Show one image (C, H, W) on the matplotlib axes ``ax``: values clamped to [0, 1], grey for C = 1 (0 black,
    1 white) and RGB for C = 3, pixels unsmoothed, no ticks. Every cell of the image grids here and in
    :mod:`vaecourse.viz.beta` and :mod:`vaecourse.viz.causal` is drawn with it."""
    ax.imshow(_as_hwc(image), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(images: Tensor, ncols: int = 8, title: str | None = None, size: float = 1.2,
               row_labels: Sequence[str] | None = None) -> Figure:
    """Images (N, C, H, W) in [0, 1] laid out ``ncols`` to a row. Finite values outside [0, 1] are drawn clamped
    (:func:`draw_image`), not refused: a Gaussian decoder's means, which the lectures draw, may leave the range."""
    images = checks.images("image_grid", "images", images)  # floating: bytes would be drawn clamped
    ncols = kinds.panels.check("image_grid's ncols", ncols)
    size = kinds.inches.check("image_grid's size", size)
    title = checks.title("image_grid", title)
    n = images.shape[0]
    nrows = max(1, -(-n // ncols))
    row_labels = checks.names("image_grid", "row_labels", row_labels, optional=True)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"image_grid's row_labels must hold one label per row ({nrows} rows of {ncols}), "
                         f"got {len(row_labels)}")
    checks.panel_count("image_grid", "ncols", nrows * ncols, f"{nrows} rows of ncols = {ncols} cells")
    fig = Figure(figsize=checks.figure_size("image_grid", "size and ncols", size * ncols,
                                            size * nrows + (0.4 if title else 0)))
    axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    for i, ax in enumerate(axes.flat):
        if i < n:
            draw_image(ax, images[i])
        else:
            ax.axis("off")
    if row_labels is not None:
        for r, label in enumerate(row_labels[:nrows]):
            axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def reconstruction_figure(x: Tensor, x_hat: Tensor, n: int = 8, title: str = "data (top) and reconstructions") -> Figure:
    """Two rows: n inputs and their reconstructions E[x | z = mu(x)]."""
    title = checks.figure_text("reconstruction_figure", "title", title)
    x = checks.images("reconstruction_figure", "x", x)
    x_hat = checks.images("reconstruction_figure", "x_hat", x_hat)
    if x.shape != x_hat.shape:  # x_hat[i] is x[i]'s reconstruction: one per input, of its shape
        raise ValueError(f"reconstruction_figure's x_hat must be one reconstruction per image of x, of shape "
                         f"{tuple(x.shape)}, got {tuple(x_hat.shape)}")
    n = min(kinds.positive_int.check("reconstruction_figure's n", n), x.shape[0])
    checks.panel_count("reconstruction_figure", "n", 2 * n, "two per image: the input and its reconstruction")
    return image_grid(torch.cat([x[:n].cpu(), x_hat[:n].cpu()]), ncols=n, title=title,
                      row_labels=["x", "x̂"])


def _code(who: str, model, z) -> Tensor:
    """z: one finite latent code of the model's latent_dim numbers, as a float32 (D,) tensor on the CPU."""
    size = int(model.latent_dim)
    kind = kinds.numbers(f"one latent code: {size} finite numbers (the model's latent_dim), each at most "
                         f"{kinds.MAX_FLOAT:.2g} in size (float32: the model decodes in it)",
                         lambda t: t.numel() == size and (t.dim() <= 1 or t.dim() == 2 and len(t) == 1)
                         and bool(t.abs().max() <= kinds.MAX_FLOAT))
    return kind.check(f"{checks.owner(who)} z", z).float().flatten().cpu()


def _fits(kind, value) -> bool:
    converted = kind.convert(value)
    return converted is not kinds._REFUSED and bool(kind.test(converted))


def _dims(who: str, z: Tensor, dims, values: Tensor) -> list:
    """``dims`` checked as latent dimensions of the code ``z``, len(dims) x len(values) at most MAX_PANELS images."""
    dims = list(kinds.indices.check(f"{checks.owner(who)} dims", dims))
    if not 1 <= len(dims) * len(values) <= kinds.MAX_PANELS:
        raise ValueError(f"{who} draws len(dims) x len(values) images: at most {kinds.MAX_PANELS:,}, got "
                         f"{len(dims)} x {len(values)}")
    wrong = [d for d in dims if not d < z.numel()]
    if wrong:
        raise ValueError(f"{checks.owner(who)} dims: latent dimension {wrong[0]} does not exist: the model has "
                         f"{z.numel()} (0..{z.numel() - 1})")
    return dims


@torch.no_grad()
def traversal_images(model, z: Tensor, dims: Sequence[int], values: Sequence[float] | Tensor) -> Tensor:
    """Decoded means for z with dimension d set to each value: (len(dims), len(values), C, H, W).

    z is one latent vector (D,) — usually mu(x) of an example, or zeros (the prior's centre).
    """
    model = checks.traversal_model("traversal_images", "model", model)
    z = _code("traversal_images", model, z)
    values = latent_values.check("traversal_images' values", values).float().cpu()
    dims = _dims("traversal_images", z, dims, values)
    device = next(model.parameters()).device
    rows = []
    for d in dims:
        zs = z.repeat(len(values), 1)  # (V, D)
        zs[:, d] = values
        rows.append(model.decode(zs.to(device)).mean.cpu())
    return checks.decoded("traversal_images", "model", torch.stack(rows))


def traversal_figure(model, z: Tensor, dims: Sequence[int] | None = None,
                     values: Sequence[float] | Tensor = tuple(np.linspace(-3, 3, 9)),
                     labels: Sequence[str] | None = None, title: str | None = "latent traversals",
                     highlight: tuple[int, float] | None = None) -> Figure:
    """Rows: latent dimensions; columns: the value given to that dimension, the others held at z.

    ``highlight=(dim, value)`` frames the cell nearest that value (the widgets use it).
    """
    model = checks.traversal_model("traversal_figure", "model", model)
    z = _code("traversal_figure", model, z)
    values = latent_values.check("traversal_figure's values", values).float().cpu()
    dims = _dims("traversal_figure", z, list(range(z.numel())) if dims is None else dims, values)
    labels = checks.names("traversal_figure", "labels", labels, len(dims), optional=True)
    title = checks.title("traversal_figure", title)
    if highlight is not None:
        pair = kinds.sequence("(dim, value): a latent dimension and a finite value (or None)",
                              lambda v: len(v) == 2 and _fits(kinds.non_negative_int, v[0])
                              and _fits(kinds.finite, v[1]))
        dim, value = pair.check("traversal_figure's highlight", highlight)
        if int(dim) >= z.numel():
            raise ValueError(f"traversal_figure's highlight names latent dimension {int(dim)}, which does not exist: "
                             f"the model has {z.numel()} (0..{z.numel() - 1})")
        if int(dim) not in dims:  # the frame goes on a cell of that dimension's row: no row, no frame
            raise ValueError(f"traversal_figure's highlight names latent dimension {int(dim)}, which is not drawn: "
                             f"dims are {dims}")
        highlight = (int(dim), float(value))
    checks.figure_size("traversal_figure", "dims and values", 1.0 * len(values) + 0.8, 1.0 * len(dims) + 0.6)
    grid = traversal_images(model, z, dims, values)  # (R, V, C, H, W)
    nrows, ncols = grid.shape[:2]
    fig = Figure(figsize=(1.0 * ncols + 0.8, 1.0 * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for r in range(nrows):
        for c in range(ncols):
            draw_image(axes[r, c], grid[r, c])
            if r == nrows - 1:
                axes[r, c].set_xlabel(f"{values[c].item():.1f}")
        axes[r, 0].set_ylabel(labels[r] if labels else f"z{dims[r]}", rotation=0, ha="right", va="center")
    if highlight is not None:
        r = dims.index(highlight[0])
        c = int(torch.argmin((values - highlight[1]).abs()))
        for spine in axes[r, c].spines.values():
            spine.set_edgecolor("tab:red")
            spine.set_linewidth(2.5)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["draw_image", "image_grid", "reconstruction_figure", "traversal_figure", "traversal_images"]
