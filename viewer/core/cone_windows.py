"""The cone's operations on K windows of a tensor (cone.py): the ReLU mask of each window, the transposed
convolution of a batch of windows, and max-pooling's switches. A window is addressed by its origin in the tensor
(oy, ox), which may lie outside it; what lies outside is padding (a mask of 0, an index that receives nothing)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from .cone import Step


def grown(size: int, stride: int, dilation: int, kernel: int) -> int:
    """The extent of input a window of `size` positions reads through a convolution or pooling along one axis:
    (size - 1) stride + dilation (kernel - 1) + 1 (the one formula of every cone's window growth)."""
    return (size - 1) * stride + dilation * (kernel - 1) + 1


def grow(st: Step, h: int, w: int) -> tuple[int, int]:
    """(h, w) of the window a Step reads for an (h, w) window of its output (a ReLU's: the same)."""
    if st.kind not in ("conv", "maxpool"):
        return h, w
    kh, kw = st.tensor.shape[2:] if st.kind == "conv" else st.kernel
    return grown(h, st.stride[0], st.dilation[0], kh), grown(w, st.stride[1], st.dilation[1], kw)


def padded_rows(st: Step, cache: dict, dtype: torch.dtype) -> torch.Tensor:
    """The mask 1[f > 0] zero-padded by the margin, channels last ((H + 2m) * (W + 2m), C): a window
    position is one row, so K windows are one index_select. Built once per plan, only for batches. A plan
    of several images (f: (N, C, H, W), the atlas's) has their rows one image after the other."""
    # by the forward tensor itself, kept in the entry (so that its memory is not reused while the cache lives):
    # plans of several layers of one pass share one cache (cone_images.py)
    key = ("mask", st.tensor.data_ptr(), tuple(st.tensor.shape), st.tensor.stride(), st.margin, dtype)
    if key not in cache:
        m, mask = st.margin, (st.tensor > 0).to(dtype)
        last = (0, 2, 3, 1) if mask.dim() == 4 else (1, 2, 0)
        cache[key] = (st.tensor, F.pad(mask, (m, m, m, m)).permute(*last).reshape(-1, mask.shape[-3]))
    return cache[key][1]


def _rows(st: Step, oy: torch.Tensor, ox: torch.Tensor, h: int, w: int,
          img: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The row of every position of K h x w windows (origins oy, ox; in image img of a plan of several) in the
    tensor laid out as padded_rows, (K, h, w), and which positions lie inside the tensor (None: all, or the
    margin's zeros stand for the outside). A plan of several images has no margin (padding a batch of masks by
    a window's size cost more than the windows): positions outside are clamped, and marked."""
    m, (H, W) = st.margin, st.tensor.shape[-2:]
    hp, wp = H + 2 * m, W + 2 * m
    yy = (oy + m)[:, None] + torch.arange(h, device=oy.device)
    xx = (ox + m)[:, None] + torch.arange(w, device=oy.device)
    inside = None
    if m == 0 and (int(yy.min()) < 0 or int(xx.min()) < 0 or int(yy.max()) >= H or int(xx.max()) >= W):
        inside = ((yy >= 0) & (yy < H))[:, :, None] & ((xx >= 0) & (xx < W))[:, None, :]
        yy, xx = yy.clamp(0, H - 1), xx.clamp(0, W - 1)
    lin = yy[:, :, None] * wp + xx[:, None, :]
    return (lin if img is None else lin + (img.to(lin.device) * (hp * wp))[:, None, None]), inside


def switches(x: torch.Tensor, params: tuple, cache: dict | None) -> torch.Tensor:
    """The argmax of each max-pool output (flat in its input's H x W): the forward's switches, computed once per
    pool input where the caller keeps a cache for several plans of one pass (the atlas's layers; the input is
    pinned in the entry so that its address is not reused while the cache lives)."""
    key = ("switches", x.data_ptr(), tuple(x.shape), x.stride(), params)
    if cache is not None and key in cache:
        return cache[key][1]
    _, idx = F.max_pool2d(x.detach(), *params, return_indices=True)
    if cache is not None:
        cache[key] = (x, idx)
    return idx


def window_mask(f: torch.Tensor, y0: int, x0: int, h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
    """1[f > 0] of f[:, y0:y0+h, x0:x0+w], zeros where the window leaves the tensor: (1, C, h, w)."""
    c, H, W = f.shape
    t, l, b, r = max(0, y0), max(0, x0), min(H, y0 + h), min(W, x0 + w)
    if (t, l, b, r) == (y0, x0, y0 + h, x0 + w):
        return (f[None, :, t:b, l:r] > 0).to(dtype)
    out = torch.zeros((1, c, h, w), dtype=dtype, device=f.device)
    if t < b and l < r:
        out[0, :, t - y0:b - y0, l - x0:r - x0] = f[:, t:b, l:r] > 0
    return out


def gather_windows(st: Step, cache: dict, dtype: torch.dtype, oy: torch.Tensor, ox: torch.Tensor,
                    h: int, w: int, img: torch.Tensor | None = None) -> torch.Tensor:
    """1[f > 0] in the h x w windows at origins (oy, ox) (of images img where the plan holds several), zero
    outside the tensor: (N, C, h, w) in a channels-last layout, one index_select of rows of the padded mask."""
    mask = padded_rows(st, cache, dtype)
    lin, inside = _rows(st, oy, ox, h, w, img)
    out = mask.index_select(0, lin.flatten()).view(len(oy), h, w, -1)
    if inside is not None:
        out.mul_(inside[..., None])
    return out.permute(0, 3, 1, 2)


def conv_t(r: torch.Tensor, weight: torch.Tensor, st: Step) -> torch.Tensor:
    """conv^T of a channels-last batch. Into few channels (the input image's 3) PyTorch's kernels run at a
    fifth of their speed: there one matrix product into the columns of each kernel tap, then one strided
    add per tap, does the same sums about 1.3x faster for 192 units."""
    cin = weight.shape[1]
    # channels_last: oneDNN's faster layout for batches (1.3x fp32, 1.4x bf16). Strided (ResNet's 7x7 stride-2 stem
    # into 3 channels): oneDNN's kernel 2.4x faster than the columns, whose intermediate is then 49 times the output
    if cin > 4 or st.groups != 1 or st.stride != (1, 1):
        return F.conv_transpose2d(r, weight, stride=st.stride, dilation=st.dilation, groups=st.groups)
    k, cout, h, w = r.shape
    kh, kw = weight.shape[2:]
    (sy, sx), (dy, dx) = st.stride, st.dilation
    cols = r.permute(0, 2, 3, 1).reshape(k * h * w, cout) @ weight.reshape(cout, cin * kh * kw)
    cols = cols.view(k, h, w, cin, kh, kw)
    out = r.new_zeros((k, grown(h, sy, dy, kh), grown(w, sx, dx, kw), cin))
    for i in range(kh):          # col2im in the channels-last layout: one strided add per kernel tap
        for j in range(kw):
            out[:, i * dy:i * dy + (h - 1) * sy + 1:sy, j * dx:j * dx + (w - 1) * sx + 1:sx] += cols[..., i, j]
    return out.permute(0, 3, 1, 2)  # (K, C, H, W), channels-last in memory


def pool_t(r: torch.Tensor, st: Step, oy: torch.Tensor, ox: torch.Tensor, cache: dict,
           img: torch.Tensor | None = None) -> torch.Tensor:
    """Max-pooling backward on K windows (origins oy, ox of the pool's output): each output's signal added at its
    argmax (the forward's switches), into the windows of the pool's input. What lies outside the output tensor is
    0 already (the step above cleared it), so its dummy index receives nothing."""
    k, c, h, w = r.shape
    (kh, kw), (sy, sx), (dy, dx) = st.kernel, st.stride, st.dilation
    hi, wi = grown(h, sy, dy, kh), grown(w, sx, dx, kw)
    ny, nx = oy * sy - st.padding[0], ox * sx - st.padding[1]
    key = ("pool", st.tensor.data_ptr(), tuple(st.tensor.shape), st.tensor.stride(), st.margin)
    if key not in cache:   # the indices zero-padded by the margin, channels last: a window position is one row
        m, idx = st.margin, st.tensor
        pad = idx.new_zeros((*idx.shape[:-2], idx.shape[-2] + 2 * m, idx.shape[-1] + 2 * m))
        pad[..., m:m + idx.shape[-2], m:m + idx.shape[-1]] = idx
        # the switches kept in the entry: their address is not reused while the cache lives
        cache[key] = (st.tensor, pad.permute(*((0, 2, 3, 1) if idx.dim() == 4 else (1, 2, 0))).reshape(-1, idx.shape[-3]))
    rows = cache[key][1]
    lin, inside = _rows(st, oy, ox, h, w, img)
    if inside is not None:   # clamped rows outside the output: what they carry must add nothing
        r = r * inside[:, None]
    idx = rows.index_select(0, lin.flatten().to(rows.device)).view(k, h, w, c).permute(0, 3, 1, 2)
    width = st.in_hw[1]
    local = (idx // width - ny.view(-1, 1, 1, 1).to(idx.device)) * wi + idx % width - nx.view(-1, 1, 1, 1).to(idx.device)
    out = r.new_zeros((k, c, hi * wi))
    out.scatter_add_(2, local.clamp_(0, hi * wi - 1).reshape(k, c, -1), r.reshape(k, c, -1))
    return out.view(k, c, hi, wi)
