"""The lib0 binary primitives Yjs and y-protocols are written in: varUint, varUint8Array,
varString.

varUint: 7 bits per byte, least significant group first, high bit set on every byte but the
last. Values are limited to 2**53 - 1 (lib0 reads numbers into JavaScript doubles), and the
reader rejects overlong encodings, so `write(read(data)) == data` for everything accepted.
"""

from __future__ import annotations

__all__ = ["MAX_SAFE_INTEGER", "Reader", "TruncatedData", "read_state_vector", "write_var_string",
           "write_var_uint", "write_var_uint8_array"]

MAX_SAFE_INTEGER = 2**53 - 1


class TruncatedData(ValueError):
    """The data ended, or held an invalid primitive, where a value was expected."""


def write_var_uint(value: int) -> bytes:
    """lib0 `writeVarUint`."""
    if not 0 <= value <= MAX_SAFE_INTEGER:
        raise ValueError(f"varUint out of range: {value}")
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def write_var_uint8_array(data: bytes) -> bytes:
    """lib0 `writeVarUint8Array`: the length as varUint, then the bytes."""
    return write_var_uint(len(data)) + data


def write_var_string(text: str) -> bytes:
    """lib0 `writeVarString`: the UTF-8 length as varUint, then the UTF-8 bytes."""
    return write_var_uint8_array(text.encode("utf-8"))


class Reader:
    """A cursor over lib0-encoded bytes; every read raises `TruncatedData` on bad input."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def at_end(self) -> bool:
        """True once every byte was consumed."""
        return self._pos == len(self._data)

    def read_var_uint(self) -> int:
        """lib0 `readVarUint`, strict: no overlong encoding, at most 2**53 - 1."""
        value = 0
        shift = 0
        while True:
            if self._pos >= len(self._data):
                raise TruncatedData("data ends inside a varUint")
            byte = self._data[self._pos]
            self._pos += 1
            value |= (byte & 0x7F) << shift
            if value > MAX_SAFE_INTEGER:
                raise TruncatedData("varUint exceeds 2**53 - 1")
            if not byte & 0x80:
                if byte == 0 and shift > 0:
                    raise TruncatedData("overlong varUint")
                return value
            shift += 7

    def read_var_uint8_array(self) -> bytes:
        """lib0 `readVarUint8Array`."""
        length = self.read_var_uint()
        end = self._pos + length
        if end > len(self._data):
            raise TruncatedData(f"array of {length} bytes runs past the end of the data")
        chunk = bytes(self._data[self._pos : end])
        self._pos = end
        return chunk

    def read_var_string(self) -> str:
        """lib0 `readVarString` (strict UTF-8)."""
        raw = self.read_var_uint8_array()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TruncatedData(f"string is not valid UTF-8: {exc.reason}") from None


def read_state_vector(data: bytes) -> dict[int, int]:
    """Decode a Yjs state vector (varUint count, then count x (client, clock))."""
    reader = Reader(data)
    entries = {}
    for _ in range(reader.read_var_uint()):
        client = reader.read_var_uint()
        entries[client] = reader.read_var_uint()
    if not reader.at_end:
        raise TruncatedData("trailing bytes after the state vector")
    return entries
