"""Secret files (keys, passwords): read only when no one but the owner and its group can read them.

A key file mounted into a container is readable by the service's user, at most by its group
(0400 or 0440; 0600/0640 pass too, the owner's bits are its own business). Anything that lets
the group write or others read is refused with one line, before the file is used.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Final

from aiwf.schemas.errors import ConfigError

__all__ = ["MAX_SECRET_FILE_BYTES", "SecretFileError", "check_private", "read_secret_file"]

#: Bits a secret file may not have: group write/execute, and anything for others.
_TOO_OPEN: Final = stat.S_IWGRP | stat.S_IXGRP | stat.S_IRWXO
#: A password, a base64 key or a PEM private key is far smaller than this.
MAX_SECRET_FILE_BYTES: Final = 64 * 1024


class SecretFileError(ConfigError):
    """Raised when a secret file is missing, too large, or readable beyond its owner and group (0440)."""


def check_private(path: Path, what: str) -> None:
    """SecretFileError unless `path` exists and its mode is no more open than 0440 for group and others."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SecretFileError(f"{what} {path} cannot be read: {exc.strerror}") from None
    if mode & _TOO_OPEN:
        raise SecretFileError(
            f"{what} {path} has mode {stat.S_IMODE(mode):04o}; a secret file may be at most 0440 (chmod 0400 {path})"
        )


def read_secret_file(path: Path, what: str) -> str:
    """The text of a secret file, stripped of surrounding whitespace, once its permissions are checked."""
    check_private(path, what)
    if path.stat().st_size > MAX_SECRET_FILE_BYTES:
        raise SecretFileError(f"{what} {path} is too large to be a secret file")
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretFileError(f"{what} {path} cannot be read: {exc}") from None
