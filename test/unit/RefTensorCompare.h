// Comparison of a kernel's output with the reference interpreter's, shared
// by the code generator tests.
#ifndef ATTN_TEST_UNIT_REFTENSORCOMPARE_H
#define ATTN_TEST_UNIT_REFTENSORCOMPARE_H

#include "codegen/ref/ReferenceInterpreter.h"

#include <algorithm>
#include <cmath>

namespace attn_test {

/// Equal values, or both NaN.
inline bool sameValue(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

/// Largest |got - want| over the largest finite |want|; equal values
/// (infinities, NaNs) count as exact, any other NaN or infinity as NaN.
inline double relativeError(const mlir::attn::RefTensor &got,
                            const mlir::attn::RefTensor &want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.values.size(); ++i) {
    if (sameValue(got.values[i], want.values[i]))
      continue;
    double d = std::fabs(got.values[i] - want.values[i]);
    if (std::isnan(d))
      return NAN;
    num = std::max(num, d);
    den = std::max(den, std::fabs(want.values[i]));
  }
  return num == 0 ? 0 : num / std::max(den, 1e-30);
}

} // namespace attn_test

#endif
