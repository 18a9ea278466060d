import platform

import pytest

from warmnet import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_gives_freed_heap_pages_back_on_glibc() -> None:
    # Mid-sized blocks (glibc malloc, not pymalloc), then one more kept above them:
    # freeing the first ones leaves pages glibc cannot give back by itself (they are
    # not at the top of the heap) until it is told to trim.
    blocks = [bytearray(4096) for _ in range(20_000)]
    pin = bytearray(4096)
    del blocks
    assert memory.trim() is True
    del pin
