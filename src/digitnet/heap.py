"""Keeping freed memory for the next batch (glibc's malloc, Linux).

NumPy makes a new array for most results, so a training step allocates and frees many
temporaries of 0.1-30 MB (a cnn step of 128 images: the window copies, each layer's output and
gradient, the augmented batch). glibc's malloc hands large freed blocks back to the operating
system (it trims the heap above a threshold and unmaps blocks it mapped), and the next step asks
for them again: the kernel then maps and zeroes every page anew, on first touch, which in the
elementwise passes costs more than their arithmetic. Measured on a 2-core machine, alternating
with and without: augmenting 128 images 11.6-15.2 -> 3.8-5.1 ms; predicting the 10,000 test
images with LeNet-5, in a fresh process, 30,100-41,200 -> 41,800-48,100 images/s (cnn: no
change); training: a few percent (README, "Memory between batches").

``keep_freed_memory()`` sets malloc's two thresholds (``mallopt``) so that blocks below 32 MiB
come from the heap and the heap keeps up to 256 MiB of freed memory for reuse: the same pages
serve every batch. It is called by ``train`` and by predictions, once per process; blocks of
32 MiB and more (the data set itself) are still mapped and given back as before, and
``give_back()`` (``malloc_trim``, called when training ends) returns the freed memory the heap
keeps. ``DIGITNET_KEEP_MEMORY=0`` (or ``false``, ``no``, ``off``) leaves malloc as it is; ``1``,
``true``, ``yes``, ``on`` or unset keep the memory; anything else is an error that says so.
Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from typing import Any

from .errors import SpecError

#: mallopt's parameter numbers (glibc's malloc.h) and the values set
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2**20   # glibc's own largest (its dynamic threshold stops there)
TRIM_THRESHOLD = 256 * 2**20
#: the environment variable that turns it off, and the values it takes
ENV = "DIGITNET_KEEP_MEMORY"
OFF = ("0", "false", "no", "off")
ON = ("", "1", "true", "yes", "on")

_done = False


@functools.cache
def _libc() -> Any:
    """glibc, or None (another C library, another system)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # only glibc has it  # noqa: B018
        return libc
    except (OSError, AttributeError):
        return None


def wanted() -> bool:
    """Whether ``DIGITNET_KEEP_MEMORY`` leaves the memory kept (unset: yes)."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in OFF:
        return False
    if value in ON:
        return True
    raise SpecError(f"{ENV}={os.environ[ENV]!r}: set it to 0 to leave malloc as it is, or 1 "
                    f"(the default) to keep freed memory for the next batch")


def keep_freed_memory() -> bool:
    """Set malloc's thresholds (see the module's docstring), once; whether they are set."""
    global _done
    if _done:
        return True
    if not wanted():
        return False
    libc = _libc()
    if libc is None:
        return False
    _done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done


def give_back() -> None:
    """Return the freed memory the heap keeps to the operating system (``malloc_trim(0)``)."""
    if _done:
        libc = _libc()
        if libc is not None:
            libc.malloc_trim(0)
