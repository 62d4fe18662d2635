"""vaecourse: a tested PyTorch library behind a notebook course on VAEs and disentanglement.

Everything a notebook imports lives here; see docs/ for the notation and the references.
"""

from vaecourse.runtime import default_device, fast_mode, seed_everything

__version__ = "0.1.0"

__all__ = ["__version__", "default_device", "fast_mode", "seed_everything"]
