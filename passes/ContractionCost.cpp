// Size polynomials: how the function body computes each size (tensor.dim of
// an argument, constants, index arithmetic) read back as a polynomial.
#include "passes/ContractionCost.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

SizePoly SizePoly::constant(int64_t c) {
  SizePoly p;
  if (c != 0)
    p.terms.push_back({{}, c});
  return p;
}

SizePoly SizePoly::atom(const std::string &name) {
  SizePoly p;
  p.terms.push_back({{name}, 1});
  return p;
}

/// Coefficients saturate at the ends of int64: the cost model compares
/// estimates, and a coefficient from absurd constants in the IR only has to
/// stay large (the fuzzer found the overflow).
static int64_t addSaturating(int64_t a, int64_t b) {
  int64_t r;
  if (llvm::AddOverflow(a, b, r))
    return a > 0 ? std::numeric_limits<int64_t>::max()
                 : std::numeric_limits<int64_t>::min();
  return r;
}

static int64_t mulSaturating(int64_t a, int64_t b) {
  int64_t r;
  if (llvm::MulOverflow(a, b, r))
    return (a > 0) == (b > 0) ? std::numeric_limits<int64_t>::max()
                              : std::numeric_limits<int64_t>::min();
  return r;
}

SizePoly SizePoly::operator+(const SizePoly &o) const {
  SizePoly sum = *this;
  // (No structured binding: clang rejects capturing one in the lambda.)
  for (const auto &term : o.terms) {
    auto it = llvm::find_if(
        sum.terms, [&](const auto &t) { return t.first == term.first; });
    if (it == sum.terms.end())
      sum.terms.push_back(term);
    else if ((it->second = addSaturating(it->second, term.second)) == 0)
      sum.terms.erase(it);
  }
  return sum;
}

SizePoly SizePoly::operator*(const SizePoly &o) const {
  SizePoly product;
  for (const auto &[a, ca] : terms)
    for (const auto &[b, cb] : o.terms) {
      SizePoly t;
      std::vector<std::string> atoms = a;
      atoms.insert(atoms.end(), b.begin(), b.end());
      std::sort(atoms.begin(), atoms.end());
      t.terms.push_back({atoms, mulSaturating(ca, cb)});
      product = product + t;
    }
  return product;
}

std::string SizePoly::asAtom() const {
  if (terms.size() == 1 && terms[0].second == 1 && terms[0].first.size() == 1)
    return terms[0].first[0];
  return "";
}

SizeModel::SizeModel(func::FuncOp kernel, int64_t longSize, int64_t shortSize)
    : longSize(longSize) {
  auto visit = [&](ArrayAttr dims) {
    if (!dims)
      return;
    for (auto [i, a] : llvm::enumerate(dims)) {
      auto name = dyn_cast<StringAttr>(a);
      if (!name || name.empty() || std::isdigit(name.str()[0]))
        continue;
      order.try_emplace(name.str(), order.size());
      estimates.try_emplace(name.str(), longSize);
      if (i + 1 == dims.size())
        estimates[name.str()] = shortSize;
    }
  };
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i)
    visit(kernel.getArgAttrOfType<ArrayAttr>(i, kDimsAttr));
  for (unsigned i = 0; i < kernel.getNumResults(); ++i)
    visit(kernel.getResultAttrOfType<ArrayAttr>(i, kDimsAttr));
}

/// The function whose argument `arg` is (null for a block argument of any
/// other block, e.g. in IR that only verifies).
static func::FuncOp kernelOf(BlockArgument arg) {
  if (!arg || !arg.getOwner()->isEntryBlock())
    return {};
  return dyn_cast_if_present<func::FuncOp>(arg.getOwner()->getParentOp());
}

SizePoly SizeModel::of(Value size) {
  if (std::optional<int64_t> c = getConstantIntValue(size))
    return SizePoly::constant(*c);
  if (auto dim = size.getDefiningOp<tensor::DimOp>()) {
    auto arg = dyn_cast<BlockArgument>(dim.getSource());
    std::optional<int64_t> k = dim.getConstantIndex();
    func::FuncOp kernel = kernelOf(arg);
    auto dims = kernel ? kernel.getArgAttrOfType<ArrayAttr>(arg.getArgNumber(),
                                                            kDimsAttr)
                       : ArrayAttr();
    if (k && dims && *k >= 0 && *k < static_cast<int64_t>(dims.size()))
      if (auto name = dyn_cast<StringAttr>(dims[*k]))
        return SizePoly::atom(name.str());
  }
  if (auto cast = size.getDefiningOp<arith::IndexCastOp>()) {
    auto arg = dyn_cast<BlockArgument>(cast.getIn());
    func::FuncOp kernel = kernelOf(arg);
    if (kernel)
      if (auto name = kernel.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                          kNameAttr))
        return SizePoly::atom(name.str());
  }
  if (auto mul = size.getDefiningOp<arith::MulIOp>())
    return of(mul.getLhs()) * of(mul.getRhs());
  if (auto add = size.getDefiningOp<arith::AddIOp>())
    return of(add.getLhs()) + of(add.getRhs());
  if (auto sub = size.getDefiningOp<arith::SubIOp>())
    return of(sub.getLhs()) + SizePoly::constant(-1) * of(sub.getRhs());
  if (auto div = size.getDefiningOp<arith::CeilDivSIOp>())
    if (std::optional<int64_t> c = getConstantIntValue(div.getRhs()))
      return chunks(of(div.getLhs()), *c);
  return SizePoly::atom("?");
}

SizePoly SizeModel::chunks(const SizePoly &x, int64_t chunk) {
  std::string inner = x.asAtom();
  std::string name = "ceil(" + (inner.empty() ? "(" + str(x) + ")" : inner) +
                     "/" + std::to_string(chunk) + ")";
  estimates[name] = std::ceil(estimate(x) / static_cast<double>(chunk));
  // Printed next to the size it counts chunks of.
  auto it = order.find(inner);
  unsigned rank = it == order.end() ? order.size() : it->second;
  order[name] = rank;
  return SizePoly::atom(name);
}

SizePoly SizeModel::volume(ArrayRef<SizePoly> dims) {
  SizePoly v = SizePoly::constant(1);
  for (const SizePoly &d : dims)
    v = v * d;
  return v;
}

double SizeModel::estimate(const SizePoly &p) const {
  double total = 0;
  for (const auto &[atoms, c] : p.terms) {
    double t = static_cast<double>(c);
    for (const std::string &a : atoms) {
      auto it = estimates.find(a);
      t *= it == estimates.end() ? static_cast<double>(longSize) : it->second;
    }
    total += t;
  }
  return total;
}

std::string SizeModel::str(const SizePoly &p) const {
  if (p.terms.empty())
    return "0";
  auto rank = [&](const std::string &a) {
    auto it = order.find(a);
    return std::make_pair(it == order.end() ? ~0u : it->second, a);
  };
  std::string out;
  for (const auto &[atoms, c] : p.terms) {
    std::vector<std::string> sorted = atoms;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [&](const std::string &a, const std::string &b) {
                       return rank(a) < rank(b);
                     });
    std::string term = c != 1 || sorted.empty() ? std::to_string(c) : "";
    for (const std::string &a : sorted)
      term += (term.empty() ? "" : "*") + a;
    out += (out.empty() ? "" : " + ") + term;
  }
  return out;
}
