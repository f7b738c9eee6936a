// The cost model of contraction reordering: multiply-add counts as
// polynomials in a kernel's size symbols (`P*M*E + P*M*F`), and the size
// estimates that decide which of two polynomials is cheaper.
#ifndef ATTN_PASSES_CONTRACTIONCOST_H
#define ATTN_PASSES_CONTRACTIONCOST_H

#include "dialect/AttnOps.h"

#include <map>
#include <string>
#include <vector>

namespace mlir::attn {

/// A polynomial with integer coefficients over atoms: size symbols (`M`) and
/// chunk counts (`ceil(M/64)`). Monomials keep their order of first use.
class SizePoly {
public:
  static SizePoly constant(int64_t c);
  static SizePoly atom(const std::string &name);
  SizePoly operator+(const SizePoly &o) const;
  SizePoly operator*(const SizePoly &o) const;
  /// The single atom of a monomial `1*X`, or empty.
  std::string asAtom() const;

  /// One monomial: its atoms (sorted, repeated for powers), coefficient.
  std::vector<std::pair<std::vector<std::string>, int64_t>> terms;
};

/// Sizes of one kernel as polynomials, and their estimates: a size bound at
/// compile time is itself; an unbound size symbol that sizes the innermost
/// (contiguous) dimension of some kernel argument or result is a feature
/// size (`shortSize`: E, F of [.., seq, feature] layouts); any other unbound
/// size is long (`longSize`: sequence lengths, batch, heads).
class SizeModel {
public:
  SizeModel(func::FuncOp kernel, int64_t longSize, int64_t shortSize);

  /// The polynomial of an index value of the function body.
  SizePoly of(Value size);
  /// `ceil(x / chunk)` as an atom (its estimate follows x's).
  SizePoly chunks(const SizePoly &x, int64_t chunk);
  /// The iteration-space volume of sizes `dims`: the multiply-adds of a
  /// contraction over them.
  SizePoly volume(ArrayRef<SizePoly> dims);

  double estimate(const SizePoly &p) const;
  /// `P*M*E + 64*P*F`; atoms in the order the kernel's signature names
  /// them.
  std::string str(const SizePoly &p) const;

private:
  std::map<std::string, double> estimates;
  std::map<std::string, unsigned> order;
  int64_t longSize;
};

} // namespace mlir::attn

#endif
