// The unfused CPU baseline: S = Q K^T (cblas_sgemm), a masked row softmax,
// O = S V (cblas_sgemm), per batch and head; and the sgemm rate of the machine.
#ifndef ATTN_BENCH_UNFUSEDATTENTION_H
#define ATTN_BENCH_UNFUSEDATTENTION_H

#include <cstdint>
#include <vector>

namespace attn::bench {

/// Which keys m a query p sees.
struct AttentionMask {
  enum Kind { None, Causal, Window } kind = None;
  /// Window: the W most recent keys, m in (p - W, p].
  int64_t window = 0;
  /// The keys [begin, end) that query row p sees (end <= begin: none).
  void keyRange(int64_t p, int64_t m, int64_t &begin, int64_t &end) const;
  /// The number of (p, m) pairs that contribute: the useful work.
  int64_t pairs(int64_t p, int64_t m) const;
};

/// Sizes of one attention problem: Q[B,H,P,E] K[B,H/G,M,E] V[B,H/G,M,F]
/// O[B,H,P,F], all row-major f32. G query heads share one key/value head
/// (grouped-query attention; G = 1 is multi-head attention): query head h
/// reads key/value head h / G.
struct AttentionShape {
  int64_t B = 1, H = 1, P = 1, M = 1, E = 1, F = 1, G = 1;
  int64_t kvHeads() const { return H / G; }
};

/// O = softmax(Q K^T / sqrt(E), masked) V through cblas_sgemm, with the
/// scores of one head materialized (P x M). `threads` is both OpenBLAS's
/// thread count and the softmax's. A query row with no visible key gets 0.
void unfusedAttention(const AttentionShape &s, const AttentionMask &mask,
                      const float *q, const float *k, const float *v, float *o,
                      std::vector<float> &scores, int threads);

/// Sets OpenBLAS's thread count.
void setBlasThreads(int threads);

/// OpenBLAS's build description (openblas_get_config).
const char *blasConfig();

/// C = A B for n x n f32 matrices, once (the caller times it).
void squareSgemm(int n, const float *a, const float *b, float *c);

} // namespace attn::bench

#endif
