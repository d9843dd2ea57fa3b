"""Frame sources. One interface: read() -> RGB uint8 (H, W, 3) or None; close(). BGR -> RGB happens here
and nowhere else. The camera is read in its own thread and only the newest frame is kept.

    open_source("demo" | "webcam" | "webcam:1" | "clip.mp4" | "photo.png" | "folder/")

A new kind of source: a Source subclass with opens() (base.py), one line in SOURCES below.
"""
from __future__ import annotations

from pathlib import Path

from .base import IMAGE_EXTS, MAX_SIDE, VIDEO_EXTS, Source, SourceError, read_image, to_rgb8
from .camera import CameraSource
from .demo import DemoSource
from .files import FolderSource, ImageSource, VideoSource

# the kinds of source, asked in this order which one a --source spelling names (a new kind: one line here)
SOURCES: tuple[type[Source], ...] = (DemoSource, CameraSource, FolderSource, VideoSource, ImageSource)


def open_source(spec: str, realtime: bool = True) -> Source:
    """Open a source from its command-line spelling: the first kind in SOURCES that claims it; a file of
    unknown extension is tried as an image, then as a video. SourceError on anything that does not open."""
    for kind in SOURCES:
        if kind.opens(spec):
            return kind.open(spec, realtime)
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"{spec}: no such file or folder (sources: demo, webcam[:N], an image, a video, a folder)")
    try:  # unknown extension: try as an image, then as a video
        return ImageSource(path)
    except SourceError:
        pass
    try:
        return VideoSource(path, realtime)
    except SourceError:
        raise SourceError(f"{spec}: not an image or a video this tool can read (images: "
                          f"{', '.join(sorted(IMAGE_EXTS))}; videos: {', '.join(sorted(VIDEO_EXTS))})") from None


def default_source() -> Source:
    """The first webcam if one opens, else the demo source."""
    try:
        return CameraSource(0, open_timeout=2.0)
    except SourceError:
        return DemoSource(realtime=True)


__all__ = ["IMAGE_EXTS", "MAX_SIDE", "SOURCES", "VIDEO_EXTS", "CameraSource", "DemoSource", "FolderSource", "ImageSource",
           "Source", "SourceError", "VideoSource", "default_source", "open_source", "read_image", "to_rgb8"]
