"""Convert a dataset into cimsim's .npz (x_train, y_train, x_test, y_test), for `dataset.path`.

Two sources:

- a torchvision ImageFolder layout: ROOT/train/CLASS/*.png|jpg and ROOT/test/CLASS/*.png|jpg
  (class folders sorted by name give the labels 0..classes-1, as torchvision's ImageFolder);
  images are read with Pillow (matplotlib's dependency), converted to grey (`--mode L`) or
  RGB (`--mode RGB`) and resized to `--size` pixels square if given;
- arrays: four .npy files (--x-train, --y-train, --x-test, --y-test), e.g. saved from a
  torchvision dataset's `.data` and `.targets` (`np.save("x.npy", ds.data.numpy())`).

Images are stored as uint8 NHWC (cimsim scales uint8 by 1/255), labels as int64. The output
is written to a temporary file and renamed, so a failed conversion leaves nothing half-written.

    python examples/data/to_npz.py --folder ~/data/my_images --size 28 --mode L --out my.npz
    python examples/data/to_npz.py --x-train xtr.npy --y-train ytr.npy --x-test xte.npy \\
        --y-test yte.npy --out my.npz
    # then in a workload: dataset: {path: my.npz}
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


def read_split(folder: Path, classes: list[str], mode: str,
               size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The images of one split (folder/CLASS/*) as uint8 (N, H, W, C) and their labels."""
    from PIL import Image

    xs, ys = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) \
            if (folder / name).is_dir() else []
        for f in files:
            with Image.open(f) as im:
                im = im.convert(mode)
                if size:
                    im = im.resize((size, size), Image.BILINEAR)
                a = np.asarray(im, np.uint8)
            xs.append(a[:, :, None] if a.ndim == 2 else a)
            ys.append(label)
    if not xs:
        raise SystemExit(f"{folder}: no images in class folders {classes}")
    shapes = {x.shape for x in xs}
    if len(shapes) > 1:
        raise SystemExit(f"{folder}: images of different sizes {sorted(shapes)[:3]}: give --size")
    return np.stack(xs), np.asarray(ys, np.int64)


def from_folder(root: Path, mode: str, size: int | None) -> dict[str, np.ndarray]:
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir()) \
        if (root / "train").is_dir() else []
    if not classes or not (root / "test").is_dir():
        raise SystemExit(f"{root}: expected train/CLASS/ and test/CLASS/ folders of images")
    x_train, y_train = read_split(root / "train", classes, mode, size)
    x_test, y_test = read_split(root / "test", classes, mode, size)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def from_arrays(paths: dict[str, str]) -> dict[str, np.ndarray]:
    out = {}
    for key, path in paths.items():
        a = np.load(path, allow_pickle=False)
        if key.startswith("y"):
            if not np.issubdtype(a.dtype, np.integer):
                raise SystemExit(f"{path}: labels must be integers, got {a.dtype}")
            a = a.astype(np.int64)
        out[key] = a
    return out


def write_npz(arrays: dict[str, np.ndarray], out: Path) -> None:
    """numpy.savez through a temporary file in the same folder, then rename."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", help="ImageFolder root holding train/ and test/")
    p.add_argument("--mode", choices=("L", "RGB"), default="L", help="grey (L) or colour (RGB)")
    p.add_argument("--size", type=int, help="resize images to SIZE x SIZE pixels")
    for key in ("x-train", "y-train", "x-test", "y-test"):
        p.add_argument(f"--{key}", help=f"{key.replace('-', '_')} as a .npy file")
    p.add_argument("--out", required=True, help="the .npz to write")
    a = p.parse_args(argv)
    arrays = {k: getattr(a, k) for k in ("x_train", "y_train", "x_test", "y_test")}
    if a.folder and any(arrays.values()):
        raise SystemExit("give --folder or the four arrays, not both")
    if a.folder:
        data = from_folder(Path(a.folder).expanduser(), a.mode, a.size)
    elif all(arrays.values()):
        data = from_arrays(arrays)
    else:
        raise SystemExit("give --folder, or all four of --x-train --y-train --x-test --y-test")
    write_npz(data, Path(a.out))
    classes = int(max(data["y_train"].max(), data["y_test"].max())) + 1
    print(f"{a.out}: {len(data['y_train'])} training and {len(data['y_test'])} test inputs of shape "
          f"{data['x_train'].shape[1:]}, {classes} classes", file=sys.stdout)


if __name__ == "__main__":
    main()
