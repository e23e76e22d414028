"""TFLite flatbuffer layout: buffers written after the flatbuffer moved inside it, 16-byte aligned.

litert-torch and ai-edge-quantizer (when a model's weights pass 256 KiB: ``ModelModifier._serialize_model``) write
weight buffers *after* the flatbuffer and point at them with ``offset``/``size``. LiteRT reads that layout; TFLM
copies such buffers into its tensor arena (measured here: a mobilenet_v2 0.35 int8 file's 400,752 bytes of
external weights appeared in the arena, 704 KB instead of 303 KB), where a microcontroller would keep them in flash.
:func:`inline_buffers` rewrites the standard layout, every buffer inside the flatbuffer.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from edgeprune.errors import EdgepruneError

BUFFER_ALIGNMENT = 16
MAX_FLATBUFFER = 2**31  # flatbuffers' offsets are 32-bit


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema


def inline_external_buffers(model: Any, data: bytes) -> None:
    """Move buffers stored after the flatbuffer (``offset`` > 1) of the unpacked ``model`` into it."""
    for buffer in model.buffers:
        if (buffer.offset or 0) > 1:
            start, size = int(buffer.offset), int(buffer.size)
            if start + size > len(data):
                raise EdgepruneError(f"tflite: a buffer points past the end of the file ({start}+{size})")
            buffer.data = np.frombuffer(data[start : start + size], dtype=np.uint8)
            buffer.offset = buffer.size = 0


@functools.cache
def _aligned_buffer_type(schema: Any) -> type:
    """A ``BufferT`` whose bytes are packed 16-byte aligned (the schema's ``force_align: 16`` on Buffer.data)."""

    class AlignedBuffer(schema.BufferT):
        def Pack(self, builder: Any) -> int:
            payload = None
            if self.data is not None:
                raw = bytes(np.asarray(self.data, dtype=np.uint8))
                builder.StartVector(1, len(raw), BUFFER_ALIGNMENT)
                builder.head -= len(raw)
                builder.Bytes[builder.head : builder.head + len(raw)] = raw
                payload = builder.EndVector()
            schema.BufferStart(builder)
            if payload is not None:
                schema.BufferAddData(builder, payload)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    return AlignedBuffer


def aligned(schema: Any, buffer: Any) -> Any:
    """``buffer`` as a BufferT that packs its bytes 16-byte aligned."""
    packed = _aligned_buffer_type(schema)()
    packed.data, packed.offset, packed.size = buffer.data, buffer.offset, buffer.size
    return packed


def pack(model: Any) -> bytes:
    """Serialize an unpacked ``ModelT`` with every buffer inside, aligned."""
    import flatbuffers

    schema = _schema()
    model.buffers = [aligned(schema, b) for b in model.buffers]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = bytes(builder.Output())
    if len(out) >= MAX_FLATBUFFER:
        raise EdgepruneError(f"tflite: the rewritten model has {len(out):,} bytes (flatbuffers: < 2 GB)")
    return out


def has_external_buffers(data: bytes) -> bool:
    model = _schema().Model.GetRootAs(data, 0)
    return any(model.Buffers(i).Offset() > 1 for i in range(model.BuffersLength()))


def inline_buffers(data: bytes) -> bytes:
    """``data`` with every external buffer moved inside the flatbuffer (unchanged when there is none)."""
    if not has_external_buffers(data):
        return data
    model = _schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    inline_external_buffers(model, data)
    return pack(model)
