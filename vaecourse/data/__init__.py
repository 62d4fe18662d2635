"""Data sets with known ground-truth factors: dSprites [matthey2017] (rendered or the official file).

``GroundTruthDataset`` is the protocol the metrics rely on; ``DSprites`` renders on any device;
``load_official_dsprites`` loads (and on request downloads) the official file, verified.
"""

from vaecourse.data.base import GroundTruthDataset, mixed_radix_bases
from vaecourse.data.factors import FactorImages
from vaecourse.data.download import DownloadError
from vaecourse.data.dsprites import (
    FACTOR_NAMES as DSPRITES_FACTOR_NAMES,
    FACTOR_SIZES as DSPRITES_FACTOR_SIZES,
    OFFICIAL_BLOB_ID,
    OFFICIAL_FILENAME,
    OFFICIAL_URL,
    SHAPE_NAMES as DSPRITES_SHAPE_NAMES,
    DSprites,
    OfficialDSprites,
    default_cache_dir,
    git_blob_id,
    load_official_dsprites,
)
from vaecourse.data.pendulum import Pendulum, render_scene as render_pendulum  # chapter 5

from vaecourse.data.mnist import (  # chapter 4: handwritten digits
    DigitImages,
    dynamic_binarize,
    load_digit_images,
    load_mnist,
)
from vaecourse.data.mnist5k import load_mnist5k  # chapter 4's offline default: 5,000 real MNIST digits, shipped

__all__ = [
    "GroundTruthDataset", "mixed_radix_bases",
    "FactorImages", "DownloadError",
    "DSprites", "OfficialDSprites", "load_official_dsprites", "git_blob_id", "default_cache_dir",
    "DSPRITES_FACTOR_NAMES", "DSPRITES_FACTOR_SIZES", "DSPRITES_SHAPE_NAMES",
    "OFFICIAL_BLOB_ID", "OFFICIAL_FILENAME", "OFFICIAL_URL",
    "DigitImages", "dynamic_binarize", "load_digit_images", "load_mnist", "load_mnist5k",  # chapter 4
    "Pendulum", "render_pendulum",  # chapter 5
]
