"""Data sets with known ground-truth factors: dSprites [matthey2017] (rendered or the official file), the pendulum
(chapter 5), handwritten digits (chapter 4), and views of them.

``GroundTruthDataset`` is the protocol the metrics rely on; ``DSprites`` renders on any device;
``load_official_dsprites`` loads (and on request downloads) the official file, verified. A view of a data set is a
data set (``Pooled(DSprites(), side=32)``, ``SubGrid``), so training, metrics and ``evaluate`` share one object;
``make_dataset`` gives the named data sets a run trains on.
"""

from vaecourse.data.base import GroundTruthDataset, check_dataset, mixed_radix_bases
from vaecourse.data.factors import FactorImages
from vaecourse.data.download import DownloadError, default_cache_dir
from vaecourse.data.dsprites import (
    FACTOR_NAMES as DSPRITES_FACTOR_NAMES,
    FACTOR_SIZES as DSPRITES_FACTOR_SIZES,
    OFFICIAL_BLOB_ID,
    OFFICIAL_FILENAME,
    OFFICIAL_URL,
    SHAPE_NAMES as DSPRITES_SHAPE_NAMES,
    DSprites,
)
from vaecourse.data.dsprites_official import OfficialDSprites, git_blob_id, load_official_dsprites
from vaecourse.data.views import Pooled, SubGrid, cpu_subgrid  # a data set seen differently is a data set
from vaecourse.data.epochs import shuffled_epochs
from vaecourse.data.catalog import DATASETS, TrainingData, make_dataset  # the data sets a run names
from vaecourse.data.pendulum import Pendulum, render_scene as render_pendulum  # chapter 5

from vaecourse.data.digit_images import DigitImages  # chapter 4: handwritten digits, what both loaders return
from vaecourse.data.mnist import dynamic_binarize, load_digit_images, load_mnist
from vaecourse.data.mnist5k import load_mnist5k  # chapter 4's offline default: 5,000 real MNIST digits, shipped

__all__ = [
    "GroundTruthDataset", "check_dataset", "mixed_radix_bases", "Pooled", "SubGrid", "cpu_subgrid",
    "DATASETS", "TrainingData", "make_dataset", "shuffled_epochs",
    "FactorImages", "DownloadError",
    "DSprites", "OfficialDSprites", "load_official_dsprites", "git_blob_id", "default_cache_dir",
    "DSPRITES_FACTOR_NAMES", "DSPRITES_FACTOR_SIZES", "DSPRITES_SHAPE_NAMES",
    "OFFICIAL_BLOB_ID", "OFFICIAL_FILENAME", "OFFICIAL_URL",
    "DigitImages", "dynamic_binarize", "load_digit_images", "load_mnist", "load_mnist5k",  # chapter 4
    "Pendulum", "render_pendulum",  # chapter 5
]
