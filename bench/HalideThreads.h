// The thread count of Halide's JIT runtime, set between runs (HL_NUM_THREADS
// is read only once, when the runtime's thread pool starts).
#ifndef ATTN_BENCH_HALIDETHREADS_H
#define ATTN_BENCH_HALIDETHREADS_H

namespace attn::bench {

/// Sets the number of worker threads of the shared JIT runtime that every
/// HalideKernel of this process runs on. Returns the previous setting, or -1
/// when the call could not be made. A count lower than the workers already
/// started does not take effect (they still steal work): set the smallest
/// count before any kernel runs and only raise it afterwards.
int setHalideThreads(int threads);

} // namespace attn::bench

#endif
