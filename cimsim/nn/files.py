"""Reading the files a workload names besides its YAML (npz arrays, ONNX models, cached
models): regular files only (a FIFO or device would block or never end) and bounded sizes
checked before anything is allocated (a 5 MB zip can hold gigabytes of zeros)."""
from __future__ import annotations

import math
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError

MAX_INPUT_BYTES = 4 << 30        # default cap of one input file's (decompressed) size
NPY_HEADER_BYTES = 10_000        # numpy's own cap on an .npy header


def max_input_bytes() -> int:
    """The size cap of one input file: $CIMSIM_MAX_INPUT_BYTES, else 4 GiB."""
    raw = os.environ.get("CIMSIM_MAX_INPUT_BYTES", "")
    try:
        return int(raw) if raw.strip() else MAX_INPUT_BYTES
    except ValueError:
        raise ConfigError("environment", "CIMSIM_MAX_INPUT_BYTES", "a whole number of bytes", raw) from None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def regular_file(path: Path, file: str, key: str, shown: str, what: str) -> int:
    """The size of `path`, a regular file no larger than the cap; else one located error
    (`file`/`key` name the setting, `shown` its value, `what` the kind of file expected)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(file, key, f"an existing {what}", shown) from None
    except OSError as e:
        raise ConfigError(file, key, f"a readable {what}", shown, note=e.strerror or str(e)) from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(file, key, f"a regular {what}", shown, note="a folder, device or pipe")
    cap = max_input_bytes()
    if st.st_size > cap:
        raise ConfigError(file, key, f"a {what} of at most {_mib(cap)} ($CIMSIM_MAX_INPUT_BYTES)",
                          shown, note=f"it has {_mib(st.st_size)}")
    return st.st_size


def _npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    read = {(1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read is None:
        raise ValueError(f".npy format version {version} (1.0 or 2.0 expected)")
    return read(f, max_header_size=NPY_HEADER_BYTES)


def read_npz(path: Path, file: str, key: str, shown: str,
             names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an .npz file (only `names` if given), each array's size checked against
    its stored size and all of them against the cap before any is read. Errors are located
    at `file`/`key`; a missing array is located at its name."""
    regular_file(path, file, key, shown, ".npz file")

    def bad(note: str) -> ConfigError:
        return ConfigError(file, key, "a .npz file written by numpy.savez", shown, note=note)

    cap = max_input_bytes()
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n[:-4]: zf.getinfo(n) for n in zf.namelist() if n.endswith(".npy")}
            if names is not None:
                missing = [n for n in names if n not in members]
                if missing:
                    raise ConfigError(file, missing[0], f"arrays {', '.join(names)} in the .npz file",
                                      note=f"it holds {', '.join(members) or 'no arrays'}")
                members = {n: members[n] for n in names}
            total = sum(i.file_size for i in members.values())
            if total > cap:
                raise ConfigError(file, key, f"arrays of at most {_mib(cap)} in all, uncompressed "
                                  "($CIMSIM_MAX_INPUT_BYTES)", shown, note=f"they hold {_mib(total)}")
            out = {}
            for name, info in members.items():
                with zf.open(info) as f:
                    shape, fortran, dtype = _npy_header(f)
                    if dtype.hasobject:
                        raise bad(f"array '{name}' holds Python objects")
                    size = math.prod(shape) * dtype.itemsize
                    if size > info.file_size:
                        raise bad(f"array '{name}' claims {size:,} bytes in {info.file_size:,} stored")
                    data = f.read(size)
                    if len(data) != size:
                        raise bad(f"array '{name}' is truncated")
                flat = np.frombuffer(data, dtype=dtype)
                out[name] = (flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)).copy()
            return out
    except ConfigError:
        raise
    # zipfile signals a compression method it has no decoder for with NotImplementedError
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as e:
        raise bad(str(e).splitlines()[0][:200] if str(e) else type(e).__name__) from None
