"""How stored histories are encoded: compact JSON text (json_bytes), compressed with Zstandard at
level 1 for everything written now; zlib, which earlier versions wrote, is still read (a stored
chunk is never rewritten: its address is the sha256 of its text, whatever compresses it).

Against zlib at level 1 on agent histories, Zstandard reads 2.2 times and writes 3.7 times
faster and stores a little smaller; a bulk repair reads every message of every conversation.
"""

from __future__ import annotations

import json
import threading
import zlib
from typing import Any

import zstandard

# Every Zstandard frame starts with it; a zlib stream starts with 0x78.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LEVEL = 1

# A compressor costs more to make than to compress a chunk with, and may not be shared between
# threads: one of each per thread.
_local = threading.local()


def _codecs() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    codecs = getattr(_local, "codecs", None)
    if codecs is None:
        codecs = _local.codecs = (zstandard.ZstdCompressor(level=LEVEL), zstandard.ZstdDecompressor())
    return codecs


def pack(data: bytes) -> bytes:
    # python-zstandard allocates the worst-case size and keeps it (only the length shrinks):
    # a copy of the few bytes it wrote frees the rest (a 16 MB history held 20 MB for 0.7 MB).
    return bytes(memoryview(_codecs()[0].compress(data)))


def unpack(data: bytes | memoryview) -> bytes:
    data = bytes(data)
    if data[:4] == ZSTD_MAGIC:
        return _codecs()[1].decompress(data)
    return zlib.decompress(data)


def json_bytes(value: Any) -> bytes:
    """The JSON text a head or a chunk is stored as (before pack): compact, UTF-8."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        # Half a surrogate pair (JavaScript string slicing makes them) cannot be UTF-8: escaped
        # JSON keeps it exactly, and reads back the same.
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()
