"""Open a virtual file's block (CIAO rules: 1-based numbering, the default
block) and read its rows in chunks from a memory map.

Knows FITS blocks and headers; knows nothing about filters or plans. Column
metadata is ``xdm.io.columns``; writing products is ``xdm.io.atomic`` and
``xdm.io.writer``.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import mmap
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xdm.errors import Span, XdmIOError, XdmSemanticError
from xdm.io.cards import Cards
from xdm.io.columns import ColumnMeta, column_metas, column_vectors, raw_dtype
from xdm.io.plainfits import PlainHdu, record_dtype, scan_plain

if TYPE_CHECKING:
    from astropy.io.fits import HDUList, Header
    from numpy.typing import NDArray

    from xdm.lang.nodes import VirtualFile

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "Block",
    "BlockHandle",
    "HeaderCache",
    "block_names",
    "open_block",
    "open_vf_block",
    "release_pages",
    "resolve_path",
    "shared_headers",
]

DEFAULT_CHUNK_ROWS = 2_000_000
"""Rows per chunk: large enough to amortise numexpr's call cost, small enough that
the per-chunk temporaries (a few arrays of this length) stay well under 100 MB."""


@dataclass(slots=True)
class Block:
    """An opened block of a file: header, column metadata and raw row access.

    ``cards`` is the header as read: a lean ``Cards`` for a plain file (read
    without astropy, ``xdm.io.plainfits``), else astropy's ``Header``; both answer
    ``get``, ``[]``, ``in``, iteration and ``copy``. ``header`` is always an
    astropy ``Header`` (made from the cards on first use). Both may be shared with
    a ``HeaderCache`` and the blocks reopened from its ``handle``: read them, copy
    them before changing them. The astropy HDU list (``hdul``) is opened on first
    use; use the block as a context manager or call ``close()``.
    """

    path: str
    index: int  # 0-based HDU index; CIAO number is index + 1
    name: str
    cards: Any  # Cards | Header
    _hdul: HDUList | None = None
    nrows: int = 0
    columns: tuple[ColumnMeta, ...] = ()
    vectors: dict[str, tuple[str, str]] = field(default_factory=dict)
    _raw: NDArray[Any] | None = None
    _derived: dict[str, Any] = field(default_factory=dict)
    _data_offset: int | None = None  # file offset of the rows, when uncompressed
    _stamp: tuple[int, int] | None = None  # (size, mtime_ns) when opened
    plain: tuple[PlainHdu, ...] | None = None  # every HDU, when read without astropy

    @property
    def handle(self) -> BlockHandle:
        """What reopening this block needs: its place in the file and what its
        header said (``BlockHandle.open`` maps the rows again)."""
        if self.is_table and "dtype" not in self._derived and self._hdul is not None:
            self._derived["dtype"] = raw_dtype(self._hdul[self.index])
        return BlockHandle(
            path=self.path,
            index=self.index,
            name=self.name,
            cards=self.cards,
            nrows=self.nrows,
            columns=self.columns,
            vectors=self.vectors,
            data_offset=self._data_offset,
            stamp=self._stamp,
            derived=self._derived,
            plain=self.plain,
        )

    @property
    def header(self) -> Header:
        """The block's header as an astropy ``Header`` (imports astropy)."""
        return _astropy_header(self.cards, self._derived)

    @property
    def hdul(self) -> HDUList:
        """The file's astropy HDU list (memory-mapped), opened on first use."""
        if self._hdul is None:
            import warnings

            from astropy.io import fits

            with warnings.catch_warnings():  # open_block has checked the file
                warnings.simplefilter("ignore")
                self._hdul = fits.open(self.path, memmap=True, lazy_load_hdus=False)
        return self._hdul

    @property
    def hdus(self) -> Sequence[Any]:
        """Every HDU of the file: ``PlainHdu`` for a plain file (no astropy), else
        the astropy HDU list. Both have ``header``; ``hdu_bytes`` writes both."""
        return self.plain if self.plain is not None else self.hdul

    @property
    def subspace(self) -> Any:
        """The block's data subspace (``xdm.io.subspace.Subspace``), read once."""
        found = self._derived.get("subspace")
        if found is None:
            from xdm.io.subspace import Subspace

            found = self._derived["subspace"] = Subspace.from_header(self.cards)
        return found

    # ------------------------------------------------------------ description
    @property
    def is_table(self) -> bool:
        return str(self.cards.get("XTENSION", "")).strip().upper() in ("BINTABLE",)

    @property
    def is_image(self) -> bool:
        return not self.is_table and int(self.cards.get("NAXIS", 0)) > 0

    @property
    def ciao_number(self) -> int:
        return self.index + 1

    def column(self, name: str) -> ColumnMeta | None:
        """The column called ``name`` (case-insensitive), or None."""
        key = name.lower()
        return next((c for c in self.columns if c.key == key), None)

    def vector(self, name: str) -> tuple[ColumnMeta, ColumnMeta] | None:
        """The two components of vector column ``name`` (``sky`` -> x, y), or None."""
        pair = self.vectors.get(name.lower())
        if pair is None:
            return None
        a, b = self.column(pair[0]), self.column(pair[1])
        return (a, b) if a is not None and b is not None else None

    def require_column(
        self, name: str, *, source: str | None = None, span: Span | None = None
    ) -> ColumnMeta:
        """The column ``name``; an unknown name raises with the nearest suggestion."""
        col = self.column(name)
        if col is not None:
            return col
        choices = [c.name for c in self.columns] + sorted(self.vectors)
        near = difflib.get_close_matches(name.lower(), [c.lower() for c in choices], 1)
        hint = f"did you mean '{near[0]}'?" if near else None
        raise XdmSemanticError(
            f"unknown column '{name}' in block {self.name}"
            + (f" (did you mean '{near[0]}'?)" if near else ""),
            source=source,
            span=span,
            expected=tuple(choices),
            hint=None if hint else "columns: " + ", ".join(choices),
        )

    # ------------------------------------------------------------ rows
    def raw(self) -> NDArray[Any]:
        """All rows as a raw (big-endian, unscaled) structured array.

        Uncompressed files are memory-mapped, so slicing reads only the touched
        pages; compressed files are decompressed into memory by astropy.
        """
        if self._raw is None:
            self._raw = _raw_records(self)
        return self._raw

    def iter_chunks(
        self, chunk_rows: int = DEFAULT_CHUNK_ROWS
    ) -> Iterator[tuple[int, NDArray[Any]]]:
        """Yield ``(first_row, records)`` for consecutive slices of the rows.

        When the rows are memory-mapped, each chunk's pages are released from
        the process (``release_pages``) once the consumer asks for the next
        chunk, so resident memory stays at about one chunk whatever the file
        size. The file's pages stay in the OS page cache, and a view the
        consumer kept remains valid: a read-only file mapping re-reads them.
        """
        raw = self.raw()
        n = len(raw)
        step = max(1, chunk_rows)
        for start in range(0, n, step):
            stop = min(n, start + step)
            yield start, raw[start:stop]
            release_pages(raw, start, stop)

    def close(self) -> None:
        self._raw = None
        if self._hdul is not None:
            self._hdul.close()
            self._hdul = None

    def __enter__(self) -> Block:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def release_pages(raw: NDArray[Any], start: int, stop: int) -> None:
    """Drop rows ``start:stop`` of a read-only memory map from the resident set.

    ``madvise(MADV_DONTNEED)`` on the whole pages inside those rows (1e8 rows of
    60 bytes: 5.8 GB resident without it, about 200 MB with it, same speed). A
    no-op for in-memory arrays, writable maps and platforms without madvise.
    Safe for views still held: pages of a shared read-only file mapping are
    faulted in again from the page cache on the next access.
    """
    mm = getattr(raw, "_mmap", None)
    if (
        mm is None
        or getattr(raw, "mode", None) != "r"
        or _MADV_DONTNEED is None
        or stop <= start
    ):
        return
    # the mmap starts at the allocation boundary below the data's file offset
    base = int(getattr(raw, "offset", 0)) % mmap.ALLOCATIONGRANULARITY
    itemsize = raw.dtype.itemsize
    lo = base + start * itemsize
    hi = base + stop * itemsize
    lo -= lo % mmap.PAGESIZE  # the page shared with earlier rows was consumed
    hi -= hi % mmap.PAGESIZE  # the page shared with later rows is still needed
    if hi > lo:
        with contextlib.suppress(OSError, ValueError):
            mm.madvise(_MADV_DONTNEED, lo, hi - lo)


_MADV_DONTNEED: int | None = (
    getattr(mmap, "MADV_DONTNEED", None) if hasattr(mmap.mmap, "madvise") else None
)


# ---------------------------------------------------------------- opening


def resolve_path(path: str, base_dir: str | os.PathLike[str] | None = None) -> Path:
    """Expand ``$VAR``/``~`` and make ``path`` relative to ``base_dir``."""
    expanded = os.path.expanduser(os.path.expandvars(path))
    p = Path(expanded)
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    return p


@dataclass(frozen=True, slots=True, eq=False)
class BlockHandle:
    """A block as ``open_block`` chose it: the file, the HDU, the header and
    column metadata, and where the rows start. ``open`` maps the rows again
    without reading the headers or choosing the block again (the planner opens
    a block once; a plan's run reopens it from this)."""

    path: str
    index: int
    name: str
    cards: Any  # Cards | Header, as Block.cards
    nrows: int
    columns: tuple[ColumnMeta, ...]
    vectors: dict[str, tuple[str, str]]
    data_offset: int | None
    stamp: tuple[int, int] | None
    derived: dict[str, Any]  # what blocks opened from it work out once (dtype, DSS)
    plain: tuple[PlainHdu, ...] | None = None  # as Block.plain

    @property
    def header(self) -> Header:
        """The header as an astropy ``Header``, the one its blocks give."""
        return _astropy_header(self.cards, self.derived)

    def open(self, *, source: str | None = None) -> Block:
        """The block again; a file changed since (size or time) is refused."""
        if self.stamp is not None:
            try:
                now = os.stat(self.path)
            except OSError:
                now = None
            if now is None or (now.st_size, now.st_mtime_ns) != self.stamp:
                raise XdmIOError(
                    f"{self.path} changed after it was planned",
                    source=source,
                    hint="plan the virtual file again",
                )
        return Block(
            path=self.path,
            index=self.index,
            name=self.name,
            cards=self.cards,
            nrows=self.nrows,
            columns=self.columns,
            vectors=self.vectors,
            _derived=self.derived,
            _data_offset=self.data_offset,
            _stamp=self.stamp,
            plain=self.plain,
        )


def _astropy_header(cards: Any, derived: dict[str, Any]) -> Header:
    """``cards`` as an astropy ``Header``, made once per block (in ``derived``)."""
    if not isinstance(cards, Cards):
        return cards
    found = derived.get("header")
    if found is None:
        from astropy.io import fits

        found = derived["header"] = fits.Header.fromstring(cards.tostring())
    return found


def open_block(
    path: str,
    *,
    block_name: str | None = None,
    block_number: int | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    source: str | None = None,
    span: Span | None = None,
    block_span: Span | None = None,
    cache: HeaderCache | None = None,
) -> Block:
    """Open ``path`` and select a block (CIAO rules).

    ``block_number`` is 1-based counting the primary (``[2]`` is the first
    extension); ``block_name`` matches EXTNAME or HDUNAME case-insensitively
    (``GTI7`` also matches EXTNAME ``GTI`` with EXTVER 7). With neither, the first
    table with rows or image with NAXIS>0 is chosen.

    With a ``cache`` (owned by the caller: a session, a completer; or the one
    of an enclosing ``HeaderCache.active()``), headers and column metadata of
    uncompressed files read before come from it, validated against the file's
    header bytes, so opening the same file again does not re-parse its headers.
    Without one, the headers are read every time. A plain file
    (``xdm.io.plainfits``) is read without astropy; any other through astropy.
    """
    real = resolve_path(path, base_dir)
    try:
        stat = os.stat(real)
    except OSError:
        stat = None
    if stat is None or not real.exists():
        raise XdmIOError(
            f"file not found: {path}",
            source=source,
            span=span,
            hint=f"looked for {real}",
        )
    cache = cache if cache is not None else _ACTIVE_CACHE.get()
    meta = None if cache is None else cache.get(real, stat)
    hdul = None
    if meta is None:
        from xdm.io.fitscheck import check_file

        checked = check_file(real, path, source=source, span=span)  # our words
        plain = scan_plain(real, checked)  # the headers as the check read them
        if plain is not None:
            meta = _plain_meta(plain)
            if cache is not None:
                cache.put(real, stat, meta)
    if meta is None:
        import warnings

        from astropy.io import fits

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hdul = fits.open(real, memmap=True, lazy_load_hdus=False)
        except Exception as exc:
            raise XdmIOError(
                f"cannot read {path} as FITS: {exc}", source=source, span=span
            ) from None
        try:
            meta = _file_meta(real, hdul)
            if cache is not None:
                cache.put(real, stat, meta)
        except BaseException:
            hdul.close()
            raise
    try:
        if block_name is None and block_number is None and meta.default is not None:
            index = meta.default
        else:
            index = _choose_block(
                meta.headers,
                block_name,
                block_number,
                path,
                source,
                block_span,
                meta.names,
            )
            if block_name is None and block_number is None:
                meta.default = index
    except BaseException:
        if hdul is not None:
            hdul.close()
        raise
    header = meta.headers[index]
    derived = meta.blocks.setdefault(index, {})
    block = Block(
        path=str(real),
        index=index,
        name=meta.names[index],
        cards=header,
        _hdul=hdul,
        _derived=derived,
        _data_offset=meta.data_offsets[index] if meta.cacheable else None,
        _stamp=(stat.st_size, stat.st_mtime_ns),
        plain=meta.plain,
    )
    if block.is_table:
        block.nrows = int(header.get("NAXIS2", 0))
        if "columns" not in derived:
            derived["columns"] = tuple(column_metas(header))
            derived["vectors"] = column_vectors(header, derived["columns"])
        block.columns = derived["columns"]
        block.vectors = derived["vectors"]
    return block


@dataclass(slots=True)
class _FileMeta:
    """What ``open_block`` needs from a file's headers, read once by astropy."""

    headers: tuple[Any, ...]  # Cards, or astropy Header copies detached from the file
    names: tuple[str, ...]
    header_spans: tuple[tuple[int, int], ...]  # (start, end) of each header
    header_bytes: bytes
    data_offsets: tuple[int, ...]
    cacheable: bool  # uncompressed: offsets are file offsets
    plain: tuple[PlainHdu, ...] | None = None  # read without astropy
    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    default: int | None = None  # the default block's index, once chosen


def _file_meta(real: Path, hdul: HDUList) -> _FileMeta:
    """The headers, names and offsets of an opened file's blocks."""
    headers = tuple(h.header.copy() for h in hdul)
    infos = [hdul.fileinfo(i) for i in range(len(hdul))]
    compressed = any(
        getattr(info.get("file"), "compression", None) is not None for info in infos
    )
    return _FileMeta(
        headers=headers,
        names=tuple(_block_name(h, i) for i, h in enumerate(headers)),
        header_spans=tuple((int(i["hdrLoc"]), int(i["datLoc"])) for i in infos),
        header_bytes=b"",
        data_offsets=tuple(int(i["datLoc"]) for i in infos),
        cacheable=not compressed,
    )


def _plain_meta(hdus: Sequence[PlainHdu]) -> _FileMeta:
    """The headers, names and offsets of a plain file's blocks (no astropy)."""
    headers = tuple(h.cards for h in hdus)
    return _FileMeta(
        headers=headers,
        names=tuple(_block_name(h, i) for i, h in enumerate(headers)),
        header_spans=tuple((h.header_start, h.data_start) for h in hdus),
        header_bytes=b"",
        data_offsets=tuple(h.data_start for h in hdus),
        cacheable=True,
        plain=tuple(hdus),
    )


class HeaderCache:
    """Header metadata of recently opened files, keyed by path and stat, for
    a caller that opens the same files again and again (``open_block(cache=)``).

    A hit is also checked against the file's header bytes (one read per HDU,
    ~20 us), so a file rewritten in the same timestamp tick with the same size
    is not mistaken for the old one. Compressed files are not cached. Safe to
    share between threads.
    """

    MAX_FILES = 32

    def __init__(self) -> None:
        import threading

        self._files: dict[tuple[Any, ...], _FileMeta] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(real: Path, stat: os.stat_result) -> tuple[Any, ...]:
        return (
            os.path.abspath(real),
            stat.st_dev,
            stat.st_ino,
            stat.st_size,
            stat.st_mtime_ns,
        )

    def get(self, real: Path, stat: os.stat_result) -> _FileMeta | None:
        """The file's metadata if it was put here and its headers are unchanged."""
        key = self._key(real, stat)
        meta = self._files.get(key)
        if meta is None:
            return None
        now = _header_bytes(real, meta)
        with self._lock:
            if now != meta.header_bytes:
                self._files.pop(key, None)
                return None
            self._files.pop(key, None)
            self._files[key] = meta  # most recently used last
        return meta

    def put(self, real: Path, stat: os.stat_result, meta: _FileMeta) -> None:
        """Keep ``meta`` (read from ``real`` as ``stat`` describes it)."""
        now = _header_bytes(real, meta) if meta.cacheable else None
        if now is None:
            return
        meta.header_bytes = now
        with self._lock:
            while len(self._files) >= self.MAX_FILES:
                del self._files[next(iter(self._files))]
            self._files[self._key(real, stat)] = meta

    def clear(self) -> None:
        """Forget every file."""
        with self._lock:
            self._files.clear()

    @contextlib.contextmanager
    def active(self) -> Iterator[HeaderCache]:
        """Let every ``open_block`` of the ``with`` body (this thread, this
        context) that is given no cache use this one: a session owns a cache
        and runs each statement inside ``active()``."""
        token = _ACTIVE_CACHE.set(self)
        try:
            yield self
        finally:
            _ACTIVE_CACHE.reset(token)


_ACTIVE_CACHE: contextvars.ContextVar[HeaderCache | None] = contextvars.ContextVar(
    "xdm_header_cache", default=None
)
"""The cache of the innermost ``HeaderCache.active()``: none unless a caller
installed its own (no state is kept between calls otherwise)."""


def _header_bytes(real: Path, meta: _FileMeta) -> bytes | None:
    """The bytes of the file's headers now (what a cache hit is checked against)."""
    try:
        with open(real, "rb") as fh:
            parts = []
            for start, end in meta.header_spans:
                fh.seek(start)
                parts.append(fh.read(end - start))
    except OSError:
        return None
    return b"".join(parts)


@contextlib.contextmanager
def shared_headers() -> Iterator[HeaderCache]:
    """The enclosing ``HeaderCache.active()`` cache (a session's), else a new one
    active in the body: a command opening a file twice reads its headers once."""
    found = _ACTIVE_CACHE.get()
    with contextlib.nullcontext(found) if found else HeaderCache().active() as cache:
        yield cache


def open_vf_block(
    vf: VirtualFile,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    source: str | None = None,
    span: Span | None = None,
    cache: HeaderCache | None = None,
) -> Block:
    """``open_block`` for the file and ``[block]`` a virtual file names; errors
    point at ``span`` (default: the whole virtual file)."""
    ref = vf.block
    return open_block(
        vf.path,
        block_name=ref.name if ref else None,
        block_number=ref.number if ref else None,
        base_dir=base_dir,
        source=source,
        span=vf.span if span is None else span,
        block_span=ref.span if ref else None,
        cache=cache,
    )


def block_names(hdul: HDUList) -> list[str]:
    """Block names in file order (CIAO numbering is position + 1)."""
    return [_block_name(h.header, i) for i, h in enumerate(hdul)]


def _block_name(header: Header, index: int) -> str:
    for key in ("HDUNAME", "EXTNAME"):
        value = str(header.get(key, "")).strip()
        if value:
            return value
    return "PRIMARY" if index == 0 else f"BLOCK{index + 1}"


def _choose_block(
    headers: Sequence[Header],
    name: str | None,
    number: int | None,
    path: str,
    source: str | None,
    span: Span | None,
    names: Sequence[str] | None = None,
) -> int:
    if names is None:
        names = [_block_name(h, i) for i, h in enumerate(headers)]
    if number is not None:
        if 1 <= number <= len(headers):
            return number - 1
        raise XdmIOError(
            f"{path} has no block {number} (it has {len(headers)} blocks, numbered from 1)",
            source=source,
            span=span,
            expected=tuple(f"{i + 1} ({n})" for i, n in enumerate(names)),
        )
    if name is not None:
        key = name.strip().upper()
        for i, h in enumerate(headers):
            extname = str(h.get("EXTNAME", "")).strip().upper()
            hduname = str(h.get("HDUNAME", "")).strip().upper()
            extver = h.get("EXTVER")
            if key in (extname, hduname) or (
                extver is not None and key == f"{extname}{extver}"
            ):
                return i
        if key == "PRIMARY":
            return 0
        near = difflib.get_close_matches(key, [n.upper() for n in names], 1)
        raise XdmIOError(
            f"{path} has no block named '{name}'"
            + (f" (did you mean '{near[0]}'?)" if near else ""),
            source=source,
            span=span,
            expected=tuple(names),
            hint="blocks: " + ", ".join(names),
        )
    for i, h in enumerate(headers):
        is_table = str(h.get("XTENSION", "")).strip().upper() in ("BINTABLE", "TABLE")
        if (is_table and int(h.get("NAXIS2", 0)) > 0) or (
            not is_table and int(h.get("NAXIS", 0)) > 0
        ):
            return i
    # no block holds data: the first table, else the primary
    for i, h in enumerate(headers):
        if str(h.get("XTENSION", "")).strip().upper() == "BINTABLE":
            return i
    return 0


def _raw_records(block: Block) -> NDArray[Any]:
    dtype = block._derived.get("dtype")
    if dtype is None:
        found = record_dtype(block.cards) if block.plain is not None else None
        if found is None:
            found = raw_dtype(block.hdul[block.index])
        dtype = block._derived["dtype"] = found
    if (
        block._data_offset is not None
        and block.nrows
        and dtype.itemsize == int(block.cards["NAXIS1"])
    ):
        return np.memmap(
            block.path,
            dtype=dtype,
            mode="r",
            offset=block._data_offset,
            shape=(block.nrows,),
        )
    if not block.nrows:
        return np.zeros(0, dtype=dtype)
    return np.asarray(block.hdul[block.index].data).view(np.ndarray).view(dtype)
