"""TFLite's sparse tensor encoding (schema ``SparsityParameters``), computed from a dense numpy array.

The format (tensorflow/lite/schema/schema.fbs, ``SparsityParameters`` / ``DimensionMetadata``): the dense
tensor's dimensions are traversed in ``traversal_order``; a dimension may be split into blocks, whose
inner extent becomes an extra trailing dimension named in ``block_map``. Each traversed dimension is
``DENSE`` (just a size) or ``SPARSE_CSR`` (``array_segments`` + ``array_indices``: for each position of
the dimensions before it, the range of stored indices). The buffer holds only the stored values.

Here: identity traversal, every dimension dense except the last original one (CSR), with an optional
block of ``b`` along the first dimension (``b``x1, output channels) or the last one (1x``b``, inputs).
A stored entry is then a whole block, so block-sparse weights cost one index per ``b`` values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprune.errors import EdgepruneError


@dataclass(frozen=True)
class DimSpec:
    """One traversed dimension: dense (``size``) or CSR (``segments``, ``indices``)."""

    size: int
    segments: np.ndarray | None = None
    indices: np.ndarray | None = None

    @property
    def sparse(self) -> bool:
        return self.segments is not None


@dataclass(frozen=True)
class SparseLayout:
    """A dense tensor in TFLite's sparse encoding: metadata plus the stored values (dense dtype)."""

    shape: tuple[int, ...]
    traversal_order: list[int]
    block_map: list[int]
    dims: list[DimSpec]
    values: np.ndarray

    @property
    def block(self) -> str:
        """``1x1`` (no block), ``Bx1`` (along dim 0: output channels) or ``1xB`` (along the last dim)."""
        if not self.block_map:
            return "1x1"
        size = self.dims[-1].size
        return f"{size}x1" if self.block_map == [0] else f"1x{size}"

    @property
    def stored(self) -> int:
        """Values held in the buffer (zeros inside stored blocks included)."""
        return int(self.values.size)

    def nbytes(self) -> int:
        """Bytes of the values plus the index arrays as they will be written (narrowest integer type)."""
        total = self.values.nbytes
        for d in self.dims:
            if d.sparse:
                total += index_array(d.segments).nbytes + index_array(d.indices).nbytes
        return total


def index_array(values: np.ndarray) -> np.ndarray:
    """``values`` in the narrowest of uint8 / uint16 / int32 (the schema's ``SparseIndexVector`` types)."""
    top = int(values.max()) if values.size else 0
    for dtype in (np.uint8, np.uint16):
        if top <= np.iinfo(dtype).max:
            return values.astype(dtype)
    if top > np.iinfo(np.int32).max:
        raise EdgepruneError(f"sparse encoding: index {top} does not fit in int32")
    return values.astype(np.int32)


def _expanded(dense: np.ndarray, block: tuple[int, int]) -> tuple[np.ndarray, list[int], int]:
    """(dense reshaped to the traversed dims, block_map, block size) for a (rows, cols) block."""
    rows, cols = block
    if rows > 1 and cols > 1:
        raise EdgepruneError(f"sparse encoding: block {rows}x{cols} is not supported (one of its sides must be 1)")
    if rows > 1:
        if dense.shape[0] % rows:
            raise EdgepruneError(f"sparse encoding: dim 0 ({dense.shape[0]}) is not a multiple of block {rows}")
        split = dense.reshape(dense.shape[0] // rows, rows, *dense.shape[1:])
        return np.moveaxis(split, 1, -1), [0], rows
    if cols > 1:
        if dense.shape[-1] % cols:
            raise EdgepruneError(f"sparse encoding: last dim ({dense.shape[-1]}) is not a multiple of block {cols}")
        return dense.reshape(*dense.shape[:-1], dense.shape[-1] // cols, cols), [dense.ndim - 1], cols
    return dense, [], 1


def encode(dense: np.ndarray, block: tuple[int, int] = (1, 1)) -> SparseLayout:
    """Encode ``dense`` (any rank >= 1) with the last original dimension CSR and an optional block."""
    if dense.ndim < 1:
        raise EdgepruneError("sparse encoding: a scalar cannot be encoded")
    expanded, block_map, b = _expanded(np.ascontiguousarray(dense), block)
    n = dense.ndim
    lead = expanded.shape[: n - 1]
    width = expanded.shape[n - 1]
    cells = expanded.reshape(int(np.prod(lead, dtype=np.int64)), width, b)
    present = (cells != 0).any(axis=2)
    segments = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int64)
    indices = np.nonzero(present)[1].astype(np.int64)
    dims = [DimSpec(int(s)) for s in lead]
    dims.append(DimSpec(int(width), segments, indices))
    dims += [DimSpec(b)] if block_map else []
    return SparseLayout(
        shape=tuple(int(s) for s in dense.shape),
        traversal_order=list(range(n + len(block_map))),
        block_map=block_map,
        dims=dims,
        values=cells[present].reshape(-1),
    )


def decode(layout: SparseLayout) -> np.ndarray:
    """The dense array back from a layout made by :func:`encode` (a reference for tests and checks)."""
    n = len(layout.shape)
    b = layout.dims[-1].size if layout.block_map else 1
    lead = [d.size for d in layout.dims[: n - 1]]
    csr = layout.dims[n - 1]
    cells = np.zeros((int(np.prod(lead, dtype=np.int64)), csr.size, b), dtype=layout.values.dtype)
    rows = np.repeat(np.arange(len(csr.segments) - 1), np.diff(csr.segments))
    cells[rows, csr.indices] = layout.values.reshape(-1, b)
    expanded = cells.reshape(*lead, csr.size, *([b] if layout.block_map else []))
    if layout.block_map == [0]:
        return np.moveaxis(expanded, -1, 1).reshape(layout.shape)
    return expanded.reshape(layout.shape)


def smallest(dense: np.ndarray, blocks: tuple[tuple[int, int], ...] = ((1, 1), (4, 1), (1, 4))) -> SparseLayout:
    """The most compact encoding of ``dense`` among ``blocks`` that tile it."""
    best: SparseLayout | None = None
    for block in blocks:
        rows, cols = block
        if (rows > 1 and dense.shape[0] % rows) or (cols > 1 and dense.shape[-1] % cols):
            continue
        layout = encode(dense, block)
        if best is None or layout.nbytes() < best.nbytes():
            best = layout
    if best is None:
        raise EdgepruneError(f"sparse encoding: no block in {blocks} tiles shape {dense.shape}")
    return best
