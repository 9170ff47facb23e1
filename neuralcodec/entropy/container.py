"""The neuralcodec file: self-describing, checksummed, never pickled. Pure stdlib (no torch).

Layout (little-endian; ``v`` = unsigned LEB128 varint, ``s`` = signed zigzag varint)::

    "NCDC" | u8 format version | u8 modality | v header length | header | streams | u32 CRC32
    header  = str8 codec | v codec version | 8 bytes weights hash
            | u8 field count, fields | u8 stream count, (str8 name, v length) per stream
    field   = str8 key | u8 type | value   (type 0: s int, 1: f64, 2: str16, 3: u8 n + n s ints)
    str8    = u8 length + UTF-8;  str16 = u16 length + UTF-8

The CRC32 covers every byte before it. :func:`unpack` checks sizes, magic, version, checksum and
limits before it allocates anything, and raises :class:`FormatError` (one line) for any problem.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from ..errors import FormatError

MAGIC = b"NCDC"
FORMAT_VERSION = 1
MODALITIES = ("raw", "image", "audio", "video")
HASH_BYTES = 8
_MIN_SIZE = 4 + 1 + 1 + 1 + 4
Value = int | float | str | list

# Limits on well-known fields: what no real input needs, refused before any allocation.
LIMITS: dict[str, tuple[float, float]] = {
    "height": (1, 1 << 16), "width": (1, 1 << 16), "channels": (1, 64),
    "samples": (0, 1 << 34), "sample_rate": (1, 768_000), "frames": (1, 1 << 20),
    "fps": (1e-3, 1000), "symbols": (0, 1 << 34), "quality": (0, 1 << 16),
}
MAX_PIXELS = 1 << 28            # height * width (about 268 megapixels)
MAX_TOTAL_SAMPLES = 1 << 36     # samples * channels


@dataclass(frozen=True)
class Container:
    """One coded file. ``fields`` hold shapes and rates; ``streams`` the coded bytes by name."""

    modality: str
    codec: str
    codec_version: int = 1
    weights_hash: bytes = bytes(HASH_BYTES)
    fields: dict[str, Value] = field(default_factory=dict)
    streams: dict[str, bytes] = field(default_factory=dict)


def _uv(n: int) -> bytes:
    if n < 0:
        raise ValueError("unsigned varint of a negative number")
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _sv(n: int) -> bytes:
    return _uv((n << 1) if n >= 0 else ((-n) << 1) - 1)


def _str8(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 255:
        raise ValueError(f"name too long: {s[:40]}...")
    return bytes([len(b)]) + b


def _pack_field(key: str, v: Value) -> bytes:
    if isinstance(v, bool) or not isinstance(v, (int, float, str, list, tuple)):
        raise ValueError(f"field {key!r}: unsupported type {type(v).__name__}")
    if isinstance(v, int):
        return _str8(key) + b"\x00" + _sv(v)
    if isinstance(v, float):
        return _str8(key) + b"\x01" + struct.pack("<d", v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        return _str8(key) + b"\x02" + struct.pack("<H", len(b)) + b
    if len(v) > 255 or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise ValueError(f"field {key!r}: lists hold at most 255 ints")
    return _str8(key) + b"\x03" + bytes([len(v)]) + b"".join(_sv(x) for x in v)


def pack(c: Container) -> bytes:
    """Serialise a container (validating it as :func:`unpack` would)."""
    if c.modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}")
    if len(c.weights_hash) != HASH_BYTES:
        raise ValueError(f"weights_hash must be {HASH_BYTES} bytes")
    if len(c.fields) > 255 or len(c.streams) > 255:
        raise ValueError("at most 255 fields and 255 streams")
    _check_limits(c.fields)
    header = (_str8(c.codec) + _uv(c.codec_version) + c.weights_hash
              + bytes([len(c.fields)]) + b"".join(_pack_field(k, v) for k, v in c.fields.items())
              + bytes([len(c.streams)]) + b"".join(_str8(k) + _uv(len(v)) for k, v in c.streams.items()))
    body = (MAGIC + bytes([FORMAT_VERSION, MODALITIES.index(c.modality)]) + _uv(len(header)) + header
            + b"".join(bytes(v) for v in c.streams.values()))
    return body + struct.pack("<I", zlib.crc32(body))


class _Reader:
    """Bounds-checked cursor: every read that would pass ``end`` raises FormatError."""

    def __init__(self, data: bytes, pos: int, end: int):
        self.data, self.pos, self.end = data, pos, end

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise FormatError(f"truncated header (while reading {what})")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(b)

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def uv(self, what: str) -> int:
        n, shift = 0, 0
        while True:
            b = self.u8(what)
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
            if shift > 63:
                raise FormatError(f"varint too long (while reading {what})")

    def sv(self, what: str) -> int:
        u = self.uv(what)
        return (u >> 1) ^ -(u & 1)

    def str8(self, what: str) -> str:
        try:
            return self.take(self.u8(what), what).decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"invalid text (while reading {what})") from None


def _read_field(r: _Reader) -> tuple[str, Value]:
    key = r.str8("field name")
    kind = r.u8(f"type of {key}")
    if kind == 0:
        return key, r.sv(key)
    if kind == 1:
        return key, struct.unpack("<d", r.take(8, key))[0]
    if kind == 2:
        n = struct.unpack("<H", r.take(2, key))[0]
        try:
            return key, r.take(n, key).decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"invalid text in field {key!r}") from None
    if kind == 3:
        return key, [r.sv(key) for _ in range(r.u8(key))]
    raise FormatError(f"unknown field type {kind} for {key!r}")


def _check_limits(fields: dict[str, Value]) -> None:
    def num(k: str) -> float:
        v = fields.get(k, 1)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise FormatError(f"field {k!r} must be a number")
        return v

    for k, (lo, hi) in LIMITS.items():
        if k in fields and not lo <= num(k) <= hi:
            raise FormatError(f"field {k}={fields[k]} is outside {lo:g}..{hi:g}")
    if num("height") * num("width") > MAX_PIXELS:
        raise FormatError(f"{fields.get('height')}x{fields.get('width')} pixels exceeds the limit of {MAX_PIXELS}")
    if num("samples") * num("channels") > MAX_TOTAL_SAMPLES:
        raise FormatError("sample count exceeds the limit")


def _parse(data: bytes, with_streams: bool) -> tuple[Container, dict[str, int]]:
    if len(data) < _MIN_SIZE:
        raise FormatError(f"not a neuralcodec file (only {len(data)} bytes)")
    if data[:4] != MAGIC:
        raise FormatError("not a neuralcodec file (bad magic bytes)")
    if data[4] != FORMAT_VERSION:
        raise FormatError(f"unsupported format version {data[4]} (this reader knows {FORMAT_VERSION})")
    end = len(data) - 4
    if zlib.crc32(memoryview(data)[:end]) != struct.unpack("<I", data[end:])[0]:
        raise FormatError("checksum mismatch: the file is corrupt or truncated")
    if data[5] >= len(MODALITIES):
        raise FormatError(f"unknown modality {data[5]}")
    r = _Reader(data, 6, end)
    hlen = r.uv("header length")
    r.end = min(end, r.pos + hlen)
    if r.pos + hlen > end:
        raise FormatError("header length exceeds the file")
    codec, version, whash = r.str8("codec name"), r.uv("codec version"), r.take(HASH_BYTES, "weights hash")
    fields = dict(_read_field(r) for _ in range(r.u8("field count")))
    _check_limits(fields)
    names = [(r.str8("stream name"), r.uv("stream length")) for _ in range(r.u8("stream count"))]
    if r.pos != r.end:
        raise FormatError("header has trailing bytes")
    if sum(n for _, n in names) != end - r.pos:
        raise FormatError("stream lengths disagree with the file size")
    if len({k for k, _ in names}) != len(names):
        raise FormatError("duplicate stream names")
    streams, pos = {}, r.pos
    if with_streams:
        for k, n in names:
            streams[k] = bytes(data[pos:pos + n])
            pos += n
    return Container(MODALITIES[data[5]], codec, version, whash, fields, streams), dict(names)


def unpack(data: bytes) -> Container:
    """Parse a file's bytes; raises FormatError for anything malformed."""
    return _parse(data, with_streams=True)[0]


def describe(data: bytes) -> dict:
    """The header as a JSON-ready dict (what ``neuralcodec info`` prints)."""
    c, lengths = _parse(data, with_streams=False)
    return {"format_version": FORMAT_VERSION, "modality": c.modality, "codec": c.codec,
            "codec_version": c.codec_version, "weights_hash": c.weights_hash.hex(),
            "fields": c.fields, "streams": lengths, "file_bytes": len(data), "crc32": "ok"}
