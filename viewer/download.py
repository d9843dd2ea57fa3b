"""cnn-viewer-data cifar10: fetch CIFAR-10 (the official python-version tarball) into the cache folder, where the atlas,
the sanity report and the training lab look for it first.

The tarball is downloaded to DEST/cifar-10-python.tar.gz.part, resumed with an HTTP Range request where a part is
there (restarted where the server does not resume), checked against the published MD5, and extracted into a
temporary folder that is renamed to DEST/cifar-10-batches-py only when complete: an interruption at any point
leaves no half-extracted folder, and the next run goes on. The standard library does it all (no torchvision).
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from .paths import cache_dir, version

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"        # published on https://www.cs.toronto.edu/~kriz/cifar.html
FOLDER = "cifar-10-batches-py"
CHUNK = 1 << 20


class DownloadError(Exception):
    """One sentence for the user."""


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url: str, part: Path, progress: bool = True, timeout: float = 30.0) -> None:
    """Download url into `part`, going on from its size where the server answers a Range request with 206."""
    from tqdm import tqdm
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:      # the part is already whole
            return
        raise DownloadError(f"{url}: the server answered {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(f"cannot reach {url} ({reason}): check the connection, or download it yourself and "
                            "pass --data") from None
    with resp:
        resumed = resp.status == 206
        total = resp.headers.get("Content-Length")
        total = int(total) + (have if resumed else 0) if total else None
        mode, start = ("ab", have) if resumed else ("wb", 0)
        with open(part, mode) as f, tqdm(total=total, initial=start, unit="B", unit_scale=True, desc="CIFAR-10",
                                         disable=not progress, dynamic_ncols=True) as bar:
            try:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    f.write(block)
                    bar.update(len(block))
            except (OSError, urllib.error.URLError, http.client.HTTPException) as e:
                raise DownloadError(f"the download stopped ({e}): run the same command again to go on") from None
        if total is not None and part.stat().st_size < total:
            raise DownloadError("the download stopped early: run the same command again to go on")


def extract(tarball: Path, dest: Path) -> Path:
    """Unpack into a temporary folder beside dest, then rename its cifar-10-batches-py into dest."""
    tmp = dest / f".extract-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(tmp, filter="data")    # no paths outside tmp, no links or devices
        inner = tmp / FOLDER
        if not (inner / "test_batch").is_file():
            raise DownloadError(f"{tarball}: no {FOLDER}/test_batch inside: not the CIFAR-10 python archive")
        target = dest / FOLDER
        os.replace(inner, target)
        return target
    except (tarfile.TarError, OSError) as e:
        raise DownloadError(f"{tarball}: cannot unpack it ({e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def get_cifar10(dest: Path, url: str = URL, md5: str = MD5, progress: bool = True) -> Path:
    target = dest / FOLDER
    if (target / "test_batch").is_file():
        return target
    if target.exists():
        raise DownloadError(f"{target} exists but holds no test_batch (not a complete CIFAR-10 folder): remove it "
                            "and run the command again")
    dest.mkdir(parents=True, exist_ok=True)
    part = dest / "cifar-10-python.tar.gz.part"
    fetch(url, part, progress)
    got = md5_of(part)
    if got != md5:
        part.unlink(missing_ok=True)
        raise DownloadError(f"the download's MD5 is {got}, not the published {md5}: it was damaged or changed on the "
                            "way; nothing was kept, run the command again")
    folder = extract(part, dest)
    part.unlink(missing_ok=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cnn-viewer-data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("what", choices=["cifar10"], help="the data set (CIFAR-10, 163 MB)")
    p.add_argument("--dest", type=Path, default=None, help="the folder to put it in (default: the cache folder, "
                   "~/.cache/cnn-viewer, where the tool looks for it)")
    p.add_argument("--url", default=URL, help=argparse.SUPPRESS)      # the tests' local server
    p.add_argument("--md5", default=MD5, help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    dest = a.dest or cache_dir()
    try:
        folder = get_cifar10(dest, a.url, a.md5, not a.no_progress)
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:   # a folder that cannot be written
        print(f"error: {e.filename or dest}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to go on", file=sys.stderr)
        return 130
    print(f"CIFAR-10 is in {folder}: the atlas, the sanity report and the training lab find it there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
