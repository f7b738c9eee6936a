// The unfused baseline: two cblas_sgemm calls around a masked softmax, the
// way a framework's non-fused attention runs on the CPU.
#include "bench/UnfusedAttention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <thread>

namespace attn::bench {

void AttentionMask::keyRange(int64_t p, int64_t m, int64_t &begin,
                             int64_t &end) const {
  begin = 0;
  end = m;
  if (kind == Causal || kind == Window)
    end = std::min(m, p + 1);
  if (kind == Window)
    begin = std::max<int64_t>(0, p - window + 1);
}

int64_t AttentionMask::pairs(int64_t p, int64_t m) const {
  int64_t total = 0;
  for (int64_t row = 0; row < p; ++row) {
    int64_t begin, end;
    keyRange(row, m, begin, end);
    total += std::max<int64_t>(0, end - begin);
  }
  return total;
}

/// Softmax of rows [rowBegin, rowEnd) of the P x M scores, in place; masked
/// points become 0 (they are never exponentiated, so no infinities appear).
static void softmaxRows(float *scores, int64_t m, const AttentionMask &mask,
                        int64_t rowBegin, int64_t rowEnd) {
  for (int64_t p = rowBegin; p < rowEnd; ++p) {
    float *row = scores + p * m;
    int64_t begin, end;
    mask.keyRange(p, m, begin, end);
    if (end <= begin) {
      std::fill(row, row + m, 0.0f);
      continue;
    }
    float rowMax = row[begin];
    for (int64_t j = begin; j < end; ++j)
      rowMax = std::max(rowMax, row[j]);
    float sum = 0;
    for (int64_t j = begin; j < end; ++j) {
      row[j] = std::exp(row[j] - rowMax);
      sum += row[j];
    }
    float inv = 1.0f / sum;
    for (int64_t j = begin; j < end; ++j)
      row[j] *= inv;
    std::fill(row, row + begin, 0.0f);
    std::fill(row + end, row + m, 0.0f);
  }
}

void unfusedAttention(const AttentionShape &s, const AttentionMask &mask,
                      const float *q, const float *k, const float *v, float *o,
                      std::vector<float> &scores, int threads) {
  scores.resize(static_cast<size_t>(s.P * s.M));
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.E));
  for (int64_t bh = 0; bh < s.B * s.H; ++bh) {
    // Key/value head of query head h = bh % H in batch b = bh / H.
    int64_t kvh = (bh / s.H) * s.kvHeads() + (bh % s.H) / s.G;
    const float *qh = q + bh * s.P * s.E;
    const float *kh = k + kvh * s.M * s.E;
    const float *vh = v + kvh * s.M * s.F;
    float *oh = o + bh * s.P * s.F;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.P, s.M, s.E, scale,
                qh, s.E, kh, s.E, 0.0f, scores.data(), s.M);
    int64_t workers = std::min<int64_t>(threads, s.P);
    if (workers <= 1) {
      softmaxRows(scores.data(), s.M, mask, 0, s.P);
    } else {
      std::vector<std::thread> pool;
      int64_t chunk = (s.P + workers - 1) / workers;
      for (int64_t w = 1; w < workers; ++w)
        pool.emplace_back(softmaxRows, scores.data(), s.M, std::cref(mask),
                          w * chunk, std::min(s.P, (w + 1) * chunk));
      softmaxRows(scores.data(), s.M, mask, 0, std::min(s.P, chunk));
      for (std::thread &t : pool)
        t.join();
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.P, s.F, s.M, 1.0f,
                scores.data(), s.M, vh, s.F, 0.0f, oh, s.F);
  }
}

void setBlasThreads(int threads) { openblas_set_num_threads(threads); }

const char *blasConfig() { return openblas_get_config(); }

void squareSgemm(int n, const float *a, const float *b, float *c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n,
              b, n, 0.0f, c, n);
}

} // namespace attn::bench
