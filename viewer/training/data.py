"""CIFAR-10 for the training lab: the readers live in viewer/cifar10.py, shared with the tool (the atlas
reads CIFAR-10 too, and the tool never imports the lab). These names stay here so that the lab's modules
and existing scripts keep importing `viewer.training.data`."""
from ..cifar10 import (  # noqa: F401  (re-exported)
    CIFAR10_CLASSES,
    DataError,
    Dataset,
    Split,
    load_batches_folder,
    load_cifar10,
    load_npz,
    sha256_of,
)
