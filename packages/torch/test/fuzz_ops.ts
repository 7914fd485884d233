// What the native-layer fuzz calls: ATen operators by name (every overload of each reaches
// call() and callByName()), and the typed Tensor methods and factories with random arguments.
import * as torch from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { DTYPES, notTensor, randShape, randTensor, relatedShape, type Rng } from './fuzz_gen.js';

/**
 * Public ATen operators fuzzed through call()/callByName(), all their overloads (.out included).
 * Left out on purpose: the `_`-prefixed internals (they skip argument checks by contract: the
 * public op checks first), quantized/sparse/cudnn/mkldnn kernels, and from_file (reads any file).
 * as_strided and set_ are in: libtorch checks their sizes against the storage.
 */
export const OP_NAMES: readonly string[] = `
abs add sub mul div remainder fmod pow neg exp log log1p sqrt rsqrt sigmoid tanh sin cos atan2
erf erfinv lgamma digamma polygamma xlogy hypot logit clamp clamp_min clamp_max floor ceil round trunc
sign sgn frac reciprocal square bitwise_and bitwise_or bitwise_xor bitwise_not bitwise_left_shift logical_and
logical_not eq ne lt le gt ge isnan isinf isfinite nan_to_num maximum minimum fmax where lerp addcmul addcdiv
sum mean prod std var std_mean var_mean max min amax amin aminmax argmax argmin logsumexp cumsum cumprod cummax
norm all any median nanmedian mode kthvalue topk sort argsort msort unique_consecutive count_nonzero
nansum quantile histc bincount bucketize searchsorted
reshape view view_as expand expand_as permute transpose t squeeze unsqueeze flatten unflatten narrow slice
select index_select index index_put index_put_ index_add index_fill index_copy gather scatter scatter_add
scatter_reduce masked_fill masked_select masked_scatter take take_along_dim put put_ repeat repeat_interleave
tile flip roll rot90 tril triu diag diagonal diag_embed diagflat chunk split split_with_sizes tensor_split
unbind cat stack hstack vstack movedim swapaxes unfold as_strided set_ resize_ resize_as_ contiguous clone
narrow_copy select_scatter slice_scatter diagonal_scatter nonzero argwhere meshgrid cartesian_prod kron
zeros ones full empty empty_like zeros_like ones_like full_like rand randn randint randperm rand_like
randn_like randint_like arange linspace logspace eye tril_indices triu_indices new_zeros new_full new_empty
empty_strided scalar_tensor bernoulli multinomial normal poisson uniform_ normal_ random_ exponential_
matmul mm bmm mv dot outer addmm addmv baddbmm einsum tensordot cdist dist cross trace matrix_power
linalg_det linalg_inv linalg_solve linalg_norm linalg_vector_norm linalg_matrix_norm linalg_svd linalg_qr
linalg_cholesky linalg_eigh linalg_pinv linalg_lstsq linalg_cross
conv1d conv2d conv3d conv_transpose1d conv_transpose2d convolution linear bilinear
max_pool1d max_pool2d max_pool3d avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d
adaptive_max_pool2d max_pool2d_with_indices max_unpool2d fractional_max_pool2d
group_norm layer_norm batch_norm instance_norm native_layer_norm native_group_norm native_batch_norm
upsample_nearest2d upsample_bilinear2d upsample_bicubic2d upsample_nearest1d upsample_linear1d
grid_sampler_2d affine_grid_generator pixel_shuffle pixel_unshuffle channel_shuffle
constant_pad_nd reflection_pad1d reflection_pad2d replication_pad2d pad
embedding embedding_bag one_hot dropout feature_dropout alpha_dropout
relu relu6 leaky_relu elu selu celu gelu silu mish hardtanh hardswish hardsigmoid softplus softshrink
hardshrink threshold prelu glu softmax log_softmax
mse_loss l1_loss smooth_l1_loss huber_loss binary_cross_entropy binary_cross_entropy_with_logits
cross_entropy_loss nll_loss nll_loss2d kl_div cosine_similarity pairwise_distance margin_ranking_loss
triplet_margin_loss ctc_loss poisson_nll_loss
fill_ zero_ copy_ detach item to type_as fft_fft fft_rfft fft_irfft stft istft
`.trim().split(/\s+/);

export interface Typed {
  name: string;
  run: (r: Rng) => unknown;
}

/** A random dim: usually valid for `t`, sometimes out of range or not an integer. */
function dim(r: Rng, t: Tensor): number {
  const n = Math.max(t.ndim, 1);
  const u = r.next();
  if (u < 0.8) return r.int(-n, n - 1);
  if (u < 0.95) return r.pick([n, -n - 1, 99, -(2 ** 40)]);
  return r.pick([NaN, 0.5, Infinity]);
}
/** A random scalar, sometimes extreme. */
const num = (r: Rng): number => r.pick([0, 1, -1, 2.5, NaN, Infinity, -Infinity, 1e308, -7]);
const other = (r: Rng, t: Tensor): Tensor | number => (r.chance(0.3) ? num(r) : randTensor(r, relatedShape(r, t.shape), r.chance(0.7) ? t.dtype : r.pick(DTYPES)));
const index = (r: Rng, t: Tensor): Tensor => randTensor(r, relatedShape(r, t.shape), r.pick(['int64', 'int64', 'int32', 'float32', 'bool']));
const shapeLike = (r: Rng, t: Tensor): number[] => (r.chance(0.5) ? [...t.shape].reverse() : randShape(r, r.chance(0.15)));
/** A deliberately wrong value where the type checker would refuse one. */
const loose = <T>(r: Rng): T => notTensor(r) as T;

/** Typed Tensor methods and factories, each with random (sometimes invalid) arguments. */
/** A typed call on a fresh random tensor. */
function m(name: string, fn: (r: Rng, t: Tensor) => unknown): Typed {
  return { name, run: (r) => fn(r, randTensor(r)) };
}

export const TYPED: readonly Typed[] = [
  m('add', (r, t) => t.add(other(r, t), num(r))),
  m('sub', (r, t) => t.sub(other(r, t))),
  m('mul', (r, t) => t.mul(r.chance(0.1) ? loose(r) : other(r, t))),
  m('div', (r, t) => t.div(other(r, t), r.pick([undefined, 'trunc', 'floor', loose(r)]))),
  m('pow', (r, t) => t.pow(other(r, t))),
  m('remainder', (r, t) => t.remainder(other(r, t))),
  m('add_', (r, t) => t.add_(other(r, t))),
  m('mul_', (r, t) => t.mul_(other(r, t))),
  m('div_', (r, t) => t.div_(other(r, t))),
  m('clamp_', (r, t) => t.clamp_(num(r), r.chance(0.5) ? num(r) : null)),
  m('matmul', (r, t) => t.matmul(randTensor(r, shapeLike(r, t), t.dtype))),
  m('mm', (r, t) => t.mm(randTensor(r, shapeLike(r, t), t.dtype))),
  m('bmm', (r, t) => t.bmm(randTensor(r, shapeLike(r, t), t.dtype))),
  m('addcmul', (r, t) => t.addcmul(randTensor(r, relatedShape(r, t.shape)), randTensor(r, relatedShape(r, t.shape)), num(r))),
  m('lerp', (r, t) => t.lerp(randTensor(r, relatedShape(r, t.shape), t.dtype), other(r, t))),
  m('exp', (r, t) => t.exp()),
  m('log', (r, t) => t.log()),
  m('sqrt_', (r, t) => t.sqrt_()),
  m('erfinv', (r, t) => t.erfinv()),
  m('gelu', (r, t) => t.gelu(r.pick(['none', 'tanh', loose(r)]))),
  m('softmax', (r, t) => t.softmax(dim(r, t), r.chance(0.3) ? r.pick(DTYPES) : undefined)),
  m('logSoftmax', (r, t) => t.logSoftmax(dim(r, t))),
  m('nanToNum', (r, t) => t.nanToNum(num(r), num(r), num(r))),
  m('sum', (r, t) => t.sum(r.chance(0.3) ? undefined : [dim(r, t), dim(r, t)], r.chance(0.5), r.chance(0.2) ? r.pick(DTYPES) : undefined)),
  m('mean', (r, t) => t.mean(dim(r, t), r.chance(0.5))),
  m('std', (r, t) => t.std(dim(r, t), r.chance(0.5))),
  m('max', (r, t) => (r.chance(0.5) ? t.max() : t.max(dim(r, t)))),
  m('argmax', (r, t) => t.argmax(r.chance(0.3) ? undefined : dim(r, t))),
  m('logsumexp', (r, t) => t.logsumexp(dim(r, t))),
  m('cumsum', (r, t) => t.cumsum(dim(r, t))),
  m('norm', (r, t) => t.norm(num(r), r.chance(0.5) ? undefined : dim(r, t))),
  m('prod', (r, t) => t.prod(dim(r, t))),
  m('reshape', (r, t) => t.reshape(shapeLike(r, t))),
  m('view', (r, t) => t.view(r.chance(0.5) ? [-1] : shapeLike(r, t))),
  m('permute', (r, t) => t.permute(t.shape.map((_, i) => (r.chance(0.8) ? t.ndim - 1 - i : dim(r, t))))),
  m('transpose', (r, t) => t.transpose(dim(r, t), dim(r, t))),
  m('expand', (r, t) => t.expand(shapeLike(r, t))),
  m('squeeze', (r, t) => t.squeeze(r.chance(0.3) ? undefined : dim(r, t))),
  m('unsqueeze', (r, t) => t.unsqueeze(dim(r, t))),
  m('flatten', (r, t) => t.flatten(dim(r, t), dim(r, t))),
  m('unflatten', (r, t) => t.unflatten(dim(r, t), shapeLike(r, t))),
  m('narrow', (r, t) => t.narrow(dim(r, t), r.int(-3, 4), r.pick([0, 1, 2, 2 ** 40, -1]))),
  m('slice', (r, t) => t.slice(dim(r, t), r.int(-6, 6), r.pick([null, 2, -1, 2 ** 53 - 1]), r.pick([1, 2, 0, -1]))),
  m('select', (r, t) => t.select(dim(r, t), r.int(-6, 6))),
  m('indexSelect', (r, t) => t.indexSelect(dim(r, t), index(r, t).flatten())),
  m('index', (r, t) => t.index(t.shape.slice(0, r.int(0, t.ndim + 1)).map(() => (r.chance(0.3) ? null : index(r, t))))),
  m('indexPut_', (r, t) => t.indexPut_([index(r, t)], randTensor(r, relatedShape(r, t.shape), t.dtype), r.chance(0.5))),
  m('gather', (r, t) => t.gather(dim(r, t), index(r, t))),
  m('scatter', (r, t) => t.scatter(dim(r, t), index(r, t), other(r, t))),
  m('scatterAdd', (r, t) => t.scatterAdd(dim(r, t), index(r, t), randTensor(r, relatedShape(r, t.shape), t.dtype))),
  m('maskedFill', (r, t) => t.maskedFill(randTensor(r, relatedShape(r, t.shape), r.chance(0.8) ? 'bool' : 'uint8'), num(r))),
  m('maskedSelect', (r, t) => t.maskedSelect(randTensor(r, relatedShape(r, t.shape), 'bool'))),
  m('repeat', (r, t) => t.repeat(shapeLike(r, t))),
  m('repeatInterleave', (r, t) => t.repeatInterleave(r.pick([0, 2, -1, 2 ** 40]), r.chance(0.5) ? dim(r, t) : undefined)),
  m('flip', (r, t) => t.flip([dim(r, t)])),
  m('roll', (r, t) => t.roll([r.int(-7, 7)], r.chance(0.5) ? [dim(r, t)] : [])),
  m('tril', (r, t) => t.tril(r.int(-3, 3))),
  m('chunk', (r, t) => t.chunk(r.pick([1, 2, 0, -1, 2 ** 40]), dim(r, t))),
  m('split', (r, t) => t.split(r.chance(0.5) ? r.pick([1, 2, 0, -1]) : [1, 2], dim(r, t))),
  m('sort', (r, t) => t.sort(dim(r, t), r.chance(0.5))),
  m('topk', (r, t) => t.topk(r.pick([0, 1, 3, -1, 2 ** 40]), dim(r, t))),
  m('to', (r, t) => t.to(r.chance(0.9) ? r.pick(DTYPES) : loose(r))),
  m('contiguous', (r, t) => t.contiguous(r.pick(['contiguous', 'channelsLast']))),
  m('item', (r, t) => t.item()),
  m('data', (r, t) => t.data()),
  m('toNested', (r, t) => t.toNested()),
  m('backward', (r, t) => {
    const x = t.to('float32').requiresGrad_(true);
    const y = r.chance(0.5) ? x.mul(x).sum() : x.exp();
    y.backward(r.chance(0.5) ? undefined : randTensor(r, relatedShape(r, y.shape), 'float32'));
    return x.grad;
  }),
  m('cat', (r, t) => torch.cat([t, randTensor(r, relatedShape(r, t.shape), r.chance(0.8) ? t.dtype : r.pick(DTYPES))], dim(r, t))),
  m('stack', (r, t) => torch.stack([t, randTensor(r, relatedShape(r, t.shape), t.dtype)], dim(r, t))),
  m('where', (r, t) => torch.where(randTensor(r, relatedShape(r, t.shape), 'bool'), t, other(r, t))),
  m('einsum', (r, t) => torch.einsum(r.pick(['ij,jk->ik', 'i,i->', 'bij->bji', '...i->...', 'ii', 'i->ij', '']), [t, randTensor(r, shapeLike(r, t), t.dtype)])),
  m('conv2d', (r, t) => torch.conv2d(t, randTensor(r, randShape(r), t.dtype), null, { stride: r.pick([1, 2, 0, -1]), padding: r.pick([0, 1, -1, 2 ** 40]), groups: r.pick([1, 2, 0]) })),
  m('groupNorm', (r, t) => torch.groupNorm(t, r.pick([1, 2, 0, -1, 3]))),
  m('layerNorm', (r, t) => torch.layerNorm(t, t.shape.slice(r.int(0, t.ndim)))),
  m('interpolate', (r, t) => torch.interpolate(t, r.chance(0.5) ? { size: [r.int(-1, 6), r.int(0, 6)] } : { scaleFactor: num(r), mode: r.pick(['nearest', 'bilinear']) })),
  m('avgPool2d', (r, t) => torch.avgPool2d(t, r.pick([1, 2, 0, -1, 2 ** 40]))),
  m('maxPool2d', (r, t) => torch.maxPool2d(t, r.pick([1, 2, 3, 0]), { stride: r.pick([1, 2, 0]), padding: r.pick([0, 1, 2]) })),
  m('pad', (r, t) => torch.pad(t, [r.int(-3, 3), r.int(-3, 3)], r.pick(['constant', 'reflect', 'replicate', 'circular']))),
  m('oneHot', (r, t) => torch.oneHot(t, r.pick([-1, 0, 3, 2 ** 40]))),
  m('multinomial', (r, t) => torch.multinomial(t, r.pick([0, 1, 3, 2 ** 40]), r.chance(0.5))),
  m('embedding', (r, t) => torch.embedding(index(r, t), randTensor(r, randShape(r)))),
  m('crossEntropy', (r, t) => torch.crossEntropy(t, index(r, t), r.pick(['mean', 'sum', 'none']), r.pick([0, 0.1, -1, 2]))),
  m('mseLoss', (r, t) => torch.mseLoss(t, randTensor(r, relatedShape(r, t.shape)))),
  m('sdpa', (r, t) => torch.scaledDotProductAttention(t, randTensor(r, relatedShape(r, t.shape), t.dtype), randTensor(r, relatedShape(r, t.shape), t.dtype))),
  m('zeros', (r) => torch.zeros(randShape(r, r.chance(0.3)), { dtype: r.pick(DTYPES) })),
  m('full', (r) => torch.full(randShape(r, r.chance(0.3)), num(r), { dtype: r.pick(DTYPES) })),
  m('randn', (r) => torch.randn(randShape(r, r.chance(0.3)))),
  m('randint', (r) => torch.randint(r.pick([0, -5, 2 ** 53]), r.pick([1, 0, 10, 2 ** 40]), randShape(r))),
  m('arange', (r) => torch.arange(num(r), num(r), r.pick([1, 0, -1, 0.5, 1e-300]))),
  m('linspace', (r) => torch.linspace(num(r), num(r), r.pick([0, 1, 5, -1, 2 ** 40]))),
  m('tensor', (r) => torch.tensor(r.pick<unknown>([[[1, 2], [3]], [true, 1], [], [[[]]], 'abc', [NaN, Infinity, 1e308], [2 ** 53]]) as number[], { dtype: r.pick(DTYPES) })),
  m('randperm', (r) => torch.randperm(r.pick([0, 5, -1, 2 ** 40]))),
];
