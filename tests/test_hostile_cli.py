"""The command line under hostile use (issue 14): every case ends in its exit status with at most one
``error: ...`` line and no traceback, and every file that existed before it is byte-identical afterwards.

The cases run in-process (``main(argv)``) on a workspace of tiny checkpoints, logs and a PNG, copied fresh for
each case. Ctrl-C and SIGKILL need a real process: those few cases run ``python -m vaecourse`` in a subprocess
(marked slow). Resumption is checked for all four model kinds: N steps in one go equal N/2, then ``--resume``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vaecourse import checkpoints
from vaecourse.cli import main

VAE = ["--encoder", "conv32", "--image-size", "32", "--latent-dim", "3", "--batch-size", "4", "--no-progress",
       "--device", "cpu"]
LVAE = ["--model", "lvae", "--dataset", "digits", "--latent-sizes", "4,2", "--hidden-sizes", "8,8",
        "--batch-size", "500", "--no-progress", "--device", "cpu"]  # 1,500 digits: 3 steps per epoch
CAUSAL = ["--model", "causalvae", "--dataset", "pendulum", "--encoder", "conv32", "--image-size", "32",
          "--batch-size", "4", "--no-progress", "--device", "cpu"]
CVAE = ["--model", "cvae", *CAUSAL[2:]]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Checkpoints of three model kinds (with their logs), a published one (no training state), a PNG,
    a truncated checkpoint, a foreign CSV and a plain file."""
    root = tmp_path_factory.mktemp("hostile")
    assert main(["train", "--steps", "2", "--out", str(root / "vae.pt"), *VAE]) == 0
    assert main(["train", "--steps", "2", "--objective", "ladder", "--warmup-epochs", "1",
                 "--out", str(root / "lvae.pt"), *LVAE]) == 0
    assert main(["train", "--steps", "2", "--out", str(root / "causal.pt"), *CAUSAL]) == 0
    checkpoints.save(checkpoints.load(root / "vae.pt"), root / "published.pt")
    assert main(["show", str(root / "vae.pt"), "--out", str(root / "traversal.png"), "--columns", "2"]) == 0
    shutil.copy(root / "vae.pt", root / "vae.png")  # a checkpoint whose name ends in .png
    data = (root / "vae.pt").read_bytes()
    (root / "truncated.pt").write_bytes(data[: len(data) // 2])
    (root / "notes.csv").write_text("my own notes, not a training log\n")
    (root / "run.pt.log.csv").write_text("my own notes, where run.pt's log would go\n")
    (root / "afile").write_text("a plain file\n")
    (root / "empty.pt").write_bytes(b"")
    (root / "notes.pt").write_text("notes, not a checkpoint\n")
    (root / "folder").mkdir()
    for folder in ("notebooks", "solutions"):  # enough of a repository root for the site/build-exercises cases
        (root / folder).mkdir()
    return root


@pytest.fixture
def ws(prepared, tmp_path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(prepared, target)
    return target


def hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(err: str, message: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert message in lines[0], (message, lines[0])


T = ["train", "--steps", "2", "--out", "{ws}/new.pt", *VAE]  # a fine command; cases append one bad value

# (case id, argv with {ws} for the workspace, expected exit status, a piece of the one error line)
REFUSED = [
    # numbers that mean nothing
    *[(f"lr {v}", [*T, "--lr", v], "argument --lr: expected a learning rate > 0")
      for v in ("0", "-1", "nan", "inf", "abc", "1e300")],  # 1e300 overflows float32 inside Adam
    *[(f"clip {v}", [*T, "--clip-grad-norm", v], "argument --clip-grad-norm: expected a finite number > 0")
      for v in ("-1", "0", "nan", "inf")],
    *[(f"warmup {v}", [*T, "--objective", "beta", "--warmup-epochs", v], "argument --warmup-epochs: expected a finite "
       "number >= 0") for v in ("nan", "-1", "inf")],
    *[(f"beta {v}", [*T, "--objective", "beta", "--beta", v], "argument --beta") for v in ("nan", "inf", "-1", "-inf")],
    *[(f"steps {v}", [*T, "--steps", v], "argument --steps: expected a number of steps between 1 and 1,000,000,000") for v in ("0", "-3", "1.5", "1e3")],
    *[(f"batch {v}", [*T, "--batch-size", v], "argument --batch-size") for v in ("0", "-1", "1e11", "100000000000", "65537")],
    *[(f"image size {v}", [*T, "--image-size", v], "argument --image-size: expected an image side in pixels between 1 and 1,024")
      for v in ("0", "-32", "3.5")],
    ("image size 100000", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--image-size", "100000"],
     "argument --image-size: expected an image side in pixels between 1 and 1,024"),
    ("beta 1e39", [*T, "--objective", "beta", "--beta", "1e39"], "at most 1e+06 in size: beyond it float32 losses"),
    *[(f"latent {v}", [*T, "--latent-dim", v], "argument --latent-dim: expected a number of units between 1 and 65,536") for v in ("0", "-1")],
    ("checkpoint every 0", [*T, "--checkpoint-every", "0"], "argument --checkpoint-every"),
    ("kl warmup -1", [*T, "--objective", "beta", "--kl-warmup", "-1"], "argument --kl-warmup: expected an integer >= 0"),
    ("gamma nan", [*T, "--objective", "capacity", "--gamma", "nan"], "argument --gamma"),
    ("c-max -1", [*T, "--objective", "capacity", "--c-max", "-1"], "argument --c-max"),
    ("c-max inf", [*T, "--objective", "capacity", "--c-max", "inf"], "argument --c-max"),
    ("c-steps 0", [*T, "--objective", "capacity", "--c-steps", "0"], "argument --c-steps"),
    ("c-start -1", [*T, "--objective", "capacity", "--c-start-step", "-1"], "argument --c-start-step"),
    ("epsilon nan", [*T, "--objective", "constrained", "--epsilon", "nan"], "argument --epsilon"),
    ("lr-dual inf", [*T, "--objective", "constrained", "--lr-dual", "inf"], "argument --lr-dual"),
    *[(f"seed {v}", [*T, "--seed", v], "argument --seed") for v in ("-1", str(2 ** 64), "x")],
    ("concept-dim 0", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--concept-dim", "0"], "--concept-dim"),
    ("lu-weight -1", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--lu-weight", "-1"], "--lu-weight"),
    ("lm-weight nan", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--lm-weight", "nan"], "--lm-weight"),
    ("independence inf", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--independence", "inf"],
     "--independence"),
    ("shadow-noise -0.5", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--shadow-noise", "-0.5"],
     "--shadow-noise"),
    *[(f"logvar-bias {v}", [*T, "--logvar-bias", v], "argument --logvar-bias: expected a log-variance between -30 and 30")
      for v in ("nan", "inf")],
    # combinations that cannot train, and names that do not exist
    *[(f"vae x {o}", [*T, "--objective", o], f"model vae cannot be trained with objective {o}")
      for o in ("causal", "cvae", "ladder")],
    *[(f"lvae x {o}", ["train", "--steps", "2", "--out", "{ws}/l.pt", *LVAE, "--objective", o],
       f"model lvae cannot be trained with objective {o}") for o in ("causal", "cvae", "beta_norm")],
    *[(f"causalvae x {o}", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--objective", o],
       "model causalvae takes objective elbo | causal | cvae") for o in ("beta", "capacity", "constrained", "ladder")],
    ("cvae x beta", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CVAE, "--objective", "beta"],
     "objective beta goes with model vae | lvae"),
    ("objective nonsense", [*T, "--objective", "nonsense"], "argument --objective: expected one of elbo, beta"),
    ("model nonsense", [*T, "--model", "gan"], "argument --model: expected one of vae, lvae, causalvae, cvae, got 'gan'"),
    ("encoder resnet", [*T, "--encoder", "resnet"], "argument --encoder: expected one of mlp, conv64, conv32, mlp28, got 'resnet'"),
    ("device gpu9", [*T, "--device", "gpu9"], "unknown device 'gpu9'"),
    ("dataset imagenet", [*T, "--dataset", "imagenet"], "argument --dataset: expected one of dsprites, mnist, digits, pendulum, got 'imagenet'"),
    ("inference sideways", ["train", "--steps", "2", "--out", "{ws}/l.pt", *LVAE, "--inference", "sideways"],
     "argument --inference: expected one of ladder, bottom_up"),
    ("lvae batch 1", ["train", "--steps", "2", "--out", "{ws}/l.pt", *LVAE, "--batch-size", "1"],
     "it needs batch_size >= 2, got 1 (or batch_norm=False, --no-batch-norm)"),
    ("digits batch 5000", ["train", "--steps", "2", "--out", "{ws}/l.pt", *LVAE, "--batch-size", "5000"],
     "larger than the digits training set (4,000 images)"),
    ("conv32 at 64", [*T, "--image-size", "64"],
     "encoder (--encoder) conv32 is built for 32x32 images, and the dsprites images are 64x64"),
    ("dsprites at 3", [*T, "--encoder", "mlp", "--image-size", "3"], "image_size (--image-size) of dsprites must divide 64 (its 64x64 images are average-pooled: 1, 2, 4, 8, 16, 32 or 64), got 3"),
    ("shadow noise on dsprites", [*T, "--shadow-noise", "1"], "shadow_noise (--shadow-noise) applies to dataset pendulum only"),
    ("causalvae on dsprites", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--dataset", "dsprites"],
     "needs labelled data"),
    ("latent sizes x", ["train", "--steps", "2", "--out", "{ws}/l.pt", *LVAE, "--latent-sizes", "4,x"],
     "argument --latent-sizes: expected layer sizes between 1 and 65,536, comma-separated"),
    ("latent sizes 0", ["train", "--steps", "2", "--out", "{ws}/l.pt", *LVAE, "--latent-sizes", "0,2"],
     "got '0,2'"),
    ("unknown flag", [*T, "--learning-rate", "1"], "unrecognized arguments: --learning-rate 1"),
    ("no verb", [], "the following arguments are required: VERB"),
    ("unknown verb", ["fly"], "argument VERB: invalid choice: 'fly'"),
    ("train without --out", ["train", "--steps", "2", *VAE], "the following arguments are required: --out"),
    # --out: never over work, never found unusable after training
    ("out onto a checkpoint", ["train", "--steps", "2", "--out", "{ws}/vae.pt", *VAE],
     "already exists: add --resume to continue it, --overwrite to replace it"),
    ("out onto another model", ["train", "--steps", "2", "--out", "{ws}/lvae.pt", *VAE], "already exists"),
    ("out onto a PNG", ["train", "--steps", "2", "--out", "{ws}/traversal.png", *VAE], "already exists"),
    ("resume and overwrite", ["train", "--steps", "4", "--resume", "--overwrite", "--out", "{ws}/vae.pt", *VAE],
     "give one of them"),
    ("out a directory", ["train", "--steps", "2", "--out", "{ws}/folder", *VAE], "is a directory"),
    ("out through a file", ["train", "--steps", "2", "--out", "{ws}/afile/x.pt", *VAE], "afile is a file, not a folder"),
    ("out empty", ["train", "--steps", "2", "--out", "", *VAE], "argument --out: expected a file name"),
    ("foreign file at the log's name", ["train", "--steps", "2", "--out", "{ws}/run.pt", *VAE],
     "would replace a file that is not a training log"),
    ("resume nothing", ["train", "--steps", "4", "--resume", "--out", "{ws}/none.pt", *VAE], "no checkpoint at"),
    ("resume fewer steps", ["train", "--steps", "1", "--resume", "--out", "{ws}/vae.pt", *VAE],
     "already holds 2 steps and --steps 1 asks for fewer"),
    ("resume another objective", ["train", "--steps", "4", "--resume", "--out", "{ws}/vae.pt", *VAE,
                                  "--objective", "beta"], "with other settings: --objective beta (the run has elbo)"),
    ("resume another dataset", ["train", "--steps", "4", "--resume", "--out", "{ws}/vae.pt", *VAE,
                                "--dataset", "pendulum"], "cannot resume"),
    ("resume a published model", ["train", "--steps", "4", "--resume", "--out", "{ws}/published.pt", *VAE],
     "without training state"),
    ("resume another class", ["train", "--steps", "4", "--resume", "--out", "{ws}/lvae.pt", *VAE],
     "lvae.pt with other settings: --encoder conv32 (the run has conv64)"),
    ("resume without batch norm", ["train", "--steps", "4", "--resume", "--out", "{ws}/lvae.pt", *LVAE, "--no-batch-norm"],
     "with other settings: --no-batch-norm (batch_norm off; the run has it on)"),  # fifth probe: was "False (... True)"
    ("show an empty file", ["show", "{ws}/empty.pt", "--out", "{ws}/e.png"], "the file is empty (0 bytes)"),
    ("show a text file", ["show", "{ws}/notes.pt", "--out", "{ws}/e.png"], "not a torch archive: it starts with b'notes"),
    ("resume another size", ["train", "--steps", "4", "--resume", "--out", "{ws}/vae.pt", *VAE, "--latent-dim", "5"],
     "cannot resume"),
    ("resume a PNG", ["train", "--steps", "4", "--resume", "--out", "{ws}/traversal.png", *VAE],
     "not a readable vaecourse checkpoint"),
    ("resume a truncated file", ["train", "--steps", "4", "--resume", "--out", "{ws}/truncated.pt", *VAE],
     "not a readable vaecourse checkpoint"),
    ("resume a log", ["train", "--steps", "4", "--resume", "--out", "{ws}/vae.pt.log.json", *VAE],
     "not a readable vaecourse checkpoint"),
    # training that diverges: one line, and what is kept
    ("lr 1e6 diverges", [*T, "--lr", "1e6", "--steps", "4"], "the term 'loss' is nan"),
    ("diverging overwrite keeps the old file", ["train", "--steps", "3", "--overwrite", "--lr", "1e6",
                                                "--out", "{ws}/vae.pt", *VAE], "holds the last checkpoint written (2 steps)"),
    # show
    ("show onto its checkpoint", ["show", "{ws}/vae.png"], "would be written over its input"),
    ("show --out its checkpoint", ["show", "{ws}/vae.pt", "--out", "{ws}/vae.pt"], "would be written over its input"),
    ("show --out a link to it", ["show", "{ws}/vae.pt", "--out", "{ws}/link.pt"], "would be written over its input"),
    *[(f"show span {v}", ["show", "{ws}/vae.pt", "--out", "{ws}/s.png", "--span", v], "argument --span")
      for v in ("nan", "0", "-1", "inf")],
    ("show columns 0", ["show", "{ws}/vae.pt", "--out", "{ws}/s.png", "--columns", "0"], "argument --columns"),
    ("show dpi 0", ["show", "{ws}/vae.pt", "--out", "{ws}/s.png", "--dpi", "0"], "argument --dpi"),
    ("show dpi 100000", ["show", "{ws}/vae.pt", "--out", "{ws}/s.png", "--dpi", "100000"], "between 10 and 1,200"),
    ("show layer on a vae", ["show", "{ws}/vae.pt", "--out", "{ws}/s.png", "--layer", "1"],
     "--layer applies to a hierarchical model"),
    ("show layer 9", ["show", "{ws}/lvae.pt", "--out", "{ws}/s.png", "--layer", "9"], "--layer must be between 1 and 2"),
    ("show layer 0", ["show", "{ws}/lvae.pt", "--out", "{ws}/s.png", "--layer", "0"], "--layer must be between 1 and 2"),
    ("show nothing", ["show", "{ws}/none.pt"], "no checkpoint at"),
    ("show a CSV", ["show", "{ws}/notes.csv", "--out", "{ws}/s.png"], "not a readable vaecourse checkpoint"),
    ("show truncated", ["show", "{ws}/truncated.pt"], "not a readable vaecourse checkpoint"),
    ("show --out another checkpoint", ["show", "{ws}/vae.pt", "--out", "{ws}/lvae.pt"], "exists and is not a traversal PNG"),
    ("show --out a CSV", ["show", "{ws}/vae.pt", "--out", "{ws}/notes.csv"], "exists and is not a traversal PNG"),
    ("show --out a directory", ["show", "{ws}/vae.pt", "--out", "{ws}/folder"], "is a directory"),
    ("show --out through a file", ["show", "{ws}/vae.pt", "--out", "{ws}/afile/s.png"], "is a file, not a folder"),
    # evaluate
    *[(f"evaluate n {v}", ["evaluate", "{ws}/vae.pt", "--n", v], "argument --n: expected a number of examples between 1")
      for v in ("0", "-5")],
    ("evaluate k -1", ["evaluate", "{ws}/vae.pt", "--k", "-1"], "argument --k"),
    # sizes that cannot fit: refused before anything is allocated (they ran for ever or ran out of memory)
    ("evaluate k 1e20", ["evaluate", "{ws}/vae.pt", "--k", str(10 ** 20)], "importance samples between 0 and 100,000"),
    ("evaluate n 1e20", ["evaluate", "{ws}/vae.pt", "--n", str(10 ** 20)], "examples between 1 and 1,000,000"),
    ("latent 1e20", [*T, "--latent-dim", str(10 ** 20)], "units between 1 and 65,536"),
    ("batch 1e9", [*T, "--batch-size", str(10 ** 9)], "batch size between 1 and 65,536"),
    ("lr underflows float32", [*T, "--lr", "1e-46"], "that float32 can hold"),
    # flags that do not apply to the model or objective: one rule, refused even at the default value
    ("gamma with beta", [*T, "--objective", "beta", "--gamma", "1000"], "gamma (--gamma) applies to objective capacity"),
    ("beta with elbo", [*T, "--beta", "4"], "beta (--beta) applies to objective beta | beta_norm | constrained"),
    ("no-batch-norm on a vae", [*T, "--no-batch-norm"], "batch_norm (--no-batch-norm) applies to model lvae"),
    ("decoder on a vae", [*T, "--decoder", "joint"], "decoder (--decoder) applies to model causalvae"),
    ("image size on the digits", ["train", "--steps", "2", "--out", "{ws}/l.pt", *LVAE, "--image-size", "28"],
     "image_size (--image-size) applies to dataset dsprites | pendulum"),
    ("label fit with cvae", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CVAE, "--label-fit", "mask"],
     "label_fit (--label-fit) applies to objective causal"),
    # --resume continues the run it saved: a changed flag is refused, naming it and the stored value
    *[(f"resume with another {flag}", ["train", "--steps", "4", "--resume", "--out", "{ws}/vae.pt", *VAE, flag, value],
       f"{flag} {value} (the run has") for flag, value in (("--lr", "0.01"), ("--seed", "3"), ("--batch-size", "8"))],
    ("resume with another recipe", ["train", "--steps", "4", "--resume", "--out", "{ws}/vae.pt", *VAE,
                                    "--recipe", "ch2-beta4"], "--recipe ch2-beta4 (the run is"),
    ("evaluate chunk 0", ["evaluate", "{ws}/vae.pt", "--chunk", "0"], "argument --chunk"),
    ("evaluate seed -1", ["evaluate", "{ws}/vae.pt", "--seed", "-1"], "argument --seed"),
    ("evaluate device gpu9", ["evaluate", "{ws}/vae.pt", "--device", "gpu9"], "unknown device 'gpu9'"),
    ("evaluate lvae on dsprites", ["evaluate", "{ws}/lvae.pt", "--dataset", "dsprites"],
     "holds a model of (1, 28, 28) images trained on digits"),
    ("evaluate vae on digits", ["evaluate", "{ws}/vae.pt", "--dataset", "digits"],
     "holds a model of (1, 32, 32) images trained on dsprites; --dataset digits gives (1, 28, 28)"),
    ("evaluate vae on imagenet", ["evaluate", "{ws}/vae.pt", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    ("pendulum batch 0", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--batch-size", "0"], "--batch-size"),
    ("evaluate causal with k", ["evaluate", "{ws}/causal.pt", "--k", "5"], "--k (importance sampling) is not available"),
    ("evaluate causal on dsprites", ["evaluate", "{ws}/causal.pt", "--dataset", "dsprites"], "need labelled images"),
    ("evaluate nothing", ["evaluate", "{ws}/none.pt"], "no checkpoint at"),
    ("evaluate a PNG", ["evaluate", "{ws}/traversal.png"], "not a readable vaecourse checkpoint"),
    ("evaluate truncated", ["evaluate", "{ws}/truncated.pt"], "not a readable vaecourse checkpoint"),
    # site, data
    ("site into the repository", ["site", "--root", "{ws}", "--out", "{ws}"], "into the repository"),
    ("site into notebooks", ["site", "--root", "{ws}", "--out", "{ws}/notebooks"], "inside the sources"),
    ("site onto a file", ["site", "--root", "{ws}", "--out", "{ws}/afile"], "is a file, not a folder"),
    ("site through a file", ["site", "--root", "{ws}", "--out", "{ws}/afile/site"], "afile is a file, not a folder"),
    ("site into /proc", ["site", "--root", "{ws}", "--out", "/proc/vaecourse-site"], "--out /proc/vaecourse-site cannot be written"),
    ("site rendered into /proc", ["site", "--root", "{ws}", "--out", "{ws}/site", "--rendered", "/proc/r"],
     "--rendered /proc/r cannot be written"),
    ("site from no folder", ["site", "--root", "{ws}/none", "--out", "{ws}/site"], "is not a folder"),
    ("exercises from no folder", ["build-exercises", "--root", "{ws}/none", "--check"], "is not a folder"),
    ("exercises from a file", ["build-exercises", "--root", "{ws}/afile"], "is not a folder"),
    ("exercises from a folder of no repository", ["build-exercises", "--root", "{ws}/folder", "--check"],
     "is not the repository root: it has no notebooks/ or solutions/ folder"),
    ("site timeout 0", ["site", "--timeout", "0"], "argument --timeout"),
    ("data unknown", ["data", "cifar"], "argument name: invalid choice: 'cifar'"),
    ("data missing file", ["data", "dsprites", "--path", "{ws}/none.npz"], "none.npz"),
    ("data a folder", ["data", "dsprites", "--path", "{ws}/folder"], "folder: expected a regular file"),
    # round two's held-out probe (issue 25): degenerate numbers and sizes the kinds did not bound
    ("show span 1e30", ["show", "{ws}/vae.pt", "--out", "{ws}/s.png", "--span", "1e30"],
     "argument --span: expected a span between 0.001 and 100 prior standard deviations"),
    ("show columns 1e6", ["show", "{ws}/vae.pt", "--out", "{ws}/s.png", "--columns", str(10 ** 6)],
     "argument --columns: expected a number of columns between 1 and 100"),
    ("show a poster", ["show", "{ws}/vae.pt", "--out", "{ws}/s.png", "--columns", "100", "--dpi", "1200"],
     "--dpi 1200 with 100 columns and 3 latents: the PNG would have"),
    ("clip 1e-46 is 0 in float32", [*T, "--clip-grad-norm", "1e-46"], "at least about 1.2e-38"),
    ("c-steps beyond int64 names its bound", [*T, "--objective", "capacity", "--c-steps", str(10 ** 19)],
     "expected a positive integer (at most 2**63 - 1"),
    # the second probe of round two: a degenerate weight diverged at step 0 in a line that did not name the flag (or
    # trained on garbage); every weight, bound and noise level is at most values.MAX_WEIGHT = 1e6, the encoder's
    # starting log-variance within +-30, refused before anything is built
    *[(f"{flag} {value}", [*base, flag, value], f"argument {flag}: expected {expected}")
      for base, flag, value, expected in (
          ([*T, "--objective", "constrained"], "--epsilon", "3e38", "a finite number >= 0 (at most 1e+06 in size"),
          ([*T, "--objective", "constrained"], "--lr-dual", "1e38", "a finite number >= 0 (at most 1e+06 in size"),
          ([*T, "--objective", "capacity"], "--gamma", "3e38", "a finite number >= 0 (at most 1e+06 in size"),
          ([*T, "--objective", "beta"], "--beta", "3.3e38", "a finite number >= 0 (at most 1e+06 in size"),
          (T, "--logvar-bias", "100", "a log-variance between -30 and 30"),
          (T, "--logvar-bias", "-40", "a log-variance between -30 and 30"),
          (["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL], "--lu-weight", "3e38", "a finite number >= 0"),
          (["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL], "--independence", "3e38", "a finite number >= 0"),
          (["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL], "--shadow-noise", "1e30", "a finite number >= 0"))],
    # --chunk without importance sampling changes nothing: refused as train's flags that do not apply are
    ("evaluate chunk without k", ["evaluate", "{ws}/vae.pt", "--chunk", "10", "--n", "4"],
     "--chunk applies to importance sampling (--k 1 or more) only, not to --k 0"),
    ("evaluate chunk with k 0", ["evaluate", "{ws}/vae.pt", "--chunk", "10", "--k", "0"], "--chunk applies to"),
    # the third probe of round two: a learning rate that overflows inside Adam (3e38: a traceback), a prior standard
    # deviation that is 0 in float32 (inf at step 0), the latent SCM's rules and the latent size in the flags' words
    ("lr 3e38 overflows inside Adam", [*T, "--lr", "3e38"], "argument --lr: expected a learning rate > 0 that float32 "
     "can hold (at least about 1e-38) (at most 1e+06 in size"),
    ("prior-std 1e-46", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--latent-scm", "equations",
                         "--graph-from", "labels", "--prior-std", "1e-46"],
     "argument --prior-std: expected a standard deviation between 0.001 and 1"),
    ("prior-std with the linear SCM", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--prior-std", "0.5"],
     "prior_std (--prior-std) applies to latent_scm equations only"),
    ("cycle without withheld labels", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--cycle", "1"],
     "cycle (--cycle) reads each counterfactual back with the labels withheld: it needs --label-dropout > 0"),
    ("equations without labels' graph", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--latent-scm",
                                         "equations"], "latent_scm (--latent-scm) 'equations' reads the label equations"),
    ("concept-dim x 4 concepts beyond 65,536", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CVAE, "--concept-dim",
                                                "65536"], "concept_dim (--concept-dim) x the pendulum's 4 concepts"),
    # sizes that reached the allocator: the weights counted on the meta device, one step's activations measured on one
    # image, both refused before anything is allocated, naming the flag and the estimate
    ("batch 65536 conv64", ["train", "--steps", "2", "--out", "{ws}/b.pt", "--encoder", "conv64", "--batch-size",
                            "65536", "--latent-dim", "3", "--no-progress", "--device", "cpu"],
     "batch_size (--batch-size) 65,536: one training step of this model would hold about"),
    ("batch 65536 mlp at 64", ["train", "--steps", "2", "--out", "{ws}/b.pt", "--encoder", "mlp", "--batch-size",
                               "65536", "--latent-dim", "3", "--no-progress", "--device", "cpu"],
     "GiB (0.26 MiB per image), expected at most 16 GiB: give --batch-size"),
    ("pendulum 1024 through the mlp", ["train", "--steps", "2", "--out", "{ws}/b.pt", "--model", "cvae", "--dataset",
                                       "pendulum", "--encoder", "mlp", "--image-size", "1024", "--batch-size", "4",
                                       "--no-progress", "--device", "cpu"],
     "the cvae model with encoder mlp on (3, 1024, 1024) images would have 7,557,327,952 weights"),
    ("lvae layers of 65536", ["train", "--steps", "2", "--out", "{ws}/l.pt", *LVAE, "--latent-sizes", "65536,65536",
                              "--hidden-sizes", "65536,65536"], "GiB with their gradients and Adam's two moments"),
    ("evaluate chunk x n beyond memory", ["evaluate", "{ws}/vae.pt", "--n", "1000", "--k", "100000", "--chunk",
                                          "100000"], "--chunk x --n (100,000 samples for each of 1,000 images)"),
    # --overwrite replaces a checkpoint, never notes, a PNG or a log; site --rendered never writes into the sources
    ("overwrite notes", ["train", "--steps", "2", "--overwrite", "--out", "{ws}/notes.csv", *VAE],
     "already exists and is not a vaecourse checkpoint: train does not replace it, even with --overwrite"),
    ("overwrite a PNG", ["train", "--steps", "2", "--overwrite", "--out", "{ws}/traversal.png", *VAE],
     "is not a vaecourse checkpoint"),
    ("overwrite a log", ["train", "--steps", "2", "--overwrite", "--out", "{ws}/vae.pt.log.json", *VAE],
     "is not a vaecourse checkpoint"),
    ("site --rendered into notebooks", ["site", "--root", "{ws}", "--out", "{ws}/site", "--rendered",
                                        "{ws}/notebooks"], "site --rendered"),
    # fourth probe: names that mean a folder or one of train's own files, empty paths, flags without their words
    ("train out ends in a slash", ["train", "--steps", "2", "--out", "{ws}/x.pt/", *VAE],
     "argument --out: expected a file name (not a folder"),
    ("train out ends in /.", ["train", "--steps", "2", "--out", "{ws}/x.pt/.", *VAE], "argument --out"),
    ("show out ends in a slash", ["show", "{ws}/vae.pt", "--out", "{ws}/x.png/"], "argument --out: expected a file"),
    ("train out is another run's lock", ["train", "--steps", "2", "--out", "{ws}/vae.pt.lock", *VAE],
     "and not ending in .lock: the lock train holds"),
    ("show out is a lock", ["show", "{ws}/vae.pt", "--out", "{ws}/vae.png.lock"], "argument --out"),
    ("show dpi 3", ["show", "{ws}/vae.pt", "--out", "{ws}/s.png", "--dpi", "3"], "between 10 and 1,200"),
    ("show layer x", ["show", "{ws}/lvae.pt", "--out", "{ws}/s.png", "--layer", "x"],
     "argument --layer: expected a stochastic layer's number (1 is next to x; the model says how many it has), got 'x'"),
    ("site root empty", ["site", "--root", "", "--out", "{ws}/s"], "argument --root: expected a folder"),
    ("site out empty", ["site", "--root", "{ws}", "--out", ""], "argument --out: expected a folder"),
    ("site rendered empty", ["site", "--root", "{ws}", "--out", "{ws}/s", "--rendered", ""], "argument --rendered"),
    ("site root without notebooks", ["site", "--root", "{ws}", "--out", "{ws}/s"], "holds no notebooks in"),
    ("build-exercises root empty", ["build-exercises", "--root", ""], "argument --root: expected a folder"),
    ("data path empty", ["data", "dsprites", "--path", ""], "argument --path: expected a path"),
    ("data cache-dir empty", ["data", "mnist", "--cache-dir", ""], "argument --cache-dir: expected a folder"),
    # sixth probe: a name the folder cannot hold failed at the first save; flags and data that change nothing
    ("train out name too long", ["train", "--steps", "2", "--out", "{ws}/" + "b" * 240 + ".pt", *VAE],
     "its name is too long for the folder"),
    ("train out folder name too long", ["train", "--steps", "2", "--out", "{ws}/" + "d" * 300 + "/m.pt", *VAE],
     "File name too long: "),  # the first look at the path says so, naming it
    ("show out name too long", ["show", "{ws}/vae.pt", "--out", "{ws}/" + "s" * 250 + ".png"],
     "its name is too long for the folder"),
    ("cvae x causal", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CVAE, "--objective", "causal", "--lu-weight", "5"],
     "model cvae cannot be trained with objective causal"),
    ("ladder objective on dsprites", ["train", "--steps", "2", "--out", "{ws}/l.pt", "--model", "lvae",
                                      "--latent-sizes", "4,2", "--hidden-sizes", "8,8", "--image-size", "16",
                                      "--batch-size", "4", "--no-progress", "--objective", "ladder"],
     "objective ladder warms its KL up over epochs"),
    ("dsprites image size 48", [*T, "--image-size", "48", "--encoder", "mlp"],
     "image_size (--image-size) of dsprites must divide 64"),
    ("pendulum image size 7", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--image-size", "7",
                               "--encoder", "mlp"], "image_size (--image-size) of the pendulum must be"),
    ("clip none is off, nan is not", [*T, "--clip-grad-norm", "nan"], "(none: off), got 'nan'"),
]


@pytest.mark.parametrize("argv, message", [pytest.param(a, m, id=i) for i, a, m in REFUSED])
def test_refused_with_one_line_and_nothing_changed(ws, capsys, argv, message):
    (ws / "link.pt").symlink_to(ws / "vae.pt")
    before = hashes(ws)
    code, _, err = run([a.format(ws=ws) for a in argv], capsys)
    assert code == 2, err
    assert_one_error_line(err, message)
    after = hashes(ws)
    assert {k: after.get(k) for k in before} == before  # every input is byte-identical
    assert not [name for name in after if name.endswith(".tmp")]


ACCEPTED = [
    # (id, argv, a piece of stdout): odd but meaningful commands that work and lose nothing
    ("out named .csv", ["train", "--steps", "2", "--out", "{ws}/m.csv", *VAE], "wrote"),
    ("out named .json", ["train", "--steps", "2", "--out", "{ws}/m.json", *VAE], "wrote"),
    ("out named .log.csv", ["train", "--steps", "2", "--out", "{ws}/m.log.csv", *VAE], "wrote"),
    ("out in new folders", ["train", "--steps", "2", "--out", "{ws}/a/b/c.pt", *VAE], "wrote"),
    ("resume with as many steps", ["train", "--steps", "2", "--resume", "--out", "{ws}/vae.pt", *VAE],
     "already holds all 2 steps; nothing to do"),
    ("show a .png checkpoint elsewhere", ["show", "{ws}/vae.png", "--out", "{ws}/v.png", "--columns", "2"], "wrote"),
    ("evaluate lvae on its own data", ["evaluate", "{ws}/lvae.pt", "--n", "8"], "ELBO"),
    ("evaluate more digits than there are", ["evaluate", "{ws}/lvae.pt", "--n", "100000"], "examples)"),
    ("evaluate the device spelled CPU", ["evaluate", "{ws}/vae.pt", "--n", "4", "--device", "CPU"], "ELBO"),
    ("evaluate chunk with k", ["evaluate", "{ws}/vae.pt", "--n", "4", "--k", "3", "--chunk", "2"],
     "importance-weighted log p(x) estimate, k=3"),
    ("a weight at its bound trains", ["train", "--steps", "2", "--out", "{ws}/c.pt", *CAUSAL, "--independence", "1e6"],
     "wrote"),
    # sixth probe
    ("clip and logvar bias none", ["train", "--steps", "2", "--out", "{ws}/n.pt", *VAE, "--clip-grad-norm", "none",
                                   "--logvar-bias", "None"], "wrote"),
    ("evaluate more scenes than the test split", ["evaluate", "{ws}/causal.pt", "--n", "100000"], "test images"),
]


@pytest.mark.parametrize("argv, output", [pytest.param(a, o, id=i) for i, a, o in ACCEPTED])
def test_accepted_and_nothing_lost(ws, capsys, argv, output):
    before = hashes(ws)
    code, out, err = run([a.format(ws=ws) for a in argv], capsys)
    assert code == 0, err
    assert output in out and "Traceback" not in err
    after = hashes(ws)
    assert {k: after.get(k) for k in before} == before
    assert not [name for name in after if name.endswith(".tmp")]


def test_out_named_like_a_log_keeps_checkpoint_and_logs_apart(ws, capsys):
    """--out m.csv: the checkpoint is m.csv, the logs m.csv.log.csv / m.csv.log.json; a resume keeps it so."""
    out = ws / "m.csv"
    assert run(["train", "--steps", "2", "--out", str(out), *VAE], capsys)[0] == 0
    assert run(["train", "--steps", "3", "--resume", "--out", str(out), *VAE], capsys)[0] == 0
    assert checkpoints.read(out).extra["step"] == 2
    assert (ws / "m.csv.log.csv").read_text().splitlines()[0].startswith("step,")
    assert len((ws / "m.csv.log.csv").read_text().splitlines()) == 4


def test_show_replaces_a_png_and_nothing_else(ws, capsys):
    before = hashes(ws)
    assert run(["show", str(ws / "vae.pt"), "--out", str(ws / "traversal.png"), "--columns", "3"], capsys)[0] == 0
    after = hashes(ws)
    assert after.pop("traversal.png") != before.pop("traversal.png") and after == before


def test_overwrite_replaces_and_a_fresh_out_is_written(ws, capsys):
    before = (ws / "lvae.pt").read_bytes()
    assert run(["train", "--steps", "2", "--overwrite", "--out", str(ws / "lvae.pt"), *VAE], capsys)[0] == 0
    assert (ws / "lvae.pt").read_bytes() != before and checkpoints.read(ws / "lvae.pt").model_class == "VAE"


def test_a_dead_process_temporary_is_removed_by_the_next_write(ws, capsys):
    """atomic_write names its temporary .NAME.pidPID.*.tmp; one whose process is gone (SIGKILL) is removed."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = ws / f".vae.pt.pid{int(dead.stdout)}.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    mine = ws / f".vae.pt.pid{os.getpid()}.live.tmp"  # a live writer's file is left alone
    mine.write_bytes(b"being written")
    assert run(["train", "--steps", "3", "--resume", "--out", str(ws / "vae.pt"), *VAE], capsys)[0] == 0
    assert not stale.exists() and mine.exists()


def test_running_out_of_memory_is_one_line(ws, capsys, monkeypatch):
    """torch's allocator reports in a RuntimeError; the command line says what to ask less of. Other
    RuntimeErrors are bugs and keep their traceback."""
    from vaecourse.data import catalog

    def huge(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you "
                           "tried to allocate 144000000000000 bytes.\nmore detail")

    monkeypatch.setattr(catalog, "make_dataset", huge)
    code, _, err = run(["evaluate", str(ws / "vae.pt")], capsys)
    assert code == 2
    assert_one_error_line(err, "out of memory: [enforce fail")
    monkeypatch.setattr(catalog, "make_dataset", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        main(["evaluate", str(ws / "vae.pt")])


def test_ctrl_c_before_training_is_one_line_and_status_130(ws, capsys, monkeypatch):
    """Ctrl-C while the data is prepared (before the handler that saves steps): nothing half-written, one line."""
    from vaecourse.cli import train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train.recipes, "make_data", interrupted)
    before = hashes(ws)
    code, _, err = run(["train", "--steps", "3", "--resume", "--out", str(ws / "vae.pt"), *VAE], capsys)
    assert code == 130 and err.strip() == "interrupted (Ctrl-C); every file written so far is complete"
    assert hashes(ws) == before



@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_outside_training_are_one_line_as_ctrl_c(prepared, tmp_path, signum):
    """Issue 25 (third probe): SIGTERM or SIGHUP after start-up but before training (here while show reads the
    checkpoint) ended the process without a word; it is answered as Ctrl-C is, with the shells' status 128 + N. The
    signal is sent from inside the command, so the test does not depend on timing."""
    script = ("import os, signal, sys\n"
              "from vaecourse import checkpoints\n"
              "from vaecourse.cli import main\n"
              "def load(*args, **kwargs):\n"
              f"    os.kill(os.getpid(), {int(signum)})\n"
              "    raise AssertionError('the signal did not interrupt')\n"
              "checkpoints.load = load\n"
              "sys.exit(main(['show', sys.argv[1], '--out', sys.argv[2]]))\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", script, str(prepared / "vae.pt"), str(tmp_path / "t.png")],
                          capture_output=True, text=True, env=env, timeout=120, start_new_session=True,
                          preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL))
    name = signal.Signals(signum).name
    assert done.returncode == 128 + signum, done.stderr
    assert done.stderr.strip() == f"interrupted ({name}); every file written so far is complete"
    assert not (tmp_path / "t.png").exists()


def test_main_puts_the_signal_handlers_back(ws, capsys):
    """main() answers SIGTERM and SIGHUP only while a command runs: a notebook or a test calling it keeps its own."""
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    run(["show", str(ws / "vae.pt"), "--out", str(ws / "t.png")], capsys)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == before


# ---- resume is exact for every model: N steps at once == N/2 steps, then --resume ------------------------------

@pytest.mark.parametrize("kind, arguments, steps", [
    ("vae", [*VAE, "--objective", "beta"], 4),
    ("lvae", [*LVAE, "--objective", "ladder", "--warmup-epochs", "1"], 8),  # resumes mid-epoch (3 steps per epoch)
    ("causalvae", CAUSAL, 4),
    ("cvae", CVAE, 4),
])
def test_resume_matches_an_uninterrupted_run(tmp_path, capsys, kind, arguments, steps):
    whole, split = tmp_path / "whole.pt", tmp_path / "split.pt"
    assert run(["train", "--steps", str(steps), "--out", str(whole), *arguments], capsys)[0] == 0
    assert run(["train", "--steps", str(steps // 2 + 1), "--out", str(split), *arguments], capsys)[0] == 0
    assert run(["train", "--steps", str(steps), "--resume", "--out", str(split), *arguments], capsys)[0] == 0
    a, b = checkpoints.read(whole), checkpoints.read(split)
    assert a.extra["history"]["records"] == b.extra["history"]["records"]
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), (kind, key)


# ---- Ctrl-C and SIGKILL: a real process ---------------------------------------------------------------------------

@pytest.fixture
def training_process(tmp_path):
    """Start a long tiny run that checkpoints every 2 steps; yield (process, out) once its first checkpoint is there."""
    out = tmp_path / "long.pt"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    process = subprocess.Popen([sys.executable, "-m", "vaecourse", "train", "--steps", "100000", "--checkpoint-every",
                                "2", "--out", str(out), *VAE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env,
                               # a terminal's Ctrl-C: SIGINT at its default even where this test runs with it ignored
                               # (nohup, a background job), which the train verb would otherwise respect
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not out.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.exists(), process.communicate()[1] if process.poll() is not None else "no checkpoint within 60 s"
    yield process, out
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_ctrl_c_saves_the_last_finished_step_and_says_how_to_resume(training_process, capsys):
    process, out = training_process
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("interrupted: saved step ") and f"to {out}; continue with: " in err and "--resume" in err
    saved = checkpoints.read(out).extra
    done = int(err.split("saved step ")[1].split()[0])
    assert saved["step"] == done - 1 and saved["history"]["steps"] == list(range(done))
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    # the printed command continues the run (here to two more steps)
    assert run(["train", "--steps", str(done + 2), "--resume", "--out", str(out), *VAE], capsys)[0] == 0
    assert checkpoints.read(out).extra["step"] == done + 1


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_save_as_ctrl_c_does(training_process, capsys, signum):
    """A batch scheduler's time limit (SIGTERM) or a closed terminal (SIGHUP) keeps every finished step, as Ctrl-C."""
    process, out = training_process
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert "Traceback" not in err and err.startswith(f"interrupted ({name}): saved step "), err
    done = int(err.split("saved step ")[1].split()[0])
    assert checkpoints.read(out).extra["step"] == done - 1


@pytest.mark.slow
def test_sigkill_leaves_a_whole_checkpoint_that_resumes(training_process, capsys):
    process, out = training_process
    process.kill()
    process.wait()
    saved = checkpoints.read(out).extra  # whole: atomic writes
    done = saved["step"] + 1
    assert run(["train", "--steps", str(done + 1), "--resume", "--out", str(out), *VAE], capsys)[0] == 0
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def _resave(payload, path) -> None:
    """torch.save of a hand-edited payload with its content digest made to match: a crafted file, not a damaged one."""
    payload["content_digest"] = checkpoints.content_digest(payload)
    torch.save(payload, path)


@pytest.mark.parametrize("edit", [
    lambda x: x.pop("optimizer"), lambda x: x.update(step="two"), lambda x: x.update(optimizer={"state": 3}),
    lambda x: x.update(generator_state=torch.zeros(3)), lambda x: x.update(history={"steps": 1}),
    lambda x: x.update(torch_rng_state="x"), lambda x: x.update(arguments=[1]),
    # round two: crafted states that resumed silently (step -5 resumed at step -4; an optimiser saved at another
    # learning rate trained on at it while the checkpoint recorded the recipe's)
    lambda x: x.update(step=-5), lambda x: x.update(step=True), lambda x: x.update(step=0),
    lambda x: x["optimizer"]["param_groups"][0].update(lr=100.0),
    lambda x: x["history"]["records"].update(loss=["a", "b"]), lambda x: x["history"].update(seconds="long"),
    # the third probe: Adam's moments of another shape (a traceback inside torch's Adam), a setting this version does
    # not know (ignored: the run continued without it), a NaN in the history (resumed as if it were a number)
    lambda x: [s.update(exp_avg=torch.zeros(1)) for s in x["optimizer"]["state"].values()],
    lambda x: x["arguments"].update(frobnicate=1),
    lambda x: x["history"]["records"]["loss"].__setitem__(0, float("nan")),
    # the fourth probe: no records (an IndexError after the checkpoint had been rewritten), Adam's step negative (a
    # traceback inside Adam) or NaN, no moments at all (fresh Adam: another run), total_steps 0 or a string, a
    # negative examples count, a recipe name that is not this run's, a field missing (lr: the default taken)
    lambda x: x["history"].update(records={}),
    lambda x: [s.update(step=torch.tensor(-3.0)) for s in x["optimizer"]["state"].values()],
    lambda x: [s.update(step=torch.tensor(float("nan"))) for s in x["optimizer"]["state"].values()],
    lambda x: [s.update(step=torch.tensor(1e6)) for s in x["optimizer"]["state"].values()],
    lambda x: [s.update(exp_avg_sq=-s["exp_avg_sq"] - 1) for s in x["optimizer"]["state"].values()],
    lambda x: x["optimizer"].update(state={}),
    lambda x: x.update(total_steps=0), lambda x: x.update(total_steps="2"),
    lambda x: x["history"].update(examples=-8), lambda x: x["history"].update(seconds=float("inf")),
    lambda x: x.update(recipe="nope"), lambda x: x.update(recipe=None), lambda x: x.update(recipe="ch1-vae"),
    lambda x: x["arguments"].update(name="ch1-vae"),
    lambda x: x["arguments"].pop("lr"), lambda x: x["arguments"].pop("latent_dim"),
    lambda x: x.update(objective_state={"beta": float("nan")}), lambda x: x.update(objective_state=[1]),
])
def test_resume_of_a_hand_edited_training_state_is_one_line_and_changes_nothing(ws, capsys, edit):
    """Issue 25: a crafted or hand-edited training state ended in a KeyError / TypeError / RuntimeError traceback,
    or resumed a run silently changed."""
    payload = torch.load(ws / "vae.pt", weights_only=True)
    edit(payload["extra"])
    _resave(payload, ws / "edited.pt")
    before = (ws / "edited.pt").read_bytes()
    code, _, err = run(["train", "--steps", "4", "--resume", "--out", str(ws / "edited.pt"), *VAE], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "cannot resume" in err and "edited.pt" in err
    assert (ws / "edited.pt").read_bytes() == before


def test_a_run_saved_before_a_field_existed_resumes_at_its_default(ws, capsys):
    """The fields added after the first checkpoints (resume.ADDED_LATER) may be absent: the shipped runs lack some,
    and a run saved without one ran at its default. Only those: without lr a resume took the default silently."""
    from vaecourse.cli.resume import ADDED_LATER

    payload = torch.load(ws / "vae.pt", weights_only=True)
    for key in ADDED_LATER:
        payload["extra"]["arguments"].pop(key, None)
    _resave(payload, ws / "older.pt")
    code, _, err = run(["train", "--steps", "4", "--resume", "--out", str(ws / "older.pt"), *VAE], capsys)
    assert code == 0, err
    assert checkpoints.read(ws / "older.pt").extra["step"] == 3


def test_two_runs_on_one_out_cannot_both_write_it(ws, capsys):
    """Issue 25: nothing locked --out, so two train runs (two new runs, a resume beside a run, an --overwrite beside
    a run) both printed "wrote" and one finished run was gone. A run holds OUT.lock; the second is refused."""
    from vaecourse.cli.outputs import RunLock

    for argv in (["train", "--steps", "2", "--out", str(ws / "fresh.pt"), *VAE],
                 ["train", "--steps", "4", "--resume", "--out", str(ws / "vae.pt"), *VAE],
                 ["train", "--steps", "2", "--overwrite", "--out", str(ws / "vae.pt"), *VAE]):
        before = hashes(ws)
        with RunLock(Path(argv[argv.index("--out") + 1])):  # a run in progress on that file
            code, _, err = run(argv, capsys)
        assert code == 2 and "another train run is writing" in err and f"process {os.getpid()}" in err, err
        assert {k: hashes(ws).get(k) for k in before} == before
    assert run(["train", "--steps", "2", "--out", str(ws / "fresh.pt"), *VAE], capsys)[0] == 0  # free again
    assert not list(ws.glob("*.lock"))  # and the lock is gone with its run


@pytest.mark.parametrize("target", ["fifo", "/dev/null"])
def test_out_and_data_paths_must_be_regular_files(ws, capsys, target):
    """train --out / show --out onto a FIFO or a device replaced it with a regular file; data --path a FIFO hung."""
    if target == "fifo":
        os.mkfifo(ws / "fifo")
        target = str(ws / "fifo")
    for argv in (["train", "--steps", "2", "--out", target, *VAE], ["show", str(ws / "vae.pt"), "--out", target],
                 ["data", "dsprites", "--path", target]):
        code, _, err = run(argv, capsys)
        assert code == 2 and "expected a regular file" in err, (argv, err)
    assert not Path(target).is_file()


def test_a_full_disk_is_found_before_training_and_a_failed_save_is_one_line(ws, capsys, monkeypatch):
    """Issue 25: a full disk showed only at the first save, after the training, as a 35-line traceback from torch's
    zip writer. The free space is compared with the checkpoint's size up front; a save that fails anyway (a
    file-size limit) is one line saying what the file holds."""
    import shutil as shutil_module
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: usage(10 ** 9, 10 ** 9, 1000))
    code, _, err = run(["train", "--steps", "2", "--out", str(ws / "full.pt"), *VAE], capsys)
    assert code == 2 and "MiB free and a checkpoint of this run needs about" in err, err
    monkeypatch.undo()

    def fail(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file "
                           "data/3: file write failed\n(and 30 more lines)")

    monkeypatch.setattr(checkpoints.torch, "save", fail)
    code, _, err = run(["train", "--steps", "2", "--out", str(ws / "full.pt"), *VAE], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "could not save step 2 to" in err and "Nothing was written to" in err and not (ws / "full.pt").exists()
    assert "a full disk or a file-size limit" in err and "inline_container" not in err  # torch's words, not ours


def test_a_file_named_like_a_runs_lock_is_never_truncated_or_removed(ws, capsys):
    """Fourth probe: a checkpoint someone saved as OUT.lock was truncated to a process number, then deleted, by the
    next run on OUT. The lock refuses a file that is not a lock; a run's own lock still comes and goes."""
    shutil.copy(ws / "vae.pt", ws / "fresh.pt.lock")
    before = hashes(ws)
    code, _, err = run(["train", "--steps", "2", "--out", str(ws / "fresh.pt"), *VAE], capsys)
    assert code == 2 and not (ws / "fresh.pt").exists()
    assert_one_error_line(err, "fresh.pt.lock exists and is not a train run's lock (it holds data)")
    assert hashes(ws) == before
    (ws / "fresh.pt.lock").unlink()
    (ws / "fresh.pt.lock").write_text("12345")  # a lock left by a killed run: taken over
    assert run(["train", "--steps", "2", "--out", str(ws / "fresh.pt"), *VAE], capsys)[0] == 0
    assert not (ws / "fresh.pt.lock").exists()


def test_a_second_signal_is_named_as_it_came():
    """Fourth probe: a second SIGTERM during the save was reported as "interrupted (Ctrl-C)", status 130."""
    from vaecourse.cli.main import _interrupted
    from vaecourse.cli.outputs import Interruption

    stop = Interruption()
    for signum, status in ((signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)):
        stop.requested = False
        stop._handle(signum, None)
        with pytest.raises(KeyboardInterrupt) as err:
            stop._handle(signum, None)
        assert _interrupted(err.value, "") == status


def test_a_named_recipe_with_more_steps_continues_its_shorter_twin(tmp_path, capsys, monkeypatch):
    """pretrained/README.md's chapter-1 route: the ch1-vae-3000 run resumed with --recipe ch1-vae to 15,000 steps.
    A --recipe that is the same run with other steps continues it (and names it); one that differs is refused."""
    from dataclasses import replace as changed

    from vaecourse import recipes
    short = recipes.Recipe(name="t-short", encoder="conv32", image_size=32, latent_dim=3, batch_size=4, steps=2)
    monkeypatch.setitem(recipes.RECIPES, "t-short", short)
    monkeypatch.setitem(recipes.RECIPES, "t-long", changed(short, name="t-long", steps=4))
    monkeypatch.setitem(recipes.RECIPES, "t-other", changed(short, name="t-other", steps=4, seed=5))
    out = tmp_path / "run.pt"
    assert run(["train", "--recipe", "t-short", "--out", str(out), "--no-progress"], capsys)[0] == 0
    code, _, err = run(["train", "--recipe", "t-other", "--resume", "--out", str(out), "--no-progress"], capsys)
    assert code == 2 and "--recipe t-other (the run is t-short; they differ in seed)" in err, err
    assert run(["train", "--recipe", "t-long", "--resume", "--out", str(out), "--no-progress"], capsys)[0] == 0
    saved = checkpoints.read(out).extra
    assert saved["step"] == 3 and saved["recipe"] == "t-long"


def test_an_edited_checkpoint_without_its_digest_is_refused_by_every_verb(ws, capsys):
    """A hand edit that keeps the old content digest is found by read(), so show, evaluate and --resume all refuse it
    in one line naming the file, before anything runs."""
    payload = torch.load(ws / "vae.pt", weights_only=True)
    payload["extra"]["arguments"]["lr"] = 0.5
    torch.save(payload, ws / "edited.pt")
    for argv in (["show", str(ws / "edited.pt"), "--out", str(ws / "e.png")], ["evaluate", str(ws / "edited.pt")],
                 ["train", "--steps", "4", "--resume", "--out", str(ws / "edited.pt")]):
        code, _, err = run(argv, capsys)
        assert code == 2, err
        assert_one_error_line(err, "edited.pt is damaged or was edited by hand")


def test_weights_that_overflow_are_refused_by_show_and_evaluate(ws, capsys):
    """Issue 25: finite but enormous weights gave a blank PNG and "ELBO nan" with no reason."""
    payload = torch.load(ws / "vae.pt", weights_only=True)
    for key, value in payload["state_dict"].items():  # every layer's weights, the decoder's included
        if value.dim() > 1:
            payload["state_dict"][key] = torch.full_like(value, 3e38)
    payload["state_digest"] = checkpoints.state_digest(payload["state_dict"])
    _resave(payload, ws / "huge.pt")
    code, _, err = run(["show", str(ws / "huge.pt"), "--out", str(ws / "h.png")], capsys)
    assert code == 2 and not (ws / "h.png").exists()
    assert_one_error_line(err, "huge.pt: its decoder gives NaN or infinite pixels")
    code, out, err = run(["evaluate", str(ws / "huge.pt"), "--n", "8"], capsys)
    assert code == 2 and "ELBO" not in out
    assert_one_error_line(err, "huge.pt: the model's ELBO on these images is not finite")


def test_a_run_through_a_symlink_is_locked_and_written_through_it(ws, capsys):
    """Issue 25 (probe): the lock was named after --out as spelt, so a --resume through a symlink ran beside the run
    on its target, and the save replaced the link by a regular file. The lock is the target's; the link stays."""
    from vaecourse.cli.outputs import RunLock

    (ws / "alias.pt").symlink_to(ws / "vae.pt")
    before = hashes(ws)
    with RunLock(ws / "vae.pt"):
        code, _, err = run(["train", "--steps", "4", "--resume", "--out", str(ws / "alias.pt")], capsys)
    assert code == 2 and "another train run is writing" in err, err
    assert hashes(ws) == before
    assert run(["train", "--steps", "4", "--resume", "--out", str(ws / "alias.pt")], capsys)[0] == 0
    assert (ws / "alias.pt").is_symlink() and checkpoints.read(ws / "vae.pt").extra["step"] == 3


@pytest.mark.parametrize("log", ["fifo.pt.log.csv", "fifo.pt.log.json"])
def test_a_fifo_where_a_log_goes_is_refused_not_read_for_ever(ws, capsys, log):
    """Issue 25 (probe): check_train_out read an existing OUT.log.csv to see whether it was a log; a FIFO there hung."""
    os.mkfifo(ws / log)
    code, _, err = run(["train", "--steps", "2", "--out", str(ws / "fifo.pt"), *VAE], capsys)
    assert code == 2
    assert_one_error_line(err, f"the training log {ws / log} is a FIFO: expected a regular file")


@pytest.mark.parametrize("argv", [
    ["train", "--steps", "2", "--out", "{ws}/loop", *VAE], ["show", "{ws}/vae.pt", "--out", "{ws}/loop"],
    ["show", "{ws}/loop", "--out", "{ws}/s.png"], ["evaluate", "{ws}/loop"]])
def test_a_link_that_loops_is_refused_in_one_line(ws, capsys, argv):
    """Issue 25 (third probe): a symbolic link to itself was replaced by train's checkpoint and was pathlib's
    RuntimeError traceback in show."""
    (ws / "loop").symlink_to(ws / "loop")
    before = hashes(ws)
    code, _, err = run([a.format(ws=ws) for a in argv], capsys)
    assert code == 2, err
    assert_one_error_line(err, "is a symbolic link that loops")
    assert (ws / "loop").is_symlink() and hashes(ws) == before


@pytest.mark.parametrize("log", ["vae.pt.log.json", "vae.pt.log.csv"])
def test_a_log_linked_to_another_runs_log_is_not_written_through(ws, capsys, log):
    """Issue 25 (third probe): OUT.log.json, a link to another run's log, was written through (that run's log lost)."""
    suffix = log.rsplit(".", 1)[1]
    (ws / f"q.pt.log.{suffix}").symlink_to(ws / log)
    before = hashes(ws)
    code, _, err = run(["train", "--steps", "2", "--out", str(ws / "q.pt"), *VAE], capsys)
    assert code == 2 and hashes(ws) == before and not (ws / "q.pt").exists()
    assert_one_error_line(err, f"is a link to {ws / log}, which is not this run's log")


def test_the_step_estimate_keeps_the_run_as_it_was(tmp_path, capsys):
    """The forward pass that measures a step's memory runs in eval mode with the random state forked: a run trains
    exactly as before it (the checkpoint of a 2-step run equals one built and trained without the estimate)."""
    from vaecourse import recipes
    recipe = recipes.Recipe(encoder="conv32", image_size=32, latent_dim=3, batch_size=4, steps=2)
    run_a = recipes.build(recipe, device="cpu")
    recipes.train(run_a, progress=False)
    original = recipes.check_step_fits
    try:
        recipes.check_step_fits = lambda *a: None
        run_b = recipes.build(recipe, device="cpu")
    finally:
        recipes.check_step_fits = original
    recipes.train(run_b, progress=False)
    for key, value in run_a.model.state_dict().items():
        assert torch.equal(value, run_b.model.state_dict()[key]), key


def test_a_read_that_fails_names_its_file(tmp_path):
    """EIO from /proc/self/mem (a failing disk) was '[Errno 5] Input/output error', naming no file (sixth probe)."""
    import errno

    from vaecourse import files

    with pytest.raises(OSError) as raised, files.naming(tmp_path / "data.npz"):
        raise OSError(errno.EIO, "Input/output error")
    assert raised.value.filename == str(tmp_path / "data.npz") and raised.value.errno == errno.EIO


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("argv", [["data", "dsprites", "--path", "/proc/self/mem"],
                                  ["show", "/proc/self/mem", "--out", "{ws}/a.png"]], ids=["data", "show"])
def test_a_file_that_cannot_be_read_is_named_in_one_line(ws, capsys, argv):
    code, _, err = run([a.format(ws=ws) for a in argv], capsys)
    assert code == 2
    assert_one_error_line(err, "/proc/self/mem")


def test_build_exercises_names_a_file_where_its_folder_goes(ws, capsys):
    """Each exercise was 'missing' (--check) or 'Not a directory: exercises/01_elbo.py' (sixth probe)."""
    shutil.rmtree(ws / "exercises", ignore_errors=True)
    (ws / "exercises").write_text("not a folder")
    for check in ([], ["--check"]):
        code, _, err = run(["build-exercises", "--root", str(ws), *check], capsys)
        assert code == 2
        assert_one_error_line(err, f"{ws / 'exercises'} is a file, not a folder")
    assert (ws / "exercises").read_text() == "not a folder"


def test_a_named_recipes_own_setting_is_not_blamed_on_the_learner():
    from dataclasses import replace

    from vaecourse import recipes

    with pytest.raises(ValueError, match=r"the recipe sets it or you gave it: it would change nothing"):
        replace(recipes.get("ch5-causalvae-promise"), objective="cvae", name="ch5-causalvae-promise + objective")


SEVENTH_PROBE = [  # (id, argv, a piece of the one error line)
    ("show out pdf", ["show", "{ws}/vae.pt", "--out", "{ws}/t.pdf"], "show writes a PNG, expected a name ending in .png"),
    ("show default out unwritable", ["show", "/proc/self/mem"], "the default --out (the checkpoint's name with .png)"),
    ("evaluate causal n 1", ["evaluate", "{ws}/causal.pt", "--n", "1"], "--n must be at least 2 for CausalVAE"),
    ("data mnist path a file", ["data", "mnist", "--path", "{ws}/vae.pt"], "--path {ws}/vae.pt must be a folder"),
    ("data dsprites cache-dir a file", ["data", "dsprites", "--cache-dir", "{ws}/vae.pt"],
     "--cache-dir {ws}/vae.pt must be a folder"),
]


@pytest.mark.parametrize("argv, message", [pytest.param(a, m, id=i) for i, a, m in SEVENTH_PROBE])
def test_seventh_probe_refusals_name_the_flag(ws, capsys, argv, message):
    before = hashes(ws)
    code, _, err = run([a.format(ws=ws) for a in argv], capsys)
    assert code == 2, err
    assert_one_error_line(err, message.format(ws=ws))
    assert hashes(ws) == before
