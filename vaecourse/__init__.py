"""vaecourse: a tested PyTorch library behind a notebook course on VAEs and disentanglement.

Everything a notebook imports lives in this package. ``import vaecourse`` itself gives the run-time switches
(:mod:`vaecourse.runtime`): ``fast_mode()``, ``site_mode()``, ``default_device()``, ``seed_everything()``, and
``__version__`` (their arguments checked by :mod:`vaecourse.values`, the one validation of the whole library); it
also starts the CPU thread governor (:mod:`vaecourse.threads`). Nothing else is loaded until
it is imported, so the package stays light. The submodules the notebooks work with:

- :mod:`vaecourse.data`: the data sets (``DSprites``, ``Pooled``, ``SubGrid``, ``FactorImages``, ``Pendulum``,
  ``load_digit_images``, ...), with :mod:`~vaecourse.data.pendulum` and :mod:`~vaecourse.data.reference`
- :mod:`vaecourse.distributions`: q(z|x), reparameterisation, closed-form and Monte-Carlo KLs
- :mod:`vaecourse.models`: ``VAE``, ``LadderVAE``, ``CausalVAE`` (and :mod:`~vaecourse.models.causal`'s layers)
- :mod:`vaecourse.objectives`: the ELBO, beta-VAE and its constrained variants, the ladder and causal objectives
- :mod:`vaecourse.train`: ``fit`` and its ``History``
- :mod:`vaecourse.metrics`: active units, the Higgins et al. metric, MIG, MIC/TIC, the causal scores, ...
  (submodules ``codes``, ``higgins``, ``mic``, ``causal``)
- :mod:`vaecourse.viz` and :mod:`vaecourse.widgets`: figures and the interactive explorers
- :mod:`vaecourse.pretrained`, :mod:`vaecourse.checkpoints` and :mod:`vaecourse.recipes`: the shipped models, how
  a model is saved and loaded, and the recipes that trained them
- :mod:`vaecourse.prose`: ``say`` (a lecture's sentence rendered from the cell's values) and ``claim`` (a checked
  claim: a warning when it fails, a failed build of the site)
- :mod:`vaecourse.scm` and :mod:`vaecourse.graph_fit`: structural causal models, and a causal graph learned
  from labels (chapter 5)

The exercises also import :mod:`vaecourse.check`, which checks each answer, and :mod:`vaecourse.likelihoods`, the
decoders' p(x|z). ``python -m vaecourse`` is the command line (:mod:`vaecourse.cli`). See docs/ for the notation and
the references (tests/test_package.py keeps this list in step with the notebooks' and exercises' imports).
"""

import sys

if sys.argv[:1] == ["-m"]:  # `python -m vaecourse ...` is starting: a Ctrl-C while torch loads is one line
    from vaecourse._starting import answer_ctrl_c_while_starting
    answer_ctrl_c_while_starting()

from vaecourse import threads
from vaecourse.runtime import default_device, fast_mode, seed_everything, site_mode

threads.start()  # torch's CPU threads follow the load from now on (vaecourse/threads.py, docs/performance.md)

__version__ = "0.1.0"

__all__ = ["__version__", "default_device", "fast_mode", "seed_everything", "site_mode"]
