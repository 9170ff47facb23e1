import struct
import time
import zlib

import numpy as np
import pytest

from neuralcodec.entropy.container import FORMAT_VERSION, MAGIC, Container, describe, pack, unpack
from neuralcodec.errors import FormatError

SAMPLE = Container("image", "lossless", 1, b"\x01" * 8,
                   {"height": 17, "width": 33, "channels": 3, "scale": 0.25, "note": "ok", "shape": [1, 2, -3]},
                   {"scales": b"\x00\x01\x02", "residuals": bytes(range(40))})


def test_round_trip_and_describe():
    data = pack(SAMPLE)
    assert unpack(data) == SAMPLE
    d = describe(data)
    assert d["streams"] == {"scales": 3, "residuals": 40} and d["fields"]["shape"] == [1, 2, -3]


def _reseal(body: bytes) -> bytes:
    """A crafted file with a *valid* checksum (what an attacker would write)."""
    return body + struct.pack("<I", zlib.crc32(body))


# A hang detector, not a speed target: each call takes ~0.1 ms here, but a shared CI
# machine can stall a process for a few hundred ms (CI once measured 0.17 s).
HANG_S = 2.0


def _timed_error(data: bytes) -> None:
    t0 = time.perf_counter()
    with pytest.raises(FormatError):
        unpack(data)
    assert time.perf_counter() - t0 < HANG_S


def test_truncation_at_every_byte():
    data = pack(SAMPLE)
    for n in range(len(data)):
        _timed_error(data[:n])


def test_every_single_bit_flip():
    data = pack(SAMPLE)
    for i in range(len(data) * 8):
        b = bytearray(data)
        b[i // 8] ^= 1 << (i % 8)
        _timed_error(bytes(b))


def test_random_bytes():
    rng = np.random.default_rng(0)
    for n in rng.integers(0, 400, 300):
        _timed_error(MAGIC + bytes([FORMAT_VERSION]) + rng.bytes(int(n)))
        _timed_error(rng.bytes(int(n)))


def test_wrong_magic_and_version_say_so():
    data = pack(SAMPLE)
    with pytest.raises(FormatError, match="magic"):
        unpack(b"XXXX" + data[4:])
    with pytest.raises(FormatError, match="version 9"):
        unpack(data[:4] + b"\x09" + data[5:])


@pytest.mark.parametrize("fields", [
    {"height": 100_000, "width": 100_000},
    {"height": 60_000, "width": 60_000},
    {"samples": 10**12, "sample_rate": 24000},
    {"height": -5, "width": 3},
    {"height": "tall"},
])
def test_absurd_sizes_are_refused_even_with_a_valid_checksum(fields):
    c = Container("image", "lossless", fields={})
    body = pack(c)[:-4]
    # rebuild the header by hand with the absurd fields (pack itself refuses them)
    from neuralcodec.entropy.container import _pack_field, _str8, _uv
    header = (_str8("lossless") + _uv(1) + bytes(8) + bytes([len(fields)])
              + b"".join(_pack_field(k, v) for k, v in fields.items()) + b"\x00")
    crafted = _reseal(MAGIC + bytes([FORMAT_VERSION, 1]) + _uv(len(header)) + header)
    assert body  # the honest file exists
    with pytest.raises(FormatError):
        unpack(crafted)
    with pytest.raises((FormatError, ValueError)):
        pack(Container("image", "lossless", fields=fields))


def test_stream_lengths_that_lie_are_refused():
    from neuralcodec.entropy.container import _str8, _uv
    header = _str8("x") + _uv(1) + bytes(8) + b"\x00" + b"\x01" + _str8("s") + _uv(10**15)
    with pytest.raises(FormatError, match="disagree"):
        unpack(_reseal(MAGIC + bytes([FORMAT_VERSION, 0]) + _uv(len(header)) + header + b"abc"))
    header = _str8("x") + _uv(1) + bytes(8) + b"\x00" + b"\x01" + _str8("s") + _uv(3)
    assert unpack(_reseal(MAGIC + bytes([FORMAT_VERSION, 0]) + _uv(len(header)) + header + b"abc")).streams == {"s": b"abc"}
