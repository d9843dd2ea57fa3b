"""Frame sources: every kind of image file, folders, videos, the demo, and the errors."""
import cv2
import numpy as np
from helpers import write_video
import pytest

from viewer.sources import (
    DemoSource,
    FolderSource,
    ImageSource,
    SourceError,
    VideoSource,
    open_source,
    to_rgb8,
)


def write(path, img):
    assert cv2.imwrite(str(path), img)
    return path


def test_bgr_becomes_rgb(tmp_path):
    bgr = np.zeros((5, 7, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    frame = ImageSource(write(tmp_path / "b.png", bgr)).read()
    assert frame.shape == (5, 7, 3) and frame.dtype == np.uint8
    assert frame[0, 0].tolist() == [0, 0, 255]


def test_grey_rgba_16bit_and_large_images(tmp_path):
    grey = write(tmp_path / "g.png", np.full((6, 6), 77, np.uint8))
    assert ImageSource(grey).read()[0, 0].tolist() == [77, 77, 77]
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., 2] = 200
    rgba[..., 3] = 10
    assert ImageSource(write(tmp_path / "a.png", rgba)).read()[0, 0].tolist() == [200, 0, 0]
    deep = np.full((6, 6, 3), 65535, np.uint16)
    assert ImageSource(write(tmp_path / "d.png", deep)).read()[0, 0].tolist() == [255, 255, 255]
    big = write(tmp_path / "big.jpg", np.zeros((3000, 5000, 3), np.uint8))
    assert ImageSource(big).read().shape == (1229, 2048, 3)
    assert to_rgb8(np.ones((2, 2), np.float32))[0, 0].tolist() == [255, 255, 255]


def test_corrupt_and_truncated_images(tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(SourceError, match="not a readable image"):
        open_source(str(junk))
    ok = write(tmp_path / "ok.jpg", np.full((64, 64, 3), 90, np.uint8))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(ok.read_bytes()[:20])
    with pytest.raises(SourceError, match="not a readable image"):
        open_source(str(cut))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="not a readable image"):
        open_source(str(empty))


def test_missing_path_and_bad_camera_spelling(tmp_path):
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source(str(tmp_path / "nothing.png"))
    with pytest.raises(SourceError, match="webcam:N"):
        open_source("webcam:x")


def test_no_camera_is_a_clear_error():
    with pytest.raises(SourceError, match="webcam:57: no camera could be opened"):
        open_source("webcam:57")


def test_folder_skips_unreadable_and_wraps(tmp_path):
    write(tmp_path / "a.png", np.full((4, 4, 3), 10, np.uint8))
    (tmp_path / "b.png").write_bytes(b"broken")
    write(tmp_path / "c.png", np.full((4, 4, 3), 30, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    src = open_source(str(tmp_path))
    assert isinstance(src, FolderSource)
    assert src.read()[0, 0, 0] == 10
    src.next()
    assert src.read()[0, 0, 0] == 30 and "b.png" in src.message
    src.next()
    assert src.read()[0, 0, 0] == 10
    src.prev()
    assert src.read()[0, 0, 0] == 30


def test_empty_folder_and_folder_of_broken_files(tmp_path):
    with pytest.raises(SourceError, match="holds no images"):
        open_source(str(tmp_path))
    (tmp_path / "x.png").write_bytes(b"broken")
    with pytest.raises(SourceError, match="none of its 1 images"):
        open_source(str(tmp_path))


def test_video_loops(tmp_path):
    src = open_source(str(write_video(tmp_path / "v.avi")), realtime=False)
    assert isinstance(src, VideoSource)
    frames = [src.read()[0, 0, 0] for _ in range(30)]
    assert frames[0] < frames[5] and min(frames[12:]) < frames[11]  # came round again
    src.close()


def test_video_that_cannot_be_opened(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(SourceError, match="cannot be opened"):
        open_source(str(bad))


def test_demo_is_deterministic_and_moves():
    a, b = DemoSource(size=64, scene_frames=10), DemoSource(size=64, scene_frames=10)
    fa = [a.read() for _ in range(60)]
    fb = [b.read() for _ in range(60)]
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb))
    assert not np.array_equal(fa[0], fa[5])
    assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in fa)


class FakeCapture:
    """Stands in for cv2.VideoCapture: 5 frames, then 'unplugged' until reopened."""
    opened = 0

    def __init__(self, device):
        FakeCapture.opened += 1
        self.n = 0

    def isOpened(self):
        return True

    def read(self):
        self.n += 1
        if FakeCapture.opened == 1 and self.n > 5:
            return False, None
        return True, np.full((8, 8, 3), (self.n * 10) % 250, np.uint8)

    def release(self):
        pass


def test_camera_thread_keeps_newest_frame_and_survives_loss(monkeypatch):
    import time

    from viewer import sources
    monkeypatch.setattr(__import__("cv2"), "VideoCapture", FakeCapture)
    FakeCapture.opened = 0
    cam = sources.CameraSource(0)
    t0 = time.perf_counter()
    while FakeCapture.opened < 2 and time.perf_counter() - t0 < 5:
        if cam.message:
            assert "camera lost" in cam.message
        time.sleep(0.01)
    assert FakeCapture.opened >= 2  # it retried after the loss
    time.sleep(0.05)
    assert cam.read() is not None and cam.read().shape == (8, 8, 3)
    t = time.perf_counter()
    cam.close()
    assert time.perf_counter() - t < 1.5 and not cam._thread.is_alive()


def test_demo_says_which_sample_photographs_it_could_not_read(tmp_path):
    import cv2
    cv2.imwrite(str(tmp_path / "good.png"), np.full((20, 20, 3), 128, np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    demo = DemoSource(size=32, samples=tmp_path)
    assert len(demo.photos) == 1
    assert demo.message == "demo: skipped unreadable sample photographs: broken.jpg"
    assert DemoSource(size=32, samples=tmp_path / "none").message == ""


def test_a_new_kind_of_source_is_one_class_and_one_registration(monkeypatch):
    from viewer import sources

    class Noise(sources.Source):
        """noise:N - frames of uniform noise, N pixels square."""
        @classmethod
        def opens(cls, spec):
            return spec.startswith("noise:")

        @classmethod
        def open(cls, spec, realtime=True):
            return cls(int(spec.partition(":")[2]))

        def __init__(self, n):
            self.n, self.name, self.seq = n, f"noise {n}", 0

        def read(self):
            self.seq += 1
            return np.random.default_rng(self.seq).integers(0, 256, (self.n, self.n, 3), dtype=np.uint8)
    monkeypatch.setattr(sources, "SOURCES", (*sources.SOURCES, Noise))
    src = sources.open_source("noise:24")
    assert isinstance(src, Noise) and src.read().shape == (24, 24, 3)
    assert isinstance(sources.open_source("demo"), sources.DemoSource)   # the others still open first


def test_the_realtime_demo_gives_30_frames_a_second_to_a_window_reading_it_60_times(monkeypatch):
    """Read every 1/60 s (the window's loop), the demo's frames come at its 30/s, not every third read (20/s)."""
    from viewer.sources import demo
    clock = [100.0]
    monkeypatch.setattr(demo.time, "perf_counter", lambda: clock[0])
    src = demo.DemoSource(size=16, realtime=True)
    for _ in range(600):                     # 10 s of reads at 60/s
        src.read()
        clock[0] += 1 / 60
    assert 295 <= src.seq <= 301
