"""Atomic outputs: a product is written to a temporary file next to its name
and renamed over it when complete, so a failed or killed run never leaves a
half-written product; temporary files of dead runs are removed.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from xdm.errors import XdmIOError

__all__ = ["TEMP_SUFFIX", "atomic_output", "remove_orphans"]


@contextlib.contextmanager
def atomic_output(
    out: str | os.PathLike[str], *, clobber: bool, source: str | None = None
) -> Iterator[Path]:
    """Yield a temporary path next to ``out``; rename it over ``out`` on success.

    Refuses an existing ``out`` unless ``clobber``; on any failure (Ctrl-C
    included) the temporary file is removed and ``out`` is untouched. A ``.gz``
    name is gzip-compressed once the product is complete.

    The temporary file is made with mode 0666 less the umask, like any file a
    tool creates (0644 under umask 022), and is named
    ``.{name}.{host}-{pid}.{random}.xdm-tmp``: a run killed with SIGKILL leaves
    it behind, and the next run writing ``out`` removes it once that process
    is gone. Without ``clobber`` the product is linked into place, so of two
    runs racing for a new name one fails cleanly instead of replacing the other.
    """
    target = Path(os.path.expanduser(os.path.expandvars(str(out))))
    if target.exists() and not clobber:
        raise XdmIOError(
            f"output file {out} exists",
            source=source,
            hint="add clobber=yes to replace it",
        )
    if not target.parent.exists():
        raise XdmIOError(
            f"output directory {target.parent} does not exist", source=source
        )
    if target.is_dir():
        raise XdmIOError(f"output {out} is a directory", source=source)
    remove_orphans(target)
    tmp = _new_temp(target, source)
    try:
        yield tmp
        if target.name.endswith(".gz"):
            _gzip_in_place(tmp)
        if clobber:
            os.replace(tmp, target)
        else:
            _link_new(tmp, target, out, source)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


TEMP_SUFFIX = ".xdm-tmp"


def _owner_tag() -> str:
    if hasattr(os, "uname"):  # what socket.gethostname() gives, without socket
        node = os.uname().nodename
    else:
        import socket

        node = socket.gethostname()
    host = re.sub(r"[^A-Za-z0-9_-]", "_", node)[:40] or "host"
    return f"{host}-{os.getpid()}"


def _new_temp(target: Path, source: str | None) -> Path:
    """Create the temporary file (exclusive, mode 0666 & ~umask) and close it."""
    for _ in range(100):
        name = f".{target.name}.{_owner_tag()}.{os.urandom(4).hex()}{TEMP_SUFFIX}"
        tmp = target.with_name(name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise XdmIOError(
                f"cannot write in {target.parent}: {exc.strerror}", source=source
            ) from None
        os.close(fd)
        return tmp
    raise XdmIOError(f"cannot make a temporary file in {target.parent}", source=source)


def remove_orphans(target: Path) -> list[Path]:
    """Remove temporary files of ``target`` left by runs of this host that are
    gone (killed with SIGKILL, power cut); returns what was removed."""
    host, _, _pid = _owner_tag().rpartition("-")
    removed = []
    prefix = f".{target.name}."
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    for name in names:
        if not (name.startswith(prefix) and name.endswith(TEMP_SUFFIX)):
            continue
        owner = name[len(prefix) :].split(".", 1)[0]
        o_host, _, o_pid = owner.rpartition("-")
        if o_host != host or not o_pid.isdigit() or _alive(int(o_pid)):
            continue
        with contextlib.suppress(OSError):
            (target.parent / name).unlink()
            removed.append(target.parent / name)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # someone else's process, or unknown: keep its file
    return True


def _link_new(tmp: Path, target: Path, out: object, source: str | None) -> None:
    """Put ``tmp`` at ``target`` only if nothing is there yet (atomic link)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise XdmIOError(
            f"output file {out} exists (another run wrote it meanwhile)",
            source=source,
            hint="add clobber=yes to replace it",
        ) from None
    except OSError:  # a file system without hard links
        os.replace(tmp, target)
        return
    tmp.unlink()


def _gzip_in_place(path: Path) -> None:
    """Compress a finished product (``out.fits.gz``), streaming, in the same folder."""
    import gzip
    import shutil

    packed = path.with_name(path.name[: -len(TEMP_SUFFIX)] + ".gz" + TEMP_SUFFIX)
    try:
        with open(path, "rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
        os.replace(packed, path)
    except BaseException:
        with contextlib.suppress(OSError):
            packed.unlink()
        raise
