"""The facts a model list needs, read from a GGUF file's header.

Only the header is parsed (through mmap, so the weights are never read): the
metadata key-value pairs, and the tensor shapes to count parameters when the
file carries no size label.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_MAGIC: Final = b"GGUF"

# GGUF value types: the fixed-size ones map to their struct format.
_STRING: Final = 8
_ARRAY: Final = 9
_SCALARS: Final[dict[int, str]] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}

# llama.cpp's llama_ftype: what `general.file_type` says about the weights.
_FILE_TYPES: Final[dict[int, str]] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
}

Scalar = int | float | bool | str


@dataclass(frozen=True)
class GgufFacts:
    architecture: str
    context_length: int | None
    basename: str | None
    size_label: str | None
    quantization: str
    parameter_count: int
    has_chat_template: bool

    @property
    def parameter_size(self) -> str:
        """Ollama's style ("135M", "1.2B"): the file's own label when it has one."""
        if self.size_label:
            return self.size_label
        count = self.parameter_count
        if count >= 1_000_000_000:
            return f"{count / 1_000_000_000:.1f}B"
        if count >= 1_000_000:
            return f"{count / 1_000_000:.0f}M"
        return str(count) if count else "unknown"


class _Reader:
    def __init__(self, data: mmap.mmap) -> None:
        self._data = data
        self.pos = 0

    def unpack(self, fmt: str) -> Scalar:
        (value,) = struct.unpack_from(fmt, self._data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value  # type: ignore[no-any-return]

    def u32(self) -> int:
        return int(self.unpack("<I"))

    def u64(self) -> int:
        return int(self.unpack("<Q"))

    def string(self) -> str:
        length = self.u64()
        raw = self._data[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def value(self, kind: int) -> Scalar | None:
        """A scalar value, or None for an array (which is skipped: none of the
        facts wanted is an array, and the vocabulary ones are large)."""
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            self._skip_array()
            return None
        raise ValueError(f"unknown GGUF value type {kind}")

    def _skip_array(self) -> None:
        kind = self.u32()
        count = self.u64()
        if kind in _SCALARS:
            self.pos += count * struct.calcsize(_SCALARS[kind])
        elif kind == _STRING:
            for _ in range(count):
                length = self.u64()  # read before the position it advances is added to
                self.pos += length
        else:
            for _ in range(count):
                self.value(kind)


def read_facts(path: Path) -> GgufFacts:
    """Raises ValueError when the file is not a GGUF model llama.cpp can read."""
    try:
        return _read(path)
    except struct.error as exc:  # a header that runs past the end of the file
        raise ValueError(f"{path} is not a complete GGUF file ({exc})") from exc


def _read(path: Path) -> GgufFacts:
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != _MAGIC:
            raise ValueError(f"{path} is not a GGUF file")
        reader = _Reader(data)
        reader.pos = 4
        version = reader.u32()
        if version < 2:
            # Version 1 used 32-bit lengths; llama.cpp no longer reads it either.
            raise ValueError(f"{path} is GGUF version {version}; version 2 or newer is needed")
        tensor_count = reader.u64()
        kv_count = reader.u64()
        meta: dict[str, Scalar] = {}
        for _ in range(kv_count):
            key = reader.string()
            value = reader.value(reader.u32())
            if value is not None:
                meta[key] = value
        parameters = 0
        for _ in range(tensor_count):
            reader.string()  # name
            dims = [reader.u64() for _ in range(reader.u32())]
            reader.u32()  # element type
            reader.u64()  # offset
            size = 1
            for dim in dims:
                size *= dim
            parameters += size

    architecture = str(meta.get("general.architecture") or "unknown")
    context = meta.get(f"{architecture}.context_length")
    file_type = meta.get("general.file_type")
    basename = meta.get("general.basename")
    size_label = meta.get("general.size_label")
    return GgufFacts(
        architecture=architecture,
        context_length=context if isinstance(context, int) and context > 0 else None,
        basename=basename if isinstance(basename, str) and basename else None,
        size_label=size_label if isinstance(size_label, str) and size_label else None,
        quantization=_FILE_TYPES.get(file_type, "unknown")
        if isinstance(file_type, int)
        else "unknown",
        parameter_count=parameters,
        has_chat_template="tokenizer.chat_template" in meta,
    )
