"""Every file vpclab writes where the user said: one checked way.

The options that name a file to write (`graph -o`, `import terraform -o`, `test --junit`,
`usage --plot`, `probe --pcap`) all go through here. vpclab often runs as root, in
directories other users can write: a link `graph.svg -> /etc/shadow` planted by someone
else must not make root overwrite the file it points to, and a FIFO must not block the
command forever. The rules:

- the last component of the path is never followed: a symbolic link (to a file, or
  dangling), a directory, a FIFO, a socket or a device is refused (InvalidParameterValue,
  exit 2); the path is a regular file (replaced) or does not exist (created);
- its directory must exist and be writable, and an existing file must be writable;
- the content goes to a new temporary file in the same directory (a random name created
  with O_EXCL, so never a file someone else made; the old file's permission bits, or 0644
  less the umask), which is flushed to disk and then renamed over the path. The path
  itself is never opened: a link or FIFO put there after the check is replaced, not
  followed. A write that fails leaves the old file as it was and no temporary file.

`check_writable` applies the same rules before a long command starts (`test --junit`
refuses before the first probe); `replacing` checks again and writes.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from typing import IO, Iterator, Optional

from ..errors import PATH_SHOWN, Refused, shown

CODE = "InvalidParameterValue"
NOT_FOLLOWED = "vpclab never writes through a link: remove it, or choose another path"


def _kind(mode: int) -> Optional[str]:
    """What a file that is not regular is, as a message names it (None: a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "it is a symbolic link"
    if stat.S_ISDIR(mode):
        return "it is a directory"
    if stat.S_ISFIFO(mode):
        return "it is a FIFO, not a regular file"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a regular file"
    return "it is not a regular file"


def check_writable(path: str, what: str) -> Optional[os.stat_result]:
    """Refuse (InvalidParameterValue) a `path` that `what` may not be written to; creates nothing.

    Returns the existing file's lstat, or None when the file is new.
    """
    head = f"cannot write {what} to {shown(path, PATH_SHOWN)}"
    if not path or path.endswith(os.sep) or os.path.basename(path) in (".", ".."):
        raise Refused(f"cannot write {what} to {shown(path, PATH_SHOWN)!r}: give a file name", code=CODE)
    try:
        st: Optional[os.stat_result] = os.lstat(path)  # never follows the last component
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        st = None  # a parent is not a directory: said below
    except OSError as e:
        raise Refused(f"{head}: {e.strerror}", code=CODE)
    if st is not None:
        kind = _kind(st.st_mode)
        if kind is not None:
            raise Refused(f"{head}: {kind}", code=CODE, hint=NOT_FOLLOWED if stat.S_ISLNK(st.st_mode) else None)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise Refused(f"{head}: no such directory {shown(parent, PATH_SHOWN)}", code=CODE,
                      hint="create the directory first, or choose another path")
    if st is not None and not os.access(path, os.W_OK, follow_symlinks=False):
        raise Refused(f"{head}: permission denied", code=CODE)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise Refused(f"{head}: {shown(parent, PATH_SHOWN)} is not writable", code=CODE)
    return st


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o644 & ~mask


@contextlib.contextmanager
def replacing(path: str, what: str) -> Iterator[IO[bytes]]:
    """A binary file to write `what` into; on a normal exit it replaces `path` atomically.

    An exception inside the block (or a failed flush or rename) removes the temporary
    file and leaves `path` as it was; an OSError becomes a Refused naming `what` and `path`.
    """
    st = check_writable(path, what)
    head = f"cannot write {what} to {shown(path, PATH_SHOWN)}"
    parent = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)[:40]}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise Refused(f"{head}: {e.strerror}", code=CODE)
    done = False
    try:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o777 if st is not None else _new_file_mode())
        with os.fdopen(fd, "wb") as f:
            fd = -1  # the file object closes it now
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # replaces the name: a link or FIFO put there meanwhile is not followed
        done = True
    except OSError as e:
        raise Refused(f"{head}: {e.strerror or e}", code=CODE)
    finally:
        if fd >= 0:
            os.close(fd)
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    with contextlib.suppress(OSError):  # the rename itself on disk
        dfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_bytes(path: str, data: bytes, what: str) -> None:
    with replacing(path, what) as f:
        f.write(data)


def write_text(path: str, text: str, what: str) -> None:
    write_bytes(path, text.encode("utf-8"), what)
