// halide_set_num_threads lives in the JIT's shared runtime, not in
// libHalide: a one-point pipeline calls it there, so the setting reaches every
// JIT-compiled kernel of the process.
#include "bench/HalideThreads.h"

#include "Halide.h"

namespace attn::bench {

int setHalideThreads(int threads) {
  static Halide::Param<int> count("attn_bench_threads");
  static Halide::Func call = [] {
    Halide::Func f("attn_bench_set_threads");
    f() = Halide::Internal::Call::make(
        Halide::Int(32), "halide_set_num_threads", {Halide::Expr(count)},
        Halide::Internal::Call::Extern);
    return f;
  }();
  try {
    count.set(threads);
    // The kernels' target (HalideKernel::compile with default options), so
    // that this pipeline shares their JIT runtime.
    static const Halide::Target target =
        Halide::get_host_target().without_feature(
            Halide::Target::AVX512_SapphireRapids);
    Halide::Buffer<int> previous = call.realize({}, target);
    return previous();
  } catch (const Halide::Error &) {
    return -1;
  }
}

} // namespace attn::bench
