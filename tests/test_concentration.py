"""python -m viewer.concentration: the share of a map in its top 5% of pixels, by hand, and the table on the
recipe-matched pair."""
import numpy as np
import pytest
from conftest import ROOT, SHARED_DATA

from viewer.concentration import concentration, main


def test_concentration_by_hand():
    flat = np.ones((3, 20, 20))                        # 400 equal pixels: the top 20 hold 20/400
    assert concentration(flat) == pytest.approx(0.05)
    one = np.zeros((3, 20, 20))
    one[:, 4, 7] = [1.0, -3.0, 0.5]                    # summed over colours first: one pixel holds all of it
    assert concentration(one) == pytest.approx(1.0)
    half = np.zeros((1, 10, 10))
    half[0, 0, :2], half[0, 5, :] = 10.0, 1.0          # top 5 of 100 pixels: 10 + 10 + 3 of 30
    assert concentration(half) == pytest.approx(23 / 30)
    assert concentration(np.zeros((3, 4, 4))) == 0.0


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data/cifar10-jpeg.npz is absent (CI has it)")
def test_the_table_for_the_recipe_matched_pair(capsys):
    a, b = ROOT / "checkpoints" / "allcnn_c_e15_cifar10.pt", ROOT / "checkpoints" / "convpool_cnn_c_cifar10.pt"
    assert main([str(a), str(b), "--images", "3", "--methods", "deconvnet", "guided", "--data", str(SHARED_DATA)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = {ln.split("|")[1].strip(): [float(v) for v in ln.split("|")[2:-1]] for ln in lines[4:]}
    assert set(rows) == {"deconvnet", "guided"} and all(0.05 <= v <= 1.0 for r in rows.values() for v in r)
    assert main([str(a), "--layer", "nope", "--images", "1", "--data", str(SHARED_DATA)]) == 2
    assert "no layer named nope" in capsys.readouterr().err
