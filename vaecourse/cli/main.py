"""The command line's front door: ``python -m vaecourse VERB ...`` (train, show, evaluate, data, build-exercises,
site) and the ``vaecourse`` console script both call :func:`main`.

Nothing here runs at import time; argparse is only built when :func:`main` (or :func:`build_parser`) is called.
The ``train`` verb lives in :mod:`vaecourse.cli.train`; the maintainer verbs call :mod:`vaecourse.authoring`.
Arguments are checked by :mod:`vaecourse.cli.checks` and outputs by :mod:`vaecourse.cli.outputs` before any
work starts, so every mistake ends in one ``error: ...`` line and exit status 2 (Ctrl-C in ``train``: 130).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from pathlib import Path

from vaecourse._starting import finished, handlers_kept
from vaecourse.cli import checks
from vaecourse.values import MAX_FIGURE_PIXELS, MAX_PANELS


def _train(args: argparse.Namespace) -> int:
    from vaecourse.cli.train import train_from_args
    return train_from_args(args)


MAX_PIXELS = MAX_FIGURE_PIXELS  # a traversal PNG of 100 megapixels is 400 MB while drawn: a larger one is a typo
MAX_IMAGES = MAX_PANELS  # images in one traversal figure (latents x --columns): the figures' own panel bound
OTHER_IMAGE_FORMATS = {".pdf", ".svg", ".svgz", ".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".gif"}
CHUNK_DEFAULT = 250  # evaluate --chunk: importance samples encoded at once
EVALUATE_BATCH = 1024  # evaluate: images through the model at once (the default --n 256 in one batch, as before)


def _show(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from vaecourse import checkpoints
    from vaecourse.files import atomic_write
    from vaecourse.viz import traversal_figure

    from vaecourse.cli.outputs import refuse_overwriting_input
    if not Path(args.checkpoint).name:  # ".", "/", "..": a folder, and no name to give the default PNG
        raise ValueError(f"show's checkpoint {args.checkpoint!r} is a folder: expected a checkpoint file (e.g. vae.pt)")
    out = Path(args.out) if args.out else Path(args.checkpoint).with_suffix(".png")
    flag = "--out" if args.out else "the default --out (the checkpoint's name with .png)"
    if out.suffix.lower() in OTHER_IMAGE_FORMATS:  # the file would hold PNG bytes under another format's name
        raise ValueError(f"--out {out}: show writes a PNG, expected a name ending in .png, got {out.suffix}")
    refuse_overwriting_input(out, Path(args.checkpoint), what="traversal PNG", flag=flag)
    # a new y.pt, y.csv or y would hold PNG bytes under a name that says otherwise (what already exists there, a FIFO,
    # a device, a folder or another file, is refused in its own words by the checks above and below)
    if out.suffix.lower() != ".png" and not os.path.lexists(out):
        raise ValueError(f"--out {out}: show writes a PNG, expected a name ending in .png, got "
                         f"{out.suffix or 'no suffix'}")
    model = checkpoints.load(args.checkpoint)
    values = np.linspace(-args.span, args.span, args.columns)
    name = Path(args.checkpoint).name
    if hasattr(model, "layer_decoder"):  # a Ladder VAE: one layer at a time, in prior standard deviations
        layer = model.n_layers if args.layer is None else args.layer
        if not 1 <= layer <= model.n_layers:
            raise ValueError(f"--layer must be between 1 and {model.n_layers} for this {model.n_layers}-layer "
                             f"model (z_1 is next to x), got {layer}")
        decoder = model.layer_decoder(layer - 1)
        _check_traversal(args, decoder, values)
        fig = traversal_figure(decoder, torch.zeros(decoder.latent_dim), values=values,
                               labels=[f"z{layer}[{j}]" for j in range(decoder.latent_dim)],
                               title=f"{name}: layer z{layer}, each unit in prior standard deviations "
                                     "(layers beneath at their prior means)")
    elif args.layer is not None:
        raise ValueError(f"--layer applies to a hierarchical model (lvae); {name} holds a "
                         f"{type(model).__name__} with a single latent layer")
    else:
        _check_traversal(args, model, values)
        fig = traversal_figure(model, torch.zeros(model.latent_dim), values=values,
                               title=f"{name}: traversals around z = 0")
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=args.dpi))
    print(f"wrote {out}")
    return 0


def _check_traversal(args: argparse.Namespace, decoder, values) -> None:
    """Refuse, before drawing, a figure too large to draw (latents x --columns images, pixels at --dpi) and a model
    whose decoded images are not finite (NaN/inf weights in effect: the PNG would be blank)."""
    import torch

    rows, columns = decoder.latent_dim, len(values)
    if rows * columns > MAX_IMAGES:
        raise ValueError(f"--columns {columns}: the traversal would draw {rows * columns:,} images ({rows} latents x "
                         f"{columns} columns), expected at most {MAX_IMAGES:,}; give fewer --columns")
    pixels = (columns + 0.8) * (rows + 0.6) * args.dpi ** 2  # traversal_figure's size in inches, at --dpi
    if pixels > MAX_PIXELS:
        raise ValueError(f"--dpi {args.dpi} with {columns} columns and {rows} latents: the PNG would have "
                         f"{pixels / 1e6:,.0f} megapixels (about {4 * pixels / 2**30:,.1f} GiB while drawn), expected "
                         f"at most {MAX_PIXELS / 1e6:,.0f}; lower --dpi or --columns")
    with torch.no_grad():  # every latent vector of the figure, decoded once: its distribution's parameters
        zs = torch.zeros(rows, columns, rows)  # (R, V, D): row r varies latent r over the values
        zs[torch.arange(rows), :, torch.arange(rows)] = torch.as_tensor(values, dtype=torch.float32)
        p_x = decoder.decode(zs.reshape(-1, rows).to(next(decoder.parameters()).device))
        base = getattr(p_x, "base_dist", p_x)  # logits of a Bernoulli (inf draws as 1: a blank PNG), loc and scale
        parameters = [value for name, value in vars(base).items() if name in base.arg_constraints]
    if not all(torch.isfinite(t).all() for t in parameters if isinstance(t, torch.Tensor)):
        raise ValueError(f"{args.checkpoint}: its decoder gives NaN or infinite pixels over --span {args.span:g} "
                         "(its weights overflow float32), so the traversal would be blank; it is not a usable model: "
                         "train it again with a smaller --lr or --clip-grad-norm")


def _not_finite(checkpoint: str, what: str) -> ValueError:
    return ValueError(f"{checkpoint}: the model's {what} on these images is not finite (its weights overflow "
                      "float32), so no score it gives means anything; train it again with a smaller --lr or "
                      "--clip-grad-norm")


def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from vaecourse import checkpoints
    from vaecourse.data.catalog import make_dataset
    from vaecourse.recipes import FINITE
    from vaecourse.objectives import elbo, importance_weighted_bound
    from vaecourse.objectives.elbo import check_chunk_fits
    from vaecourse.runtime import default_device

    if args.chunk is not None and not args.k:  # the applies-rule of train's flags (Recipe.check_applies)
        raise ValueError(f"--chunk applies to importance sampling (--k 1 or more) only, not to --k {args.k}: leave it "
                         "out (it would change nothing)")
    device = default_device(args.device)  # "auto": cuda, then mps, then cpu, as train resolves it
    saved = checkpoints.read(args.checkpoint, map_location=device)
    model = saved.model.eval()  # batch norm (chapter 4) scores with its running statistics
    if model.takes_labels:  # chapter 5: label-conditioned models are scored on labelled pendulum images
        return _evaluate_causal(model, args, saved.extra)
    trained_on = saved.extra.get("dataset")
    name = args.dataset or trained_on or "dsprites"  # by default, the data the model was trained on
    shape = tuple(model.image_shape)
    try:  # (the digits come at their own shape, compared below)
        dataset = make_dataset(name, model.device, image_shape=None if name in FINITE else shape)
    except ValueError as err:
        raise ValueError(f"{args.checkpoint} holds a model of {shape} images"
                         f"{f' trained on {trained_on}' if trained_on else ''}: --dataset {name} cannot give them "
                         f"({err})") from None
    if tuple(dataset.image_shape) != shape:
        raise ValueError(f"{args.checkpoint} holds a model of {shape} images"
                         f"{f' trained on {trained_on}' if trained_on else ''}; --dataset {name} gives "
                         f"{tuple(dataset.image_shape)} images")
    generator = torch.Generator().manual_seed(args.seed)
    x = dataset.evaluation_batch(args.n, generator)
    chunk = args.chunk or CHUNK_DEFAULT
    if args.k:  # before any work: --chunk samples of every image are decoded at once
        check_chunk_fits("--chunk x --n", min(chunk, args.k), x)
    with torch.no_grad():  # the images through the model a batch at a time: --n 1,000,000 at once held every layer
        parts = [elbo(model(batch), batch) for batch in x.split(EVALUATE_BATCH)]
    terms = {name: torch.cat([getattr(t, name) for t in parts]) for name in ("elbo", "log_px_z", "kl")}
    if not torch.isfinite(terms["elbo"]).all():
        raise _not_finite(args.checkpoint, "ELBO")
    print(f"ELBO {terms['elbo'].mean():.2f}  log p(x|z) {terms['log_px_z'].mean():.2f}  KL {terms['kl'].mean():.2f} "
          f"(nats per example, {x.shape[0]} examples)")
    if args.k:
        bound = importance_weighted_bound(model, x, args.k, chunk_size=chunk, generator=generator)
        if not torch.isfinite(bound).all():
            raise _not_finite(args.checkpoint, "importance-weighted bound")
        print(f"importance-weighted log p(x) estimate, k={args.k}: {bound.mean():.2f} nats")
    return 0


def _evaluate_causal(model, args: argparse.Namespace, extra: dict) -> int:
    import math

    import torch

    from vaecourse import values

    from vaecourse.data import Pendulum
    from vaecourse.metrics.causal import causal_model_report

    name = type(model).__name__
    if args.dataset not in (None, "pendulum"):
        raise ValueError(f"{name} checkpoints need labelled images: evaluate them with --dataset pendulum "
                         f"(or no --dataset), not {args.dataset!r}")
    if args.n < 2:  # MIC/TIC rank the concept latents against the truth over the test scenes
        raise ValueError(f"--n must be at least 2 for {name}: its MIC/TIC compare latents and concepts over several "
                         f"test scenes, got {args.n}")
    if args.k:
        raise ValueError(f"--k (importance sampling) is not available for {name}: its bound has two latent "
                         f"layers (eps, z) tied to the labels; use --k 0")
    if model.image_shape[0] != 3 or model.image_shape[1] != model.image_shape[2]:
        raise ValueError(f"{name} was trained on images {tuple(model.image_shape)}; the pendulum is square RGB")
    stored = extra.get("arguments", {})
    if not isinstance(stored, dict):
        raise ValueError(f"{args.checkpoint}: its stored arguments are damaged or hand-edited (expected the run's "
                         f"fields, found a {type(stored).__name__})")
    try:  # the scene and the l_u it was trained with, as its recipe's kinds read them
        shadow_noise = values.non_negative.check("its stored shadow_noise", stored.get("shadow_noise", 0.0))
        label_fit = values.one_of("tanh", "mask").check("its stored label_fit", stored.get("label_fit", "tanh"))
    except ValueError as err:
        raise ValueError(f"{args.checkpoint}: {err}") from None
    data = Pendulum(size=model.image_shape[1], device=model.device, shadow_noise=shadow_noise)  # its training scene
    n = min(args.n, len(data.split_indices("test")))  # as the digits: the test split's images at most (printed)
    r = causal_model_report(model, data, n=n, generator=torch.Generator().manual_seed(args.seed),
                            label_fit=label_fit)
    if not all(math.isfinite(r[k]) for k in ("elbo", "log_px_z", "kl_eps", "kl_z")):
        raise _not_finite(args.checkpoint, "ELBO")
    print(f"ELBO {r['elbo']:.2f}  log p(x|z) {r['log_px_z']:.2f}  KL_eps {r['kl_eps']:.2f}  KL_z {r['kl_z']:.2f} "
          f"(nats per example, {r['n']} test images, shadow noise {shadow_noise:g} as in training)")
    print(f"MIC {r['mic']:.3f}  TIC {r['tic']:.3f} (concept latents vs the true concepts)")
    if "A" in r:
        fit = "mask-layer label equations" if label_fit == "mask" else "tanh(A^T u), Eq. 38"
        print(f"l_u {r['l_u']:.3f} ({fit}, as trained)  l_m {r['l_m']:.3f}  H(A) {r['H']:.2e}  structural Hamming distance to the true "
              f"graph {r['shd']} (|A| > {r['threshold']})")
        print("A (rows cause columns):", [[round(v, 2) for v in row] for row in r["A"].tolist()])
    return 0


def _data(args: argparse.Namespace) -> int:
    folders = [("--cache-dir", args.cache_dir)] + ([("--path", args.path)] if args.name == "mnist" else [])
    for flag, folder in folders:  # (mnist's --path is the folder of its four files)
        if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
            raise ValueError(f"{flag} {folder} must be a folder (data {args.name} reads its files from one), and it is "
                             "not one")
    if args.name == "dsprites":
        from vaecourse.data.dsprites_official import load_official_dsprites
        data = load_official_dsprites(args.path, download=args.download, cache_dir=args.cache_dir)
        print(f"official dSprites verified: {len(data)} images")
        return 0
    if args.name == "mnist":
        from vaecourse.data.mnist import load_mnist
        root = args.path or (Path(args.cache_dir) / "mnist" if args.cache_dir else None)
        digits = load_mnist(root, download=args.download)
        print(f"MNIST verified (MD5): {len(digits.train)} training and {len(digits.test)} test images")
        return 0
    raise SystemExit(f"unknown data set {args.name!r}")


def _build_exercises(args: argparse.Namespace) -> int:
    from vaecourse.authoring import exercises
    from vaecourse.cli.outputs import check_repository_root
    check_repository_root(Path(args.root))
    return exercises.main(args.root, check=args.check)


def _site(args: argparse.Namespace) -> int:
    from vaecourse.authoring import site
    from vaecourse.cli.outputs import check_repository_root, check_site_out
    folders = ("notebooks",) if args.lectures_only else site.SITE_FOLDERS
    check_site_out(Path(args.out), Path(args.root), Path(args.rendered) if args.rendered else None)
    check_repository_root(Path(args.root), folders)
    if not site.find_notebooks(args.root, folders):
        raise ValueError(f"--root {args.root} holds no notebooks in {', '.join(f + '/' for f in folders)} (expected "
                         "NN_name.ipynb files: run `python -m vaecourse build-exercises` to build them from the .py)")
    return site.main(args.out, args.root, fast=args.fast, timeout=args.timeout, rendered=args.rendered,
                     folders=folders)


def build_parser() -> argparse.ArgumentParser:
    parser = checks.Parser(prog="python -m vaecourse",
                                     description="vaecourse: train, inspect and evaluate the course's models.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    from vaecourse.cli.train import add_train_arguments
    train = verbs.add_parser("train", help="train a model (progress bar, periodic checkpoints, resume, CSV/JSON log)")
    add_train_arguments(train)
    train.set_defaults(func=_train)

    show = verbs.add_parser("show", help="write a latent-traversal PNG for a checkpoint")
    show.add_argument("checkpoint")
    show.add_argument("--out", help="PNG path (default: the checkpoint's path with .png)")
    show.add_argument("--span", type=float, default=3.0, help="traverse each latent over [-span, span]")
    show.add_argument("--columns", type=int, default=9)
    show.add_argument("--dpi", type=int, default=100)
    show.add_argument("--layer", type=int, default=None,
                      help="Ladder VAE only: which stochastic layer to traverse, 1 (next to x) ... L (default: L)")
    show.set_defaults(func=_show)
    checks.constrain(show, checks.SHOW_TYPES)

    evaluate = verbs.add_parser("evaluate", help="ELBO and importance-weighted log-likelihood of a checkpoint "
                                "(causalvae/cvae: ELBO terms, MIC/TIC and the learned graph on pendulum test images)")
    evaluate.add_argument("checkpoint")
    evaluate.add_argument("--dataset", default=None, help="default dsprites; pendulum for causalvae/cvae")
    evaluate.add_argument("--n", type=int, default=256, help="number of evaluation examples (a fixed test set: at "
                          "most its size, and the count scored is printed)")
    evaluate.add_argument("--k", type=int, default=0, help="importance samples (0: ELBO only)")
    evaluate.add_argument("--chunk", type=int, default=None,
                          help=f"importance samples per chunk (memory; with --k; default {CHUNK_DEFAULT})")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(func=_evaluate)
    checks.constrain(evaluate, checks.EVALUATE_TYPES)

    data = verbs.add_parser("data", help="verify (or, with --download, fetch) an official data file")
    data.add_argument("name", choices=["dsprites", "mnist"])
    data.add_argument("--path", default=None, help="the file (mnist: the folder of IDX files), if you already have it")
    data.add_argument("--download", action="store_true", help="download into the cache, then verify its checksum")
    data.add_argument("--cache-dir", default=None)
    data.set_defaults(func=_data)
    checks.constrain(data, checks.DATA_TYPES)

    build = verbs.add_parser("build-exercises", help="rebuild notebooks' .ipynb twins and exercises/ from solutions/")
    build.add_argument("--check", action="store_true", help="only report what is out of date (exit 1 if anything is, 2 if a solutions file cannot be built)")
    build.add_argument("--root", default=".", help="repository root")
    build.set_defaults(func=_build_exercises)
    checks.constrain(build, checks.BUILD_TYPES)

    site = verbs.add_parser("site", help="execute every notebook (normal mode, shipped models) and render the course "
                                         "to static HTML")
    site.add_argument("--out", default="_site", help="output folder (default: _site)")
    site.add_argument("--root", default=".", help="repository root (holds notebooks/ and solutions/)")
    site.add_argument("--fast", action="store_true",
                      help="execute in FAST mode: tiny runs that prove the code works (what the tests and CI use)")
    site.add_argument("--rendered", default=None, metavar="DIR",
                      help="also write each executed lecture, outputs kept, to DIR/NN_name.ipynb (the repository's "
                           "rendered/ folder: docs/rendered.md)")
    site.add_argument("--timeout", type=int, default=None,
                      help="per-cell timeout in seconds (default: 900 with --fast, 3600 in normal mode)")
    site.add_argument("--lectures-only", action="store_true",
                      help="execute only the lectures (notebooks/), not the solutions: what refreshing rendered/ "
                           "needs; the site's index then lists the lectures only")
    site.set_defaults(func=_site)
    checks.constrain(site, checks.SITE_TYPES)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one verb; a mistake is one ``error: ...`` line on stderr and exit status 2 (Ctrl-C: 130). SIGTERM and
    SIGHUP are answered as Ctrl-C is (one line, status 128 + the signal); ``train`` saves the finished steps."""
    with handlers_kept():  # put back at the end: _stop_on_terminate and _interrupted change them
        _stop_on_terminate()
        return _main(argv)


def _stop_on_terminate() -> None:
    """SIGTERM and SIGHUP raise KeyboardInterrupt naming the signal, as Ctrl-C does, while the command runs (where
    they are not ignored, and only in the main thread); :func:`main` puts the handlers back."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for signum in (getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)):
        try:
            if signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, interrupt)
        except ValueError:  # not the main thread
            pass


def _words(err: OSError) -> str:
    """An OSError's words without atomic_write's "; nothing was written", which the line says its own way."""
    from vaecourse.files import NOTHING_WRITTEN
    return (err.strerror or str(err)).removesuffix(NOTHING_WRITTEN)


def _interrupted(err: KeyboardInterrupt, what: str) -> int:
    """One line for a Ctrl-C, SIGTERM or SIGHUP; the shells' status for it (128 + the signal). The command is over:
    a further signal (Ctrl-C pressed three times) is ignored until :func:`main` returns, where a third one had ended
    in a KeyboardInterrupt traceback while the handlers were put back."""
    finished()
    name = str(err) if str(err) in ("SIGTERM", "SIGHUP") else "Ctrl-C"
    print(f"interrupted ({name}){what}", file=sys.stderr)
    return 128 + (signal.SIGINT if name == "Ctrl-C" else signal.Signals[name])


_SIZES = {"train": "--batch-size, --image-size, --latent-dim", "evaluate": "--n, --k, --chunk",
          "show": "--columns, --dpi"}  # each verb's flags that size its memory
_FULL = (errno.EFBIG, errno.ENOSPC, errno.EDQUOT)  # the write ran out of room: a disk, a quota, a size limit


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)  # (imports torch: a Ctrl-C here is one line too)
    except checks.UsageError as err:
        return _fail(str(err))
    except KeyboardInterrupt as err:
        return _interrupted(err, " while starting; nothing was written")
    from vaecourse.data.download import DownloadError
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, DownloadError) as err:
        return _fail(str(err))
    except OSError as err:  # the file system refused (permissions, a full disk, a path through a file)
        if err.errno in _FULL:
            return _fail(f"cannot write {err.filename or 'the output'}: {_words(err)} (a full disk or a file-size "
                         "limit, ulimit -f); nothing was replaced: a file already there is as it was")
        return _fail(f"{err.strerror or err}: {err.filename}" if err.filename else str(err))
    except MemoryError as err:
        return _fail(f"out of memory ({err or 'MemoryError'}): ask for less ({_SIZES.get(args.verb, 'smaller sizes')})")
    except RuntimeError as err:  # torch's allocators say so in a RuntimeError (torch.OutOfMemoryError on a GPU)
        if "allocate" not in str(err) and "out of memory" not in str(err):
            raise
        return _fail(f"out of memory: {str(err).splitlines()[0]}: ask for less ({_SIZES.get(args.verb, 'smaller sizes')})")
    except KeyboardInterrupt as err:  # a second Ctrl-C in train, or one outside training: files are whole (atomic)
        return _interrupted(err, "; every file written so far is complete")


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)  # one line, whatever the message held
    return 2
