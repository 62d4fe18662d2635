"""vaecourse: a tested PyTorch library behind a notebook course on VAEs and disentanglement.

Everything a notebook imports lives here; see docs/ for the notation and the references.
"""

from vaecourse import threads
from vaecourse.runtime import default_device, fast_mode, seed_everything, site_mode

threads.start()  # torch's CPU threads follow the load from now on (vaecourse/threads.py, docs/performance.md)

__version__ = "0.1.0"

__all__ = ["__version__", "default_device", "fast_mode", "seed_everything", "site_mode"]
