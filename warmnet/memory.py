"""Giving freed memory back to the operating system.

CPython frees objects into the C allocator, and glibc keeps freed pages in its heaps
(one per thread that allocated) until told otherwise: a collector whose alert state
churns tens of megabytes every few seconds otherwise sits ~20 MB above what it uses
(bench/README.md). `trim()` asks glibc to release them; elsewhere it does nothing.
"""

import ctypes
import ctypes.util
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _trim = _libc.malloc_trim
except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
    _trim = None


def trim() -> bool:
    """Release free heap memory to the OS; True if the C library could."""
    return _trim is not None and bool(_trim(0))
