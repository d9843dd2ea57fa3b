"""cnn-viewer-data cifar10 against a local HTTP server on 127.0.0.1 that serves a small stand-in tarball: a good
download, a wrong checksum, an interrupted transfer that the next run finishes, no connection. Nothing leaves the
machine."""
import hashlib
import http.server
import io
import tarfile
import threading

import pytest

from viewer.download import main


def stand_in() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, size in (("test_batch", 3000), ("data_batch_1", 5000), ("batches.meta", 100)):
            data = bytes(range(256)) * (size // 256 + 1)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = size
            tar.addfile(info, io.BytesIO(data[:size]))
    return buf.getvalue()


@pytest.fixture()
def server():
    body = stand_in()
    state = {"cut": False, "ranges": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            rng = self.headers.get("Range")
            start = int(rng.split("=")[1].split("-")[0]) if rng else 0
            state["ranges"].append(start)
            part = body[start:]
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            if state["cut"]:                       # send half, then hang up
                state["cut"] = False
                self.wfile.write(part[:len(part) // 2])
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            self.wfile.write(part)

        def log_message(self, *a):
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/cifar-10-python.tar.gz", hashlib.md5(body).hexdigest(), state
    httpd.shutdown()


def leftovers(dest):
    return sorted(p.name for p in dest.iterdir() if p.name != "cifar-10-batches-py") if dest.exists() else []


def test_a_good_download_is_checked_and_unpacked_and_not_fetched_again(server, tmp_path, capsys):
    url, md5, state = server
    dest = tmp_path / "cache"
    assert main(["cifar10", "--dest", str(dest), "--url", url, "--md5", md5, "--no-progress"]) == 0
    assert (dest / "cifar-10-batches-py" / "test_batch").stat().st_size == 3000 and leftovers(dest) == []
    assert main(["cifar10", "--dest", str(dest), "--url", url, "--md5", md5, "--no-progress"]) == 0
    assert len(state["ranges"]) == 1                        # already there: no second download


def test_a_wrong_checksum_is_refused_and_nothing_is_left(server, tmp_path, capsys):
    url, _, _ = server
    dest = tmp_path / "cache"
    assert main(["cifar10", "--dest", str(dest), "--url", url, "--md5", "0" * 32, "--no-progress"]) == 2
    assert "MD5" in capsys.readouterr().err and leftovers(dest) == [] and not (dest / "cifar-10-batches-py").exists()


def test_an_interrupted_transfer_is_resumed_by_the_next_run(server, tmp_path, capsys):
    url, md5, state = server
    dest = tmp_path / "cache"
    state["cut"] = True
    assert main(["cifar10", "--dest", str(dest), "--url", url, "--md5", md5, "--no-progress"]) == 2
    assert "run the same command again" in capsys.readouterr().err
    assert leftovers(dest) == ["cifar-10-python.tar.gz.part"] and not (dest / "cifar-10-batches-py").exists()
    assert main(["cifar10", "--dest", str(dest), "--url", url, "--md5", md5, "--no-progress"]) == 0
    assert state["ranges"][0] == 0 and state["ranges"][1] > 0          # the second request went on from the part
    assert (dest / "cifar-10-batches-py" / "data_batch_1").stat().st_size == 5000 and leftovers(dest) == []


def test_no_connection_is_one_sentence(tmp_path, capsys):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                                     # nothing listens there
    assert main(["cifar10", "--dest", str(tmp_path), "--url", f"http://127.0.0.1:{port}/x.tar.gz",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach") and err.count("\n") == 1


def test_without_data_the_commands_say_where_to_get_it(tmp_path, monkeypatch, capsys):
    from viewer.atlas.__main__ import main as atlas
    from viewer.paths import default_data
    monkeypatch.setenv("CNN_VIEWER_DATA", str(tmp_path / "nowhere"))
    assert default_data() == tmp_path / "nowhere"
    assert atlas(["--layers", "conv9", "--out", str(tmp_path / "a.npz"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cnn-viewer-data cifar10" in err and err.count("\n") == 1 and not (tmp_path / "a.npz").exists()
    monkeypatch.delenv("CNN_VIEWER_DATA")
    (tmp_path / "cache" / "cnn-viewer" / "cifar-10-batches-py").mkdir(parents=True)   # what the download makes
    assert default_data() == tmp_path / "cache" / "cnn-viewer" / "cifar-10-batches-py"


def test_a_stale_folder_is_one_sentence(server, tmp_path, capsys):
    url, md5, _ = server
    dest = tmp_path / "cache"
    (dest / "cifar-10-batches-py").mkdir(parents=True)
    (dest / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"x")
    assert main(["cifar10", "--dest", str(dest), "--url", url, "--md5", md5, "--no-progress"]) == 2
    assert "holds no test_batch" in capsys.readouterr().err
