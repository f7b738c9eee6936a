// Run-time errors of the CPU emitter: the codes and messages of out-of-range
// reads and integer divisions by zero, and the error check, a computation of
// its own over each checked einsum's iteration space (HalideEmitter.h).
#include "codegen/halide/HalideBuilder.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

/// A new error code for a read of dimension `dim` of `t` out of range.
H::Expr PipelineBuilder::newReadError(const TensorView &t, unsigned dim,
                                      EinsumOp op, const std::string &how) {
  HalideRunError e;
  e.what = "out-of-range read of " + t.description;
  e.argument = t.argument;
  e.dimension = dim;
  e.where = how + " in the attn.einsum at " + locationText(op.getLoc());
  p.runErrors.push_back(e);
  return H::Expr(static_cast<int32_t>(p.runErrors.size()));
}

/// A new error code for an integer division by zero by `div` in `op`.
H::Expr PipelineBuilder::newDivisionError(Operation *div, EinsumOp op) {
  HalideRunError err;
  err.what = "integer division by zero";
  err.where = "by " + div->getName().getStringRef().str() +
              " in the attn.einsum at " + locationText(op->getLoc());
  p.runErrors.push_back(err);
  return H::Expr(static_cast<int32_t>(p.runErrors.size()));
}

/// Records the check of the einsum defined at `pt` (stage `name`): `code`
/// at a point, `provablyNoError` a condition on sizes and symbols under
/// which no point can fail. The stages `code` reads (presence flags,
/// tables) are materialized, as it reads them over the whole space.
void PipelineBuilder::addErrorCheck(const std::string &name, H::Expr code,
                                    const Point &pt, H::Expr provablyNoError) {
  ErrorCheck check;
  check.name = names.unique(name + "_errors");
  check.code = code;
  // Only the dimensions the code depends on are iterated; another one only
  // matters through its emptiness.
  H::Expr empty = HI::const_false();
  for (unsigned d = 0; d < pt.dims.size(); ++d) {
    const auto *v = pt.dims[d].as<HI::Variable>();
    if (v && HI::expr_uses_var(code, v->name))
      check.dims.push_back({v->name, pt.sizes[d]});
    else
      empty = orE(empty, pt.sizes[d] <= 0);
  }
  check.skip = orE(empty, provablyNoError);
  std::set<std::string> called = funcsCalled(code);
  for (HalideStage &s : p.stages)
    if (called.count(s.func.name()))
      s.mustBeRoot = true;
  errorChecks.push_back(std::move(check));
}

/// The kernel's error code: per check, the largest code over one row (the
/// outermost dimension) at a time, then over the rows. A skipped check
/// iterates over nothing.
void PipelineBuilder::buildErrorCheck() {
  if (errorChecks.empty())
    return;
  H::Func code("error_code");
  code() = 0;
  for (const ErrorCheck &c : errorChecks) {
    if (c.dims.empty()) {
      code() = H::max(code(), H::select(c.skip, 0, c.code));
      continue;
    }
    auto extent = [&](const H::Expr &size) {
      return H::select(c.skip, 0, size);
    };
    H::Func rows(c.name);
    H::Var o(c.name + "_o");
    std::map<std::string, H::Expr> at{{c.dims[0].first, o}};
    if (c.dims.size() == 1) {
      rows(o) = HI::substitute(at, c.code);
    } else {
      H::Region region;
      for (unsigned v = c.dims.size(); v-- > 1;)
        region.push_back(H::Range(0, extent(c.dims[v].second)));
      H::RDom r(region, c.name + "_r");
      for (unsigned v = 1; v < c.dims.size(); ++v)
        at[c.dims[v].first] = r[c.dims.size() - 1 - v];
      rows(o) = 0;
      rows(o) = H::max(rows(o), HI::substitute(at, c.code));
    }
    H::RDom ro(0, extent(c.dims[0].second), c.name + "_ro");
    code() = H::max(code(), rows(ro));
    p.errorStages.push_back(rows);
  }
  p.errorCode = code;
}
