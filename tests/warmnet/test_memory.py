import platform

import pytest

from warmnet import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_gives_freed_heap_pages_back_on_glibc() -> None:
    # Many mid-sized blocks (malloc, not pymalloc), then freed: glibc keeps the pages
    # until trimmed.
    blocks = [bytearray(4096) for _ in range(20_000)]
    del blocks
    assert memory.trim() is True
