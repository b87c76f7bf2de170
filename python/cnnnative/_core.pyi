"""
cnnnative C++ core: CPU kernels (NCHW float32, OIHW weights).
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
import typing_extensions
__all__: list[str] = ['EnginePlan', 'Int8PackedWeights', 'WinogradWeights', 'adagrad_step', 'adam_step', 'adaptive_avg_pool', 'adaptive_avg_pool_backward', 'adaptive_max_pool', 'adaptive_max_pool_backward', 'add', 'add_relu', 'available_isas', 'avg_pool2d', 'avg_pool2d_backward', 'avg_pool3d', 'avg_pool3d_backward', 'avg_pool_channels', 'avg_pool_channels_backward', 'avx2_int8_kernel', 'avx_vnni_kernel_built', 'batch_norm_backward', 'batch_norm_forward', 'best_isa', 'bf16_gemm', 'bf16_native', 'bf16_round', 'bf16_supported', 'binary_cross_entropy_with_logits', 'binary_cross_entropy_with_logits_backward', 'buffer_elem_bytes', 'build_info', 'channel_scale', 'channel_scale_backward', 'channel_shuffle', 'clear_autotune_cache', 'conv2d', 'conv2d_input', 'conv2d_weight', 'conv3d', 'conv3d_input', 'conv3d_weight', 'conv_algorithm_names', 'conv_algorithm_support', 'conv_transpose_subpixel', 'conv_transpose_subpixel_input_grad', 'conv_transpose_subpixel_preferred', 'conv_transpose_subpixel_weight', 'conv_transpose_subpixel_weight_grad', 'cpu_caches', 'cpu_has_avx512_vnni', 'cpu_has_avx_vnni', 'cross_entropy_backward', 'cross_entropy_rows', 'depthwise_conv2d_weight', 'dropout', 'dropout_backward', 'elu', 'elu_backward', 'gelu', 'gelu_backward', 'gelu_tanh', 'gelu_tanh_backward', 'gemm', 'get_autotune', 'get_fast_algorithms', 'get_isa', 'get_num_threads', 'global_avg_pool2d', 'global_avg_pool2d_backward', 'group_norm_backward', 'group_norm_forward', 'hardsigmoid', 'hardsigmoid_backward', 'hardswish', 'hardswish_backward', 'hardtanh', 'hardtanh_backward', 'int8_depthwise', 'int8_gemm', 'int8_gemm_packed', 'int8_im2col', 'int8_isa', 'layer_norm_backward', 'layer_norm_forward', 'leaky_relu', 'leaky_relu_backward', 'linear', 'linear_backward', 'load_plan_bytes', 'load_plan_file', 'local_response_norm', 'local_response_norm_backward', 'locally_connected2d', 'locally_connected2d_backward', 'log_sigmoid', 'log_sigmoid_backward', 'log_softmax', 'log_softmax_backward', 'max_pool2d', 'max_pool2d_backward', 'max_pool3d', 'max_pool3d_backward', 'max_pool_channels', 'max_pool_channels_backward', 'measure_bf16_peak', 'measure_fma_peak', 'measure_int8_peak', 'mish', 'mish_backward', 'mse_loss', 'mse_loss_backward', 'output_cache_bytes', 'output_cache_clear', 'pad', 'pad_backward', 'pixel_shuffle', 'pixel_unshuffle', 'plan_add_avg_pool_u8', 'plan_add_concat_u8', 'plan_add_conv_int8', 'plan_add_dequantize', 'plan_add_global_avg_pool_u8', 'plan_add_linear_int8', 'plan_add_max_pool_u8', 'plan_add_quantize', 'plan_crc32', 'prelu', 'prelu_backward', 'relu', 'relu6', 'relu6_backward', 'relu_backward', 'resample', 'resample_backward', 'rmsprop_step', 'scale_', 'set_autotune', 'set_avx2_int8_kernel', 'set_fast_algorithms', 'set_isa', 'set_num_threads', 'set_scratch_nan', 'sgd_step', 'sgemm_blocking', 'sgemm_kernels', 'sigmoid', 'sigmoid_backward', 'silu', 'silu_backward', 'softmax', 'softmax_backward', 'softplus', 'softplus_backward', 'softsign', 'softsign_backward', 'sum_of_squares', 'tanh', 'tanh_backward', 'team_contention', 'thread_settings', 'threshold', 'threshold_backward', 'winograd_default_tile', 'winograd_forward_prepared', 'winograd_prepare']
class EnginePlan:
    """
    A compiled network: nodes over numbered buffers (0 = input), one planned arena.
    """
    def __init__(self, input_shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], algo: str = 'auto') -> None:
        ...
    def add_activation(self, input: typing.SupportsInt | typing.SupportsIndex, activation: str) -> int:
        ...
    def add_add(self, a: typing.SupportsInt | typing.SupportsIndex, b: typing.SupportsInt | typing.SupportsIndex, activation: str = 'none') -> int:
        ...
    def add_avg_pool(self, input: typing.SupportsInt | typing.SupportsIndex, kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], ceil_mode: bool, count_include_pad: bool) -> int:
        ...
    def add_channel_affine(self, input: typing.SupportsInt | typing.SupportsIndex, scale: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], shift: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], activation: str = 'none') -> int:
        ...
    def add_channel_scale(self, input: typing.SupportsInt | typing.SupportsIndex, scale: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def add_channel_shuffle(self, input: typing.SupportsInt | typing.SupportsIndex, groups: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def add_channel_slice(self, input: typing.SupportsInt | typing.SupportsIndex, start: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def add_concat(self, inputs: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> int:
        ...
    def add_conv(self, input: typing.SupportsInt | typing.SupportsIndex, weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex, activation: str = 'none', residual: typing.SupportsInt | typing.SupportsIndex = -1, slope: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None) -> int:
        ...
    def add_conv_transpose(self, input: typing.SupportsInt | typing.SupportsIndex, weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], output_padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex, activation: str = 'none', slope: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None) -> int:
        ...
    def add_flatten(self, input: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def add_global_avg_pool(self, input: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def add_interpolate(self, input: typing.SupportsInt | typing.SupportsIndex, size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], mode: str, align_corners: bool, scale: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex]) -> int:
        """
        size (out_h, out_w); scale: PyTorch's scale_factor per axis, 0 where the sizes rule
        """
    def add_linear(self, input: typing.SupportsInt | typing.SupportsIndex, weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, activation: str = 'none', slope: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None) -> int:
        ...
    def add_max_pool(self, input: typing.SupportsInt | typing.SupportsIndex, kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], ceil_mode: bool) -> int:
        ...
    def add_pixel_shuffle(self, input: typing.SupportsInt | typing.SupportsIndex, upscale_factor: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def add_pixel_unshuffle(self, input: typing.SupportsInt | typing.SupportsIndex, downscale_factor: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def add_softmax(self, input: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def buffer_shape(self, id: typing.SupportsInt | typing.SupportsIndex) -> list[int]:
        ...
    def finalize(self, output: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def nodes(self) -> list[typing.Any]:
        ...
    def profile(self, input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> list[float]:
        """
        Run once and return each node's seconds.
        """
    def run(self, input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], poison: bool = False, out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
        """
        Run every node with the GIL released; input (n, ...) with n <= the compiled batch.
        """
    def set_precision(self, precision: str) -> None:
        """
        'bf16': conv (but depthwise) and linear nodes added afterwards multiply bf16 inputs and weights with fp32 accumulation; 'fp32' (default): everything fp32.
        """
    @property
    def arena_bytes(self) -> int:
        ...
    @property
    def arenas_created(self) -> int:
        ...
    @property
    def output_id(self) -> int:
        ...
    @property
    def planned_threads(self) -> int:
        ...
    @property
    def precision(self) -> str:
        ...
    @property
    def unshared_bytes(self) -> int:
        ...
    @property
    def weight_bytes(self) -> int:
        ...
class WinogradWeights:
    @property
    def groups(self) -> int:
        ...
    @property
    def in_channels_per_group(self) -> int:
        ...
    @property
    def nbytes(self) -> int:
        ...
    @property
    def out_channels(self) -> int:
        ...
    @property
    def tile(self) -> int:
        ...
class Int8PackedWeights:
    """
    int8 weights (M, K) packed for the active ISA's int8 GEMM kernel.
    """
    def __init__(self, w: numpy.ndarray, n_hint: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    @property
    def packed_bytes(self) -> int:
        ...
    @property
    def row_sums(self) -> numpy.typing.NDArray[numpy.int32]:
        """
        sum_k w[m, k] as int32, (M,).
        """
    @property
    def shape(self) -> tuple[int, int]:
        ...
    @property
    def tile_rows(self) -> int:
        """
        Rows per packed tile (64: the VNNI kernel with lanes along M, chosen for small n_hint).
        """
def _engine_plan_arena(requests: collections.abc.Sequence[typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"]], alignment: typing.SupportsInt | typing.SupportsIndex = 64) -> tuple[list[int], int]:
    ...
def _force_depthwise_layout(layout: str) -> None:
    """
    Depthwise convolutions in compiled models: 'auto' (the measured rule), 'planes' (the per-plane kernels) or 'channels' (16 channels per vector, AVX-512, where the geometry allows).
    """
def _force_pool_layout(layout: str) -> None:
    """
    Max and average pooling (compiled and eager): 'auto' (the measured rule), 'planes' (the per-plane kernels) or 'channels' (16 planes per vector, AVX-512, where the window allows).
    """
def _force_sgemm_kernel(name: str) -> None:
    """
    Testing aid: force an SGEMM tile by name for calls on its ISA ('' = automatic).
    """
def _parallel_team_size(may_back_off: bool = False) -> int:
    """
    Testing aid: the team size of one region opened by the calling thread (may_back_off: a
    run_team region, which runs alone during a busy-machine back-off).
    """
def _plan_loader_max_buffer_bytes(bytes: typing.SupportsInt | typing.SupportsIndex = 0) -> int:
    """
    Test hook: the loader's per-buffer byte limit (set when bytes > 0); returns the old one.
    """
def _scale_to_l2(tuned: typing.SupportsInt | typing.SupportsIndex, multiple: typing.SupportsInt | typing.SupportsIndex, l2: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    Testing: a block size tuned for a 1 MiB L2, scaled to an L2 of l2 bytes.
    """
def _set_debug_fill(on: bool) -> None:
    """
    Test aid: NaN-fill every output the ops bindings allocate before the kernel runs.
    """
def _set_sgemm_poison_scratch(on: bool) -> None:
    """
    Testing aid: fill SGEMM pack buffers with NaN before each call.
    """
def _set_team_always_backed_off(always: bool) -> None:
    """
    Benchmarks and tests: every parallel region that may back off runs on the calling
    thread alone, as during a busy-machine back-off (True), or as the back-off decides.
    """
def _set_team_contention_backoff(enabled: bool) -> None:
    """
    Benchmarks and tests: turn the busy-machine back-off off (regions always use the
    team) or on again.
    """
def _set_team_wait(spin_us: typing.SupportsInt | typing.SupportsIndex, yield_us: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Benchmarks and tests: how long idle members of the thread team pause-spin,
    then yield, before they sleep (microseconds; negative keeps a value).
    """
def _sgemm_batched_in_parallel(a: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], b: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], use_sgemm: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    Testing aid: (B, M, K) @ (B, K, N), one SGEMM per item of a team loop.
    """
def _sgemm_variants() -> list[str]:
    """
    Testing aid: every SGEMM tile/blocking compiled in.
    """
def adagrad_step(param: typing.Any, grad: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], state_sum: typing.Any, step: typing.SupportsInt | typing.SupportsIndex, lr: typing.SupportsFloat | typing.SupportsIndex, lr_decay: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, maximize: bool) -> None:
    ...
def adam_step(param: typing.Any, grad: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], exp_avg: typing.Any, exp_avg_sq: typing.Any, max_exp_avg_sq: typing.Any, step: typing.SupportsInt | typing.SupportsIndex, lr: typing.SupportsFloat | typing.SupportsIndex, beta1: typing.SupportsFloat | typing.SupportsIndex, beta2: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, amsgrad: bool, decoupled_weight_decay: bool, maximize: bool) -> None:
    ...
def adaptive_avg_pool(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], output_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def adaptive_avg_pool_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(5)"]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def adaptive_max_pool(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], output_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], return_indices: bool) -> tuple[typing.Any, ...]:
    ...
def adaptive_max_pool_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], indices: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(5)"]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def add(a: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], b: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def add_relu(a: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], b: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def available_isas() -> list[str]:
    ...
def avg_pool2d(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], ceil_mode: bool, count_include_pad: bool) -> numpy.typing.NDArray[numpy.float32]:
    ...
def avg_pool2d_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], ceil_mode: bool, count_include_pad: bool) -> numpy.typing.NDArray[numpy.float32]:
    ...
def avg_pool3d(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], ceil_mode: bool, count_include_pad: bool) -> numpy.typing.NDArray[numpy.float32]:
    ...
def avg_pool3d_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(5)"], kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], ceil_mode: bool, count_include_pad: bool) -> numpy.typing.NDArray[numpy.float32]:
    ...
def avg_pool_channels(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kernel_size: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def avg_pool_channels_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input_size: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], kernel_size: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def avx2_int8_kernel() -> str:
    """
    The choice set by set_avx2_int8_kernel ('auto' unless changed).
    """
def avx_vnni_kernel_built() -> bool:
    """
    Whether this build has the AVX-VNNI int8 kernel (the compiler knew -mavxvnni).
    """
def batch_norm_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, save_mean: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], save_invstd: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], training: bool) -> tuple[typing.Any, ...]:
    """
    -> (grad_input, grad_weight or None, grad_bias or None)
    """
def batch_norm_forward(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], running_mean: typing.Any, running_var: typing.Any, weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, training: bool, momentum: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex) -> tuple[typing.Any, ...]:
    """
    -> (output, save_mean, save_invstd); running stats updated in place when training
    """
def best_isa() -> str:
    ...
def bf16_gemm(a: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], w: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], threads: typing.SupportsInt | typing.SupportsIndex = 1) -> numpy.typing.NDArray[numpy.float32]:
    """
    c (m, n) = bf16(a) (m, k) @ bf16(w).T (k, n), fp32 accumulation; vdpbf16ps where it runs, else the rounded fp32 GEMM.
    """
def bf16_native() -> bool:
    """
    Do the AVX512-BF16 kernels run now (CPU support and active ISA avx512)?
    """
def bf16_round(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> numpy.typing.NDArray[numpy.float32]:
    """
    fp32(bf16(x)): round to nearest even, NaN kept, denormals to signed zero.
    """
def bf16_supported() -> bool:
    """
    Does this CPU have AVX512-BF16 (vdpbf16ps)?
    """
def binary_cross_entropy_with_logits(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], target: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, pos_weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, reduce: bool = False) -> typing.Any:
    """
    Stable BCE of logits per element (weight / pos_weight already broadcast to the input's shape), or (reduce=True) the float64 sum.
    """
def binary_cross_entropy_with_logits_backward(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], target: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], scale: typing.SupportsFloat | typing.SupportsIndex, grad: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, pos_weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def buffer_elem_bytes(plan: EnginePlan, id: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    4 for a float32 buffer, 1 for uint8.
    """
def build_info() -> dict[str, typing.Any]:
    """
    Compiler, flags and options this binary was built with.
    """
def channel_scale(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], scale: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def channel_scale_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], scale: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], want_input: bool = True, want_scale: bool = True) -> tuple[typing.Any, ...]:
    ...
def channel_shuffle(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], groups: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def clear_autotune_cache() -> None:
    ...
def conv2d(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex, algo: str) -> numpy.typing.NDArray[numpy.float32]:
    ...
def conv2d_input(input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex, algo: str) -> numpy.typing.NDArray[numpy.float32]:
    ...
def conv2d_weight(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex, with_bias: bool) -> tuple[typing.Any, ...]:
    ...
def conv3d(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(6)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], groups: typing.SupportsInt | typing.SupportsIndex, algo: str = 'auto') -> numpy.typing.NDArray[numpy.float32]:
    ...
def conv3d_input(input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(5)"], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(6)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], groups: typing.SupportsInt | typing.SupportsIndex, algo: str = 'auto') -> numpy.typing.NDArray[numpy.float32]:
    ...
def conv3d_weight(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(5)"], grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(6)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], groups: typing.SupportsInt | typing.SupportsIndex, with_bias: bool, algo: str = 'auto') -> tuple[typing.Any, ...]:
    ...
def conv_algorithm_names() -> list[str]:
    ...
def conv_algorithm_support(arg0: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], arg1: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], arg2: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], arg3: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], arg4: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], arg5: typing.SupportsInt | typing.SupportsIndex) -> dict[str, typing.Any]:
    ...
def conv_transpose_subpixel(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], stacked_weight: typing.Any, input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex, weight_finite: bool = False, bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def conv_transpose_subpixel_input_grad(grad_input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], stacked_weight: typing.Any, stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex, weight_finite: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    ...
def conv_transpose_subpixel_preferred(weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex, for_input_gradient: bool) -> bool:
    ...
def conv_transpose_subpixel_weight(weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex, for_input_gradient: bool) -> typing.Any:
    ...
def conv_transpose_subpixel_weight_grad(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex) -> typing.Any:
    ...
def cpu_caches() -> dict[str, typing.Any]:
    """
    Data cache sizes in bytes (L1d and L2 per core, L3 as reported) the GEMM blocking is sized for, and where they came from ('cpuid', 'sysconf' or 'default').
    """
def cpu_has_avx512_vnni() -> bool:
    """
    Whether the CPU has AVX512-VNNI (and AVX-512 is usable).
    """
def cpu_has_avx_vnni() -> bool:
    """
    Whether the CPU has AVX-VNNI (VEX-encoded vpdpbusd).
    """
def cross_entropy_backward(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], target: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], scale: typing.SupportsFloat | typing.SupportsIndex, row_scale: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, ignore_index: typing.SupportsInt | typing.SupportsIndex | None = None, label_smoothing: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> numpy.typing.NDArray[numpy.float32]:
    ...
def cross_entropy_rows(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], target: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, ignore_index: typing.SupportsInt | typing.SupportsIndex | None = None, label_smoothing: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> numpy.typing.NDArray[numpy.float32]:
    """
    Per-row cross-entropy losses (N,) of logits (N, classes) and labels (N,), times the label's class weight; 0 for rows labelled ignore_index.
    """
def depthwise_conv2d_weight(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex, with_bias: bool) -> tuple[typing.Any, ...]:
    ...
def dropout(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], p: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> tuple[typing.Any, ...]:
    """
    Inverted dropout; returns (output, uint8 mask). Same seed -> same mask.
    """
def dropout_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], mask: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8], p: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def elu(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], alpha: typing.SupportsFloat | typing.SupportsIndex, scale: typing.SupportsFloat | typing.SupportsIndex, input_scale: typing.SupportsFloat | typing.SupportsIndex, out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def elu_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], alpha: typing.SupportsFloat | typing.SupportsIndex, scale: typing.SupportsFloat | typing.SupportsIndex, input_scale: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def gelu(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def gelu_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def gelu_tanh(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def gelu_tanh_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def gemm(a: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], b: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], trans_a: bool = False, trans_b: bool = False, alpha: typing.SupportsFloat | typing.SupportsIndex = 1.0, beta: typing.SupportsFloat | typing.SupportsIndex = 0.0, out: typing.Any = None, row_bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, col_bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, clamp_min: typing.SupportsFloat | typing.SupportsIndex = ..., clamp_max: typing.SupportsFloat | typing.SupportsIndex = ..., single_thread: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    C = clamp(alpha * op(a) @ op(b) + beta * out + row_bias[:, None] + col_bias[None, :]).
    a, b: 2-D float32 (converted if not); out: float32 C-contiguous writeable (M, N).
    """
def get_autotune() -> bool:
    ...
def get_fast_algorithms() -> dict[str, typing.Any]:
    ...
def get_isa() -> str:
    """
    The instruction set kernels use now: 'scalar', 'avx2' or 'avx512'.
    """
def get_num_threads() -> int:
    """
    Threads every kernel uses.
    """
def global_avg_pool2d(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def global_avg_pool2d_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def group_norm_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], num_groups: typing.SupportsInt | typing.SupportsIndex, mean: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], rstd: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None) -> tuple[typing.Any, ...]:
    """
    -> (grad_input, grad_weight or None, grad_bias or None)
    """
def group_norm_forward(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], num_groups: typing.SupportsInt | typing.SupportsIndex, weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, eps: typing.SupportsFloat | typing.SupportsIndex) -> tuple[typing.Any, ...]:
    """
    -> (output, mean, rstd), (N, G) each
    """
def hardsigmoid(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def hardsigmoid_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def hardswish(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def hardswish_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def hardtanh(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], min_val: typing.SupportsFloat | typing.SupportsIndex, max_val: typing.SupportsFloat | typing.SupportsIndex, out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def hardtanh_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], min_val: typing.SupportsFloat | typing.SupportsIndex, max_val: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def int8_depthwise(x: numpy.ndarray, w: numpy.ndarray, zero_point: typing.SupportsInt | typing.SupportsIndex = 0, stride: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = [1], padding: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = [0], dilation: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = [1], single_thread: bool = False) -> numpy.typing.NDArray[numpy.int32]:
    """
    Exact int32 depthwise conv: uint8 x (N, C, H, W), int8 w (K, 1, R, S) with K a multiple of C;
    padding reads zero_point. Returns (N, K, OH, OW) int32.
    """
def int8_gemm(w: numpy.ndarray, x: numpy.ndarray, single_thread: bool = False, n_hint: typing.SupportsInt | typing.SupportsIndex = 0) -> numpy.typing.NDArray[numpy.int32]:
    """
    Exact int32 C (M, N) = w @ x for int8 w (M, K) and uint8 x (K, N) (packs w each call).
    """
def int8_gemm_packed(w: Int8PackedWeights, x: numpy.ndarray, single_thread: bool = False, out: typing.Any = None) -> numpy.typing.NDArray[numpy.int32]:
    """
    Exact int32 C (M, N) = w @ x for packed int8 w (M, K) and uint8 x (K, N); out: int32 (M, N).
    """
def int8_im2col(x: numpy.ndarray, R: typing.SupportsInt | typing.SupportsIndex, S: typing.SupportsInt | typing.SupportsIndex, stride: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = [1], padding: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = [0], dilation: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = [1], groups: typing.SupportsInt | typing.SupportsIndex = 1, group: typing.SupportsInt | typing.SupportsIndex = 0, zero_point: typing.SupportsInt | typing.SupportsIndex = 0) -> numpy.typing.NDArray[numpy.uint8]:
    """
    im2col of one uint8 image x (C, H, W) for one group: (C/groups*R*S, OH*OW), padding = zero_point.
    """
def int8_isa() -> str:
    """
    The int8 GEMM kernel the dispatch picks now: 'avx512_vnni', 'avx_vnni', 'avx2' or 'scalar' ('avx_vnni_evex' when chosen by set_avx2_int8_kernel).
    """
def layer_norm_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], normalized_shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], mean: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], rstd: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None) -> tuple[typing.Any, ...]:
    """
    -> (grad_input, grad_weight or None, grad_bias or None)
    """
def layer_norm_forward(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], normalized_shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, eps: typing.SupportsFloat | typing.SupportsIndex) -> tuple[typing.Any, ...]:
    """
    -> (output, mean, rstd)
    """
def leaky_relu(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], negative_slope: typing.SupportsFloat | typing.SupportsIndex, out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def leaky_relu_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], negative_slope: typing.SupportsFloat | typing.SupportsIndex, out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def linear(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def linear_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], need_bias: bool) -> tuple[typing.Any, ...]:
    ...
def load_plan_bytes(data: typing_extensions.Buffer) -> tuple[typing.Any, ...]:
    """
    Load a plan file from bytes: (EnginePlan, (input name, shape), (output name, shape)).
    """
def load_plan_file(path: str) -> tuple[typing.Any, ...]:
    """
    Load a plan file from a path: (EnginePlan, (input name, shape), (output name, shape)).
    """
def local_response_norm(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], size: typing.SupportsInt | typing.SupportsIndex, alpha: typing.SupportsFloat | typing.SupportsIndex, beta: typing.SupportsFloat | typing.SupportsIndex, k: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def local_response_norm_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], size: typing.SupportsInt | typing.SupportsIndex, alpha: typing.SupportsFloat | typing.SupportsIndex, beta: typing.SupportsFloat | typing.SupportsIndex, k: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def locally_connected2d(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def locally_connected2d_backward(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], need_input: bool, need_weight: bool) -> tuple[typing.Any, ...]:
    ...
def log_sigmoid(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def log_sigmoid_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def log_softmax(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], dim: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def log_softmax_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], dim: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def max_pool2d(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], ceil_mode: bool, return_indices: bool) -> tuple[typing.Any, ...]:
    ...
def max_pool2d_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], indices: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def max_pool3d(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(3)"], ceil_mode: bool, return_indices: bool) -> tuple[typing.Any, ...]:
    ...
def max_pool3d_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], indices: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(5)"]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def max_pool_channels(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kernel_size: typing.SupportsInt | typing.SupportsIndex, return_indices: bool) -> tuple[typing.Any, ...]:
    ...
def max_pool_channels_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], indices: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], input_size: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], kernel_size: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def measure_bf16_peak(seconds: typing.SupportsFloat | typing.SupportsIndex = 0.5) -> float:
    """
    One core's vdpbf16ps throughput in GFLOP/s (thread CPU time); 0 without AVX512-BF16.
    """
def measure_fma_peak(seconds: typing.SupportsFloat | typing.SupportsIndex = 0.2, threads: typing.SupportsInt | typing.SupportsIndex | None = None, thread_cpu_time: bool = False) -> float:
    """
    Peak FP32 FMA rate in GFLOP/s on `threads` threads (default: the library's).
    thread_cpu_time=True (threads=1 only) times by the thread's CPU time.
    """
def measure_int8_peak(seconds: typing.SupportsFloat | typing.SupportsIndex = 0.2, threads: typing.SupportsInt | typing.SupportsIndex | None = None, thread_cpu_time: bool = False) -> float:
    """
    Peak int8 multiply-add rate of the int8_isa() kernel in GOPS (multiply-add = 2 ops).
    """
def mish(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def mish_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def mse_loss(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], target: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], reduce: bool) -> typing.Any:
    """
    (input - target)^2 per element, or (reduce=True) their float64 sum.
    """
def mse_loss_backward(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], target: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], scale: typing.SupportsFloat | typing.SupportsIndex, grad: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None) -> numpy.typing.NDArray[numpy.float32]:
    """
    2 (input - target) * scale (* grad elementwise when given).
    """
def output_cache_bytes() -> int:
    """
    Bytes of freed large outputs kept for reuse (at most 256 MB; see output_cache.h).
    """
def output_cache_clear() -> None:
    """
    Free the kept output blocks.
    """
def pad(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], pads: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(6)"], mode: str, value: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> numpy.typing.NDArray[numpy.float32]:
    """
    Pads the last three dimensions of a (planes, D, H, W) array; pads = (W before, W after, H before, H after, D before, D after), negative crops; mode constant/reflect/replicate/circular.
    """
def pad_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input_shape: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], pads: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(6)"], mode: str) -> numpy.typing.NDArray[numpy.float32]:
    """
    Gradient of pad with respect to its input: borders add into the elements they copy.
    """
def pixel_shuffle(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], upscale_factor: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def pixel_unshuffle(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], downscale_factor: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def plan_add_avg_pool_u8(plan: EnginePlan, input: typing.SupportsInt | typing.SupportsIndex, kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], ceil_mode: bool, count_include_pad: bool, q: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], out_u8: bool) -> int:
    ...
def plan_add_concat_u8(plan: EnginePlan, inputs: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], in_q: collections.abc.Sequence[tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]], out_q: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]) -> int:
    ...
def plan_add_conv_int8(plan: EnginePlan, input: typing.SupportsInt | typing.SupportsIndex, in_q: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.int8], mult: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], groups: typing.SupportsInt | typing.SupportsIndex, activation: str, residual: typing.SupportsInt | typing.SupportsIndex, res_q: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], out_u8: bool, out_q: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]) -> int:
    ...
def plan_add_dequantize(plan: EnginePlan, input: typing.SupportsInt | typing.SupportsIndex, scale: typing.SupportsFloat | typing.SupportsIndex, zero_point: typing.SupportsInt | typing.SupportsIndex) -> int:
    ...
def plan_add_global_avg_pool_u8(plan: EnginePlan, input: typing.SupportsInt | typing.SupportsIndex, q: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], out_u8: bool) -> int:
    ...
def plan_add_linear_int8(plan: EnginePlan, input: typing.SupportsInt | typing.SupportsIndex, in_q: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.int8], mult: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], activation: str, out_u8: bool, out_q: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]) -> int:
    ...
def plan_add_max_pool_u8(plan: EnginePlan, input: typing.SupportsInt | typing.SupportsIndex, kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], ceil_mode: bool, q: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], out_u8: bool) -> int:
    ...
def plan_add_quantize(plan: EnginePlan, input: typing.SupportsInt | typing.SupportsIndex, scale: typing.SupportsFloat | typing.SupportsIndex, zero_point: typing.SupportsInt | typing.SupportsIndex) -> int:
    ...
def plan_crc32(data: bytes) -> int:
    """
    CRC-32 (zlib's) of bytes, as the plan file checksum uses.
    """
def prelu(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> numpy.typing.NDArray[numpy.float32]:
    """
    x where x > 0, else weight[c] * x (c the index on dim 1; a 1-element weight is shared).
    """
def prelu_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input_grad: bool = True, weight_grad: bool = True) -> tuple[typing.Any, ...]:
    """
    (grad_input or None, grad_weight or None) of prelu.
    """
def relu(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def relu6(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def relu6_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def relu_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def resample(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], mode: str, align_corners: bool, output_size: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], scales: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> numpy.typing.NDArray[numpy.float32]:
    """
    interpolate's kernel: mode 'nearest' | 'nearest-exact' | 'linear' (separable, 1-3 spatial axes); scales[i] is the user's scale_factor for axis i or 0.
    """
def resample_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input_size: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], mode: str, align_corners: bool, scales: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def rmsprop_step(param: typing.Any, grad: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], square_avg: typing.Any, grad_avg: typing.Any, momentum_buffer: typing.Any, lr: typing.SupportsFloat | typing.SupportsIndex, alpha: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex, centered: bool, maximize: bool) -> None:
    ...
def scale_(x: typing.Any, s: typing.SupportsFloat | typing.SupportsIndex) -> None:
    ...
def set_autotune(on: bool) -> None:
    ...
def set_avx2_int8_kernel(name: str) -> None:
    """
    The int8 GEMM kernel of the avx2 ISA (and of avx512 without AVX512-VNNI): 'auto' (AVX-VNNI where the CPU has it, else AVX2), 'avx2', 'avx_vnni', or 'avx_vnni_evex' (the AVX-VNNI kernel in EVEX encoding, for tests on AVX512-VNNI machines). Raises ValueError for one this CPU or build cannot run. The environment variable CNNNATIVE_AVX2_INT8_KERNEL sets it at first use.
    """
def set_fast_algorithms(winograd: bool, fft: bool) -> None:
    ...
def set_isa(isa: str) -> None:
    """
    Force kernels onto an ISA this CPU supports (ValueError otherwise).
    """
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the threads every kernel uses (n >= 1).
    """
def set_scratch_nan(on: bool) -> None:
    ...
def sgd_step(param: typing.Any, grad: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], momentum_buffer: typing.Any, lr: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex, dampening: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, nesterov: bool, first_step: bool) -> None:
    ...
def sgemm_blocking(M: typing.SupportsInt | typing.SupportsIndex = 1024, N: typing.SupportsInt | typing.SupportsIndex = 1024, K: typing.SupportsInt | typing.SupportsIndex = 1024, trans_b: bool = False) -> dict[str, typing.Any]:
    """
    Tile (mr, nr), cache blocks (mc, kc, nc) and kernel name the active ISA's SGEMM uses
    for an M x N x K product; transposed: it computes C^T (N x M) and transposes it.
    """
def sgemm_kernels() -> list[str]:
    """
    Tiles the active ISA chooses from, by name.
    """
def sigmoid(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def sigmoid_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def silu(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def silu_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def softmax(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], dim: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def softmax_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], dim: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def softplus(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], beta: typing.SupportsFloat | typing.SupportsIndex, threshold: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def softplus_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], beta: typing.SupportsFloat | typing.SupportsIndex, threshold: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def softsign(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def softsign_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def sum_of_squares(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> float:
    ...
def tanh(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def tanh_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def team_contention() -> dict[str, typing.Any]:
    """
    The thread team's busy-machine back-off: regions that found a member's core taken by
    another process (events), microseconds left in which regions run on the calling
    thread alone (solo_us_left), and whether the back-off is on (enabled).
    """
def thread_settings() -> dict[str, typing.Any]:
    """
    Where the thread count came from: start value and its source (OMP_NUM_THREADS or
    CPU affinity), why OMP_NUM_THREADS was ignored (or ''), the current source, and
    how idle members of the thread team wait (and which setting chose that).
    """
def threshold(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], threshold: typing.SupportsFloat | typing.SupportsIndex, value: typing.SupportsFloat | typing.SupportsIndex, out: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
    ...
def threshold_backward(grad_output: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], threshold: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    ...
def winograd_default_tile(arg0: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], arg1: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], arg2: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], arg3: typing.SupportsInt | typing.SupportsIndex) -> int:
    ...
def winograd_forward_prepared(input: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weights: WinogradWeights, padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, residual: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, activation: str) -> numpy.typing.NDArray[numpy.float32]:
    ...
def winograd_prepare(weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], groups: typing.SupportsInt | typing.SupportsIndex, tile: typing.SupportsInt | typing.SupportsIndex) -> WinogradWeights:
    ...
__version__: str = '0.1.0'
