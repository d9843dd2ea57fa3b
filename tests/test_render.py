"""Image making against hand-computed values and matplotlib's published viridis colours."""
import numpy as np
import pytest

from viewer.render import images


def test_viridis_matches_matplotlib_at_known_points():
    lut = images.lut("viridis")
    # matplotlib's viridis: 0 -> #440154, 0.5 -> #21918c, 1 -> #fde725 (fit error of a few levels allowed)
    for i, hexcol in ((0, "440154"), (128, "21918c"), (255, "fde725")):
        ref = np.array([int(hexcol[k:k + 2], 16) for k in (0, 2, 4)])
        assert np.abs(lut[i].astype(int) - ref).max() <= 4, (i, lut[i], ref)
    assert images.lut("grey")[255].tolist() == [255, 255, 255]


def test_signed_rgb_puts_zero_at_mid_grey():
    g = np.zeros((3, 1, 4))
    g[:, 0] = [[0.0, 1.0, -1.0, 5.0]] * 3
    img = images.signed_rgb(g, scale=1.0)
    # 0.5 + g / 2: 0 -> 0.5, 1 -> 1.0, -1 -> 0.0, 5 -> clipped to 1.0
    assert img[0, :, 0].tolist() == [128, 255, 0, 255]


def test_heat_is_max_abs_over_colour_channels():
    g = np.zeros((3, 1, 2))
    g[0, 0, 0], g[2, 0, 0], g[1, 0, 1] = -2.0, 1.0, 0.5
    img = images.heat(g, scale=2.0)
    lut = images.lut("viridis")
    assert img[0, 0].tolist() == lut[255].tolist() and img[0, 1].tolist() == lut[64].tolist()


def test_robust_scale_ignores_a_few_outliers():
    a = np.concatenate([np.ones(997), np.full(3, 1000.0)])  # 0.3% outliers, under the 0.5% cut
    assert images.robust_scale(a) == 1.0


def test_grid_shape_is_near_square():
    assert images.grid_shape(192) == (14, 14)   # 14 columns: ceil(sqrt(192)); ceil(192 / 14) = 14 rows
    assert images.grid_shape(96, aspect=2.0) == (7, 14)


def test_smooth_scale_follows_slowly_jumps_up_and_locks():
    s = images.SmoothScale(alpha=0.5)
    assert s.update(4.0) == 4.0           # first value taken as is
    assert s.update(2.0) == 3.0           # EMA: 4 + 0.5 * (2 - 4)
    assert s.update(10.0) == 10.0         # more than twice the scale: jump at once
    s.locked = True
    assert s.update(1.0) == 10.0
    s.reset()
    assert s.value == 10.0                # a locked scale survives a reset
    s.locked = False
    s.reset()
    assert s.value == 0.0


def test_mosaic_scales_and_places_tiles():
    tiles = np.zeros((3, 2, 2, 3), np.uint8)
    for k in range(3):
        tiles[k] = [[[10 * k, 0, 0], [10 * k, 1, 0]], [[10 * k, 2, 0], [10 * k, 3, 0]]]
    out = images.mosaic(tiles, cols=2, size=4, gap=1, fill=(7, 7, 7))
    assert out.shape == (9, 9, 3)                    # 2 rows x 2 cols of 4 px, one 1-px gap between
    assert out[0, 0].tolist() == [0, 0, 0] and out[3, 3].tolist() == [0, 3, 0]   # tile 0, cell (1, 1)
    assert out[0, 5].tolist() == [10, 0, 0]          # tile 1 starts after 4 px + gap
    assert out[5, 0].tolist() == [20, 0, 0] and out[5, 5].tolist() == [7, 7, 7]  # tile 2; empty slot
    assert out[4, 0].tolist() == [7, 7, 7]           # the gap row


def test_maps_shrunk_before_colouring_give_the_mosaic_the_same_pixels():
    """The grid colours maps cut to their tile size (images.shrink): the same mosaic as colouring them whole."""
    rng = np.random.default_rng(0)
    for h, w, size in ((56, 56, 33), (8, 8, 33), (56, 40, 33), (33, 33, 33), (100, 7, 20)):
        maps = rng.random((5, h, w)).astype(np.float32)
        whole = images.mosaic(images.colormap(maps, 0.9), 3, size, 2, (1, 2, 3))
        cut = images.mosaic(images.colormap(images.shrink(maps, size), 0.9), 3, size, 2, (1, 2, 3))
        assert images.shrink(maps, size).shape[1:] == (min(h, size), min(w, size))
        assert np.array_equal(whole, cut)


def test_a_large_layers_scale_is_its_percentile_read_off_a_sample_within_3_percent():
    rng = np.random.default_rng(1)
    for _ in range(5):
        act = (np.maximum(rng.standard_normal((192, 56, 56)), 0) * rng.gamma(2, 1, (192, 1, 1))).astype(np.float32)
        exact = np.percentile(act[act > 0], 99)
        assert images.layer_scale(act) == pytest.approx(exact, rel=0.03)


def test_a_100_layer_strip_wraps_into_rows_with_every_block_hit_and_no_overlap():
    from viewer.render.layout import compute_layout, inside
    shapes = [(64 * (1 + i // 30), 56 // (1 + i // 40), 56 // (1 + i // 40)) for i in range(120)]
    L = compute_layout((1280, 800), shapes)
    assert len(L.blocks) == 120 and len(set(L.label_bottoms)) > 1            # several rows
    for i, b in enumerate(L.blocks):
        assert 0 <= b[0] and b[0] + b[2] <= 1280 and 0 <= b[1] and b[1] + b[3] <= L.strip[3]
        assert b[1] + b[3] <= L.label_bottoms[i] - 30                          # room for its label below it
        centre = (b[0] + b[2] // 2, b[1] + b[3] // 2)              # a click there is on this block only
        assert [j for j, o in enumerate(L.blocks) if inside(o, centre)] == [i]
    slots = sorted(((L.label_bottoms[i], b[0]) for i, b in enumerate(L.blocks)))
    for (ya, xa), (yb, xb) in zip(slots, slots[1:]):                          # label slots never overlap
        assert ya != yb or xb - xa >= 40
    assert L.predictions[1] > L.strip[3] and L.grid[1] > L.strip[3]


def test_the_rendered_line_cache_stays_under_its_byte_bound(pygame_display):
    """A line with a changing number on every frame (a rate, an age) must not grow the cache past its bound;
    lines drawn every frame stay cached."""
    from viewer.render import draw
    cache = draw.LineCache(max_bytes=200_000)
    label = ("conv6", 17, draw.TEXT, None)
    for i in range(3000):
        cache.get(label)                                   # drawn every frame: stays
        cache.get((f"model {i / 7:.3f} results/s, result {i} ms old", 18, draw.DIM, None))
        assert cache.bytes <= 200_000
    assert label in cache.lines and len(cache.lines) < 3000
    assert cache.bytes == sum(s.get_width() * s.get_height() * s.get_bytesize() for s in cache.lines.values())


def test_each_tile_on_its_own_scale_and_the_layer_s_percentile_scale():
    from viewer.render import images
    maps = np.zeros((2, 2, 2), np.float32)
    maps[0] = [[0.0, 0.5], [1.0, 0.25]]
    maps[1] = [[0.0, 0.01], [0.02, 0.0]]                   # a weak map: its maximum is bright too
    out = images.colormap_each(maps)
    lut = images.lut("viridis")
    assert out[0, 1, 0].tolist() == lut[255].tolist() and out[1, 1, 0].tolist() == lut[255].tolist()
    assert out[1, 0, 1].tolist() == lut[128].tolist()       # 0.01 / 0.02 * 255 = 127.5 -> 128
    assert images.colormap_each(np.zeros((1, 2, 2))).tolist() == np.broadcast_to(lut[0], (1, 2, 2, 3)).tolist()
    act = np.concatenate([np.zeros(900), np.arange(1, 101, dtype=float)])   # 100 positive values 1..100
    assert images.layer_scale(act) == pytest.approx(np.percentile(np.arange(1, 101), 99))
    assert images.layer_scale(np.zeros(5)) == 0.0


def test_a_line_with_wordings_draws_the_first_that_fits(pygame_display):
    from viewer.render import draw
    long, short = "colour scale 0..0.5 (the layer's 99th percentile)", "scale 0..0.5"
    w_long, w_short = draw.font(17).size(long)[0], draw.font(17).size(short)[0]
    assert draw.fitting((long, short), 17, w_long) == long
    assert draw.fitting((long, short), 17, w_long - 1) == short
    assert draw.fitting((long, short), 17, w_short - 1) == short     # none fits: the shortest (then cut)
    assert draw.fitting(long, 17, 10) == long and draw.fitting((long, short), 17, None) == long


def test_a_vanishing_scale_draws_black_or_grey_without_warnings():
    """A switched-off unit's bf16 residue gives scales like 1e-40: 255 / 1e-40 is no float32 (overflow, then
    0 * inf = nan); the image must be the zero image, without a warning in the terminal."""
    import warnings
    x = np.zeros((4, 4), np.float32)
    g = np.zeros((3, 4, 4), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for s in (1e-40, 1e-45, 0.0, float("nan"), float("inf")):
            assert (images.to_index(x, s) == 0).all()
            assert (images.signed_rgb(g, s) == 128).all()
        assert (images.colormap_each(np.full((2, 3, 3), 1e-41, np.float32)) == images.lut("viridis")[0]).all()


def test_a_page_of_tiles_in_one_go_equals_each_tile_by_itself():
    """images.cut_boxes and signed_rgb_each (the whole-layer view's page at once) against cut_box and signed_rgb
    tile by tile (the definitions), boxes past every border and a blank tile included."""
    import numpy as np

    from viewer.render import images
    rng = np.random.default_rng(0)
    g = rng.normal(size=(40, 3, 32, 32)).astype(np.float32)
    g[3] = 0
    boxes = [(int(t), int(l), int(t) + 19, int(l) + 19) for t, l in rng.integers(-14, 30, (40, 2))]
    cut = images.cut_boxes(g, boxes)
    assert np.array_equal(cut, np.stack([images.cut_box(x, b)[0] for x, b in zip(g, boxes)]))
    want = np.stack([images.signed_rgb(x, images.robust_scale(x)) for x in cut])
    assert np.abs(images.signed_rgb_each(cut).astype(int) - want).max() <= 1     # float32 vs float64 rounding
    grey = g[:, :1]
    assert np.abs(images.signed_rgb_each(grey).astype(int) -
                  np.stack([images.signed_rgb(x, images.robust_scale(x)) for x in grey])).max() <= 1
    assert images.cut_boxes(g[:2], [(0, 0, 19, 19), (0, 0, 20, 19)]) is None      # sizes differ: tile by tile


def test_the_workers_tile_scales_are_numpys_percentiles():
    """features/whole_layer.robust_scales (torch's top-k, on the worker) against np.percentile, zeros included."""
    from viewer.features.whole_layer import robust_scales
    rng = np.random.default_rng(2)
    for shape in ((40, 3, 19, 19), (5, 1, 7, 3), (3, 3, 1, 1), (4, 2)):
        g = rng.normal(size=shape).astype(np.float32)
        g[0] = 0
        want = np.percentile(np.abs(g.reshape(len(g), -1)), 99.5, axis=1)
        assert np.allclose(robust_scales(g), want, rtol=1e-6, atol=1e-12)
        assert np.abs(images.signed_rgb_each(g.reshape(len(g), 1, 1, -1), scales=robust_scales(g)).astype(int)
                      - images.signed_rgb_each(g.reshape(len(g), 1, 1, -1)).astype(int)).max() <= 1
