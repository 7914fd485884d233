#!/usr/bin/python3
"""Golden values for packages/torch/test/ops.test.ts, computed with PyTorch 1.13.

Run from anywhere with Debian's interpreter (the pyenv python3 on PATH cannot see torch):

    /usr/bin/python3 packages/torch/test/golden/ops_gen.py

Writes ops.json beside this script. For every case it records the inputs (as decimals, so both
sides build identical float32 tensors), the forward outputs, and the gradient of
sum_k (out_k * W_k).sum() with respect to every floating input, where W_k is the fixed
pseudo-random weight `weights(n)` below (mirrored in ops.test.ts). Case names are the contract
with test/op_table.ts, which implements the same computation with @diffuse/torch.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
GEN = torch.Generator().manual_seed(20240601)


# ---- inputs ------------------------------------------------------------------------------------
# Each spec is a tuple; floating inputs require grad unless marked otherwise.
#   ('N', shape)          standard normal, rounded to 3 decimals
#   ('P', shape)          |normal| + 0.5 (positive, away from 0: log, sqrt, divisors)
#   ('U', shape, lo, hi)  uniform on [lo, hi), rounded to 3 decimals
#   ('K', shape)          small integers -2..2 stored as floats (ties for comparisons)
#   ('I', shape, lo, hi)  int64 uniform on [lo, hi)
#   ('C', values, dtype)  explicit values (int64 indices that must not repeat)
#   ('B', shape)          bool, about half true
# A trailing '!' on the kind ('N!') means: no grad.


def make_input(spec, dtype):
    kind = spec[0].rstrip('!')
    if kind == 'N':
        x = torch.randn(spec[1], generator=GEN, dtype=torch.float64)
    elif kind == 'P':
        x = torch.randn(spec[1], generator=GEN, dtype=torch.float64).abs() + 0.5
    elif kind == 'U':
        lo, hi = spec[2], spec[3]
        x = torch.rand(spec[1], generator=GEN, dtype=torch.float64) * (hi - lo) + lo
    elif kind == 'K':
        x = torch.randint(-2, 3, spec[1], generator=GEN).double()
    elif kind == 'I':
        return torch.randint(spec[2], spec[3], spec[1], generator=GEN)
    elif kind == 'C':
        return torch.tensor(spec[1], dtype=spec[2])
    elif kind == 'B':
        return torch.rand(spec[1], generator=GEN) < 0.5
    else:
        raise ValueError(spec)
    x = torch.round(x * 1000) / 1000
    return x.to(dtype)


def wants_grad(spec, t):
    return t.is_floating_point() and not spec[0].endswith('!')


def weights(n, dtype):
    """The fixed pseudo-random W: w_i = ((i * 7919) mod 101) / 50 - 1, in [-1, 1]."""
    i = torch.arange(n, dtype=torch.int64)
    return (((i * 7919) % 101).double() / 50 - 1).to(dtype)


# ---- encoding ----------------------------------------------------------------------------------


def enc_number(v, digits):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if math.isnan(v):
        return 'nan'
    if math.isinf(v):
        return 'inf' if v > 0 else '-inf'
    return float(f'{v:.{digits}g}')


def enc_tensor(t, digits=None):
    dt = str(t.dtype).replace('torch.', '')
    if digits is None:
        digits = 17 if t.dtype == torch.float64 else 8
    flat = t.detach().reshape(-1).tolist()
    return {'shape': list(t.shape), 'dtype': dt, 'data': [enc_number(v, digits) for v in flat]}


def enc_input(t):
    # Inputs are 3-decimal values: 6 significant digits reproduce them exactly.
    if t.is_floating_point():
        return enc_tensor(t, 6)
    return enc_tensor(t)


# ---- the cases -----------------------------------------------------------------------------------

CASES = []


def case(name, inputs, fn, dtype=torch.float32):
    CASES.append((name, inputs, fn, dtype))


X = [('N', (3, 5))]
XP = [('P', (3, 5))]

# elementwise unary math
case('exp', X, torch.exp)
case('log', XP, torch.log)
case('log2', XP, torch.log2)
case('log1p', XP, torch.log1p)
case('expm1', X, torch.expm1)
case('sqrt', XP, torch.sqrt)
case('rsqrt', XP, torch.rsqrt)
case('reciprocal', XP, torch.reciprocal)
case('square', X, torch.square)
case('neg', X, torch.neg)
case('pow_scalar_2', X, lambda x: x ** 2)
case('pow_scalar_frac', XP, lambda x: x ** 2.5)
case('pow_scalar_neg', XP, lambda x: x ** -1.5)
case('sin', X, torch.sin)
case('cos', X, torch.cos)
case('atan', X, torch.atan)
case('tanh', X, torch.tanh)
case('sigmoid', X, torch.sigmoid)
case('erf', X, torch.erf)
case('erfinv', [('U', (3, 5), -0.9, 0.9)], torch.erfinv)
case('abs', X, torch.abs)
case('sign', X, torch.sign)
case('round', [('U', (3, 5), -3, 3)], torch.round)
case('floor', [('U', (3, 5), -3, 3)], torch.floor)
case('ceil', [('U', (3, 5), -3, 3)], torch.ceil)
case('trunc', [('U', (3, 5), -3, 3)], torch.trunc)
case('silu', X, F.silu)
case('gelu', X, F.gelu)
case('gelu_tanh', X, lambda x: F.gelu(x, approximate='tanh'))
case('relu', X, F.relu)
case('softplus', X, F.softplus)
case('softplus_beta', [('N', (3, 5))], lambda x: F.softplus(x * 3, beta=2, threshold=5))

# binary, with broadcasting and with scalars
case('add_bcast', [('N', (3, 4)), ('N', (4,))], torch.add)
case('add_alpha', [('N', (3, 4)), ('N', (3, 4))], lambda a, b: torch.add(a, b, alpha=0.5))
case('sub_bcast', [('N', (2, 3, 4)), ('N', (3, 1))], torch.sub)
case('mul_bcast', [('N', (3, 1)), ('N', (1, 4))], torch.mul)
case('div_bcast', [('N', (2, 3)), ('P', (3,))], torch.div)
case('pow_tensor', [('P', (3, 4)), ('N', (3, 4))], torch.pow)
case('pow_bcast', [('P', (3, 4)), ('N', (4,))], torch.pow)
case('maximum_bcast', [('N', (3, 4)), ('N', (4,))], torch.maximum)
case('minimum', [('N', (3, 4)), ('N', (3, 4))], torch.minimum)
case('add_scalar', X, lambda x: x + 1.5)
case('add_scalar_int', X, lambda x: x + 2)
case('sub_scalar', X, lambda x: x - 2.25)
case('mul_scalar', X, lambda x: x * 3)
case('div_scalar', X, lambda x: x / 4)
case('div_scalar_int_floor', [('U', (3, 5), -5, 5)], lambda x: torch.div(x, 2, rounding_mode='floor'))
case('rsub_scalar', X, lambda x: 2 - x)
case('addcmul', [('N', (3, 4)), ('N', (3, 4)), ('N', (4,))], lambda a, b, c: torch.addcmul(a, b, c, value=0.5))
case('lerp', [('N', (3, 4)), ('N', (3, 4))], lambda a, b: torch.lerp(a, b, 0.3))

# comparisons, where, clamp
K2 = [('K', (3, 4)), ('K', (3, 4))]
case('eq_tensor', K2, torch.eq)
case('eq_scalar', [('K', (3, 4))], lambda x: x == 1)
case('ne_scalar', [('K', (3, 4))], lambda x: x != 0)
case('lt_tensor', K2, torch.lt)
case('le_bcast', [('K', (3, 4)), ('K', (4,))], torch.le)
case('gt_scalar', [('K', (3, 4))], lambda x: x > 0)
case('ge_tensor', K2, torch.ge)
case('where_tensor', [('B', (3, 4)), ('N', (3, 4)), ('N', (4,))], torch.where)
case('where_from_compare', [('N', (3, 4)), ('N', (3, 4))], lambda x, y: torch.where(x > 0, x, y * 2))
case('where_scalar_other', [('N', (3, 4))], lambda x: torch.where(x > 0, x, torch.tensor(0.0)))
case('clamp_both', X, lambda x: torch.clamp(x, -0.5, 0.5))
case('clamp_min_only', X, lambda x: torch.clamp(x, min=0.1))
case('clamp_max_only', X, lambda x: torch.clamp(x, max=0.3))
case('clamp_min_fn', X, lambda x: torch.clamp_min(x, -0.2))
case('clamp_max_fn', X, lambda x: torch.clamp_max(x, 0.2))

# reductions
R = [('N', (3, 4, 5))]
case('sum_all', R, torch.sum)
case('sum_dim', R, lambda x: x.sum(1))
case('sum_dims_keep', R, lambda x: x.sum([0, 2], keepdim=True))
case('mean_all', R, torch.mean)
case('mean_dim', R, lambda x: x.mean(-1))
case('std_all', R, torch.std)
case('std_dim', R, lambda x: x.std(1))
case('std_dim_biased_keep', R, lambda x: x.std(1, unbiased=False, keepdim=True))
case('var_all', R, torch.var)
case('var_dims', R, lambda x: x.var([0, 2]))
case('max_all', R, torch.max)
case('max_dim', R, lambda x: x.max(1))
case('min_dim_keep', R, lambda x: x.min(0, keepdim=True))
case('min_all', R, torch.min)
case('amax_dims', R, lambda x: x.amax([1, 2]))
case('amin_dim', R, lambda x: x.amin(-1))
case('argmax_dim', R, lambda x: x.argmax(2))
case('argmax_all', R, lambda x: x.argmax())
case('argmin_dim_keep', R, lambda x: x.argmin(1, keepdim=True))
case('logsumexp_dim', R, lambda x: x.logsumexp(1))
case('logsumexp_dims_keep', R, lambda x: x.logsumexp([0, 2], keepdim=True))
case('cumsum_dim', R, lambda x: x.cumsum(2))
case('cumprod_dim', [('U', (3, 5), 0.5, 1.5)], lambda x: x.cumprod(1))
case('prod_dim', [('U', (3, 5), 0.5, 1.5)], lambda x: x.prod(1))
case('norm_all', R, lambda x: x.norm())
case('norm_p1_dim', R, lambda x: x.norm(1, 2))
case('norm_p2_dims_keep', R, lambda x: x.norm(2, [0, 1], keepdim=True))

# shape ops
S = [('N', (2, 3, 4))]
case('reshape', S, lambda x: x.reshape(4, 6))
case('reshape_infer', S, lambda x: x.reshape(-1, 3))
case('view', S, lambda x: x.view(6, 4))
case('permute', S, lambda x: x.permute(2, 0, 1))
case('permute_contiguous', S, lambda x: x.permute(1, 2, 0).contiguous())
case('transpose', S, lambda x: x.transpose(0, 2))
case('t', [('N', (3, 5))], lambda x: x.t())
case('expand', [('N', (3, 1))], lambda x: x.expand(2, 3, 4))
case('squeeze_all', [('N', (1, 3, 1, 2))], lambda x: x.squeeze())
case('squeeze_dim', [('N', (1, 3, 1, 2))], lambda x: x.squeeze(2))
case('unsqueeze', S, lambda x: x.unsqueeze(1))
case('unsqueeze_neg', S, lambda x: x.unsqueeze(-1))
case('flatten_all', S, lambda x: x.flatten())
case('flatten_from1', S, lambda x: x.flatten(1))
case('cat_dim1', [('N', (2, 3, 4)), ('N', (2, 2, 4))], lambda a, b: torch.cat([a, b], 1))
case('cat_dim_neg', [('N', (2, 3)), ('N', (2, 1)), ('N', (2, 2))], lambda a, b, c: torch.cat([a, b, c], -1))
case('stack_dim0', [('N', (3, 4)), ('N', (3, 4))], lambda a, b: torch.stack([a, b]))
case('stack_dim2', [('N', (3, 4)), ('N', (3, 4)), ('N', (3, 4))], lambda a, b, c: torch.stack([a, b, c], 2))
case('split_size', S, lambda x: x.split(3, 2))
case('split_sizes', S, lambda x: x.split([1, 2], 1))
case('chunk', [('N', (2, 6, 2))], lambda x: x.chunk(3, 1))
case('unbind', S, lambda x: x.unbind(1))
case('narrow', S, lambda x: x.narrow(2, 1, 2))
case('slice_step', S, lambda x: x[:, :, 1::2])
case('slice_range', S, lambda x: x[:, 1:3])
case('select', S, lambda x: x.select(1, 2))
case('select_neg', S, lambda x: x.select(2, -1))
case('index_select', [('N', (2, 3, 4)), ('C', [2, 0, 2], torch.int64)], lambda x, i: x.index_select(1, i))
case('gather', [('N', (2, 3, 4)), ('I', (2, 3, 2), 0, 4)], lambda x, i: x.gather(2, i))
case('index_first', [('N', (4, 3)), ('C', [3, 1, 1], torch.int64)], lambda x, i: x[i])
case('index_second', [('N', (2, 4, 3)), ('C', [[0, 2], [3, 3]], torch.int64)], lambda x, i: x[:, i])
case('index_bool', [('N', (3, 4)), ('B', (3, 4))], lambda x, m: x[m])
case('scatter_src', [('N', (3, 4)), ('C', [[2, 0, 1, 2], [0, 1, 2, 0]], torch.int64), ('N', (2, 4))],
     lambda x, i, s: x.scatter(0, i, s))
case('scatter_value', [('N', (3, 4)), ('C', [[1], [3], [0]], torch.int64)], lambda x, i: x.scatter(1, i, 0.5))
case('scatter_add', [('N', (3, 4)), ('I', (2, 4), 0, 3), ('N', (2, 4))], lambda x, i, s: x.scatter_add(0, i, s))
case('masked_fill', [('N', (3, 4)), ('B', (3, 4))], lambda x, m: x.masked_fill(m, -1.5))
case('repeat', S, lambda x: x.repeat(2, 1, 3))
case('repeat_new_dims', [('N', (2, 3))], lambda x: x.repeat(2, 1, 2))
case('repeat_interleave', [('N', (2, 3))], lambda x: x.repeat_interleave(2, 1))
case('flip', S, lambda x: x.flip([0, 2]))
case('roll', S, lambda x: x.roll(1, 2))
case('tril', [('N', (4, 4))], lambda x: x.tril())
case('triu_offset', [('N', (4, 5))], lambda x: x.triu(1))

# matrix products
case('matmul_2d', [('N', (3, 4)), ('N', (4, 5))], torch.matmul)
case('matmul_batched', [('N', (2, 3, 4)), ('N', (4, 5))], torch.matmul)
case('matmul_bcast', [('N', (2, 1, 3, 4)), ('N', (3, 4, 2))], torch.matmul)
case('matmul_vec', [('N', (3, 4)), ('N', (4,))], torch.matmul)
case('mm', [('N', (3, 4)), ('N', (4, 2))], torch.mm)
case('bmm', [('N', (2, 3, 4)), ('N', (2, 4, 5))], torch.bmm)
case('linear_bias', [('N', (2, 3, 4)), ('N', (5, 4)), ('N', (5,))], F.linear)
case('linear_nobias', [('N', (3, 4)), ('N', (5, 4))], F.linear)
case('einsum_bmm', [('N', (2, 3, 4)), ('N', (2, 4, 5))], lambda a, b: torch.einsum('bij,bjk->bik', a, b))
case('einsum_transpose', [('N', (3, 4))], lambda a: torch.einsum('ij->ji', a))
case('einsum_attn', [('N', (2, 2, 3, 4)), ('N', (2, 2, 5, 4))], lambda q, k: torch.einsum('bhid,bhjd->bhij', q, k))
case('einsum_dot', [('N', (5,)), ('N', (5,))], lambda a, b: torch.einsum('i,i->', a, b))
case('einsum_outer', [('N', (3,)), ('N', (4,))], lambda a, b: torch.einsum('i,j->ij', a, b))
case('sdpa', [('N', (2, 3, 4)), ('N', (2, 5, 4)), ('N', (2, 5, 3))],
     lambda q, k, v: torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(4), -1) @ v)

# softmax
case('softmax_last', [('N', (3, 5))], lambda x: x.softmax(-1))
case('softmax_dim0', [('N', (3, 5))], lambda x: x.softmax(0))
case('log_softmax_last', [('N', (3, 5))], lambda x: x.log_softmax(-1))
case('log_softmax_mid', [('N', (2, 3, 4))], lambda x: x.log_softmax(1))

# convolution
CI = ('N', (2, 4, 7, 7))
case('conv2d_bias', [CI, ('N', (6, 4, 3, 3)), ('N', (6,))], F.conv2d)
case('conv2d_nobias', [CI, ('N', (6, 4, 3, 3))], F.conv2d)
case('conv2d_stride2_pad1', [CI, ('N', (6, 4, 3, 3)), ('N', (6,))], lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1))
case('conv2d_dilation2', [CI, ('N', (6, 4, 3, 3)), ('N', (6,))], lambda x, w, b: F.conv2d(x, w, b, padding=2, dilation=2))
case('conv2d_groups2', [CI, ('N', (6, 2, 3, 3)), ('N', (6,))], lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2))
case('conv2d_depthwise', [CI, ('N', (4, 1, 3, 3))], lambda x, w: F.conv2d(x, w, None, padding=1, groups=4))
case('conv2d_pairs', [CI, ('N', (3, 4, 3, 2)), ('N', (3,))], lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 0)))
case('conv2d_1x1', [CI, ('N', (5, 4, 1, 1)), ('N', (5,))], F.conv2d)
TI = ('N', (2, 4, 5, 5))
case('conv_transpose2d', [TI, ('N', (4, 3, 3, 3)), ('N', (3,))], F.conv_transpose2d)
case('conv_transpose2d_stride2', [TI, ('N', (4, 3, 3, 3)), ('N', (3,))],
     lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1))
case('conv_transpose2d_groups', [TI, ('N', (4, 2, 4, 4))],
     lambda x, w: F.conv_transpose2d(x, w, None, stride=2, padding=1, groups=2))

# normalization, dropout
case('group_norm', [('N', (2, 6, 3, 3)), ('N', (6,)), ('N', (6,))], lambda x, w, b: F.group_norm(x, 3, w, b))
case('group_norm_plain', [('N', (2, 6, 3, 3))], lambda x: F.group_norm(x, 6, eps=1e-3))
case('layer_norm', [('N', (2, 3, 4)), ('N', (3, 4)), ('N', (3, 4))], lambda x, w, b: F.layer_norm(x, [3, 4], w, b))
case('layer_norm_plain', [('N', (3, 5))], lambda x: F.layer_norm(x, [5]))
case('dropout_p0', X, lambda x: F.dropout(x, 0.0, True))
case('dropout_p1', X, lambda x: F.dropout(x, 1.0, True))
case('dropout_eval', X, lambda x: F.dropout(x, 0.5, False))

# resampling, pooling, padding
II = [('N', (1, 2, 3, 4))]
case('interp_nearest_scale2', II, lambda x: F.interpolate(x, scale_factor=2, mode='nearest'))
case('interp_nearest_size', II, lambda x: F.interpolate(x, size=(5, 7), mode='nearest'))
case('interp_bilinear_size', II, lambda x: F.interpolate(x, size=(6, 5), mode='bilinear', align_corners=False))
case('interp_bilinear_corners', II, lambda x: F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True))
case('interp_bicubic', II, lambda x: F.interpolate(x, size=(6, 8), mode='bicubic', align_corners=False))
case('interp_area', [('N', (1, 2, 4, 6))], lambda x: F.interpolate(x, size=(2, 3), mode='area'))
PI = [('N', (2, 2, 6, 6))]
case('avg_pool_k2', PI, lambda x: F.avg_pool2d(x, 2))
case('avg_pool_k3_s2_p1', PI, lambda x: F.avg_pool2d(x, 3, 2, 1))
case('avg_pool_exclude_pad', PI, lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))
case('avg_pool_ceil', [('N', (1, 2, 5, 5))], lambda x: F.avg_pool2d(x, 2, ceil_mode=True))
case('max_pool_k2', PI, lambda x: F.max_pool2d(x, 2))
case('max_pool_k3_s2_p1', PI, lambda x: F.max_pool2d(x, 3, 2, 1))
case('max_pool_dilation', PI, lambda x: F.max_pool2d(x, 2, 1, 0, dilation=2))
case('adaptive_avg_pool', [('N', (1, 2, 5, 7))], lambda x: F.adaptive_avg_pool2d(x, (2, 3)))
PD = [('N', (1, 2, 3, 4))]
case('pad_constant', PD, lambda x: F.pad(x, [1, 2], 'constant', 0.5))
case('pad_constant_2d', PD, lambda x: F.pad(x, [1, 0, 2, 1]))
case('pad_reflect', PD, lambda x: F.pad(x, [1, 2, 2, 1], 'reflect'))
case('pad_replicate', PD, lambda x: F.pad(x, [2, 0, 1, 1], 'replicate'))
case('pad_circular', PD, lambda x: F.pad(x, [1, 1, 2, 0], 'circular'))

# lookup and one-hot
case('one_hot', [('I', (6,), 0, 5)], lambda i: F.one_hot(i, 5))
case('one_hot_infer', [('C', [[0, 3], [2, 1]], torch.int64)], lambda i: F.one_hot(i))
case('embedding', [('I', (2, 3), 0, 7), ('N', (7, 4))], F.embedding)
case('embedding_padding_idx', [('C', [[0, 2, 0], [5, 1, 2]], torch.int64), ('N', (6, 3))],
     lambda i, w: F.embedding(i, w, padding_idx=0))

# losses
L2 = [('N', (3, 5)), ('N', (3, 5))]
case('mse_mean', L2, F.mse_loss)
case('mse_sum', L2, lambda a, b: F.mse_loss(a, b, reduction='sum'))
case('mse_none', L2, lambda a, b: F.mse_loss(a, b, reduction='none'))
case('l1_mean', L2, F.l1_loss)
case('l1_sum', L2, lambda a, b: F.l1_loss(a, b, reduction='sum'))
case('huber_mean', L2, F.huber_loss)
case('huber_delta', L2, lambda a, b: F.huber_loss(a, b, delta=0.5))
case('smooth_l1_beta', L2, lambda a, b: F.smooth_l1_loss(a, b, beta=0.5))
CE = [('N', (4, 5)), ('I', (4,), 0, 5)]
case('cross_entropy_mean', CE, F.cross_entropy)
case('cross_entropy_sum', CE, lambda x, t: F.cross_entropy(x, t, reduction='sum'))
case('cross_entropy_none', CE, lambda x, t: F.cross_entropy(x, t, reduction='none'))
case('cross_entropy_smoothing', CE, lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1))

# float64: same math at double precision (compared at a much tighter tolerance)
D = torch.float64
case('f64_exp', X, torch.exp, D)
case('f64_log', XP, torch.log, D)
case('f64_add_bcast', [('N', (3, 4)), ('N', (4,))], torch.add, D)
case('f64_matmul', [('N', (2, 3, 4)), ('N', (4, 5))], torch.matmul, D)
case('f64_softmax', [('N', (3, 5))], lambda x: x.softmax(-1), D)
case('f64_logsumexp', R, lambda x: x.logsumexp(1), D)
case('f64_std_dim', R, lambda x: x.std(1), D)
case('f64_conv2d', [CI, ('N', (6, 4, 3, 3)), ('N', (6,))], lambda x, w, b: F.conv2d(x, w, b, padding=1), D)
case('f64_group_norm', [('N', (2, 6, 3, 3)), ('N', (6,)), ('N', (6,))], lambda x, w, b: F.group_norm(x, 3, w, b), D)


def run_case(name, specs, fn, dtype):
    inputs = [make_input(s, dtype) for s in specs]
    for s, t in zip(specs, inputs):
        if wants_grad(s, t):
            t.requires_grad_(True)
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    loss = None
    for o in outs:
        if o.is_floating_point() and o.requires_grad:
            w = weights(o.numel(), o.dtype).reshape(o.shape)
            term = (o * w).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    grads = []
    for s, t in zip(specs, inputs):
        if not wants_grad(s, t):
            grads.append(None)
        else:
            g = t.grad if t.grad is not None else torch.zeros_like(t)
            grads.append(enc_tensor(g))
    return {
        'inputs': [dict(enc_input(t), grad=wants_grad(s, t)) for s, t in zip(specs, inputs)],
        'outputs': [enc_tensor(o) for o in outs],
        'grads': grads,
    }


# ---- dtypes, conversions, random streams ---------------------------------------------------------

FLOATS = [0.0, 1.0, -1.0, 0.5, 3.14159, -2.71828, 65504.0, 1e-5, 1.0009765625, 123456.789, -0.1]


def dtype_goldens():
    out = {'roundtrip': {}, 'convert': []}
    for name, dt in [('float32', torch.float32), ('float64', torch.float64),
                     ('float16', torch.float16), ('bfloat16', torch.bfloat16)]:
        t = torch.tensor(FLOATS, dtype=torch.float64).to(dt)
        out['roundtrip'][name] = {'input': FLOATS, 'expected': enc_tensor(t.double(), 17)['data']}
    ints = {'int64': [0, -1, 7, 2 ** 40 + 3, -(2 ** 35)], 'int32': [0, -1, 7, 2 ** 31 - 1, -(2 ** 31)],
            'uint8': [0, 1, 127, 200, 255], 'bool': [True, False, True, True, False]}
    for name, vals in ints.items():
        out['roundtrip'][name] = {'input': vals, 'expected': [int(v) for v in vals]}
    conv_src = [-2.7, -0.5, 0.0, 0.4, 1.5, 2.5, 100.9, 254.99]
    for src_dt, vals in [('float32', conv_src), ('float64', conv_src), ('int64', [-3, 0, 5, 255, 1000]),
                         ('bool', [True, False, True])]:
        src = torch.tensor(vals, dtype=getattr(torch, src_dt))
        for dst in ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'uint8', 'bool']:
            if dst == 'uint8' and src_dt != 'bool' and (src < 0).any():
                continue  # negative float -> uint8 is undefined behaviour in C
            r = src.to(getattr(torch, dst))
            data = r.double().tolist() if r.is_floating_point() else [int(v) for v in r.tolist()]
            out['convert'].append({'from': src_dt, 'to': dst, 'input': vals, 'expected': data})
    return out


def random_goldens():
    r = {}
    torch.manual_seed(0)
    r['seed0_randn_5'] = torch.randn(5).tolist()
    r['seed0_then_randn_3x4'] = torch.randn(3, 4).reshape(-1).tolist()
    r['seed0_then_rand_5'] = torch.rand(5).tolist()
    torch.manual_seed(0)
    r['seed0_randn_40'] = torch.randn(40).tolist()  # >= 16 elements takes the vectorized path
    torch.manual_seed(0)
    r['seed0_randn_f64_6'] = torch.randn(6, dtype=torch.float64).tolist()
    torch.manual_seed(0)
    r['seed0_randint_0_10_8'] = torch.randint(0, 10, (8,)).tolist()
    r['seed0_then_randperm_8'] = torch.randperm(8).tolist()
    torch.manual_seed(42)
    r['seed42_randn_2x3'] = torch.randn(2, 3).reshape(-1).tolist()
    g = torch.Generator().manual_seed(7)
    r['gen7_randn_4'] = torch.randn(4, generator=g).tolist()
    r['gen7_then_rand_3'] = torch.rand(3, generator=g).tolist()
    return r


def main():
    cases = {}
    for name, specs, fn, dtype in CASES:
        if name in cases:
            raise ValueError(f'duplicate case {name}')
        cases[name] = run_case(name, specs, fn, dtype)
    doc = {
        'generator': 'packages/torch/test/golden/ops_gen.py',
        'torch': torch.__version__,
        'weights': 'w_i = ((i * 7919) mod 101) / 50 - 1',
        'cases': cases,
        'dtypes': dtype_goldens(),
        'random': random_goldens(),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ops.json')
    with open(path, 'w') as f:
        json.dump(doc, f, separators=(',', ':'))
        f.write('\n')
    print(f'{path}: {len(cases)} cases, {os.path.getsize(path)} bytes')


if __name__ == '__main__':
    main()
