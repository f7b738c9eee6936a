// Regions and reads of the CPU emitter: guard and body blocks at an iteration
// point (lazy, range-checked attn.read), clamped copies of arguments, and the
// presence of an einsum's contributions as an affine domain.
#include "codegen/halide/HalideBuilder.h"
#include "codegen/halide/HalideScalarOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/IntegerSet.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

/// Argument `t` read with the coordinates of `dims` (bits, tensor order)
/// clamped to the extents.
H::Func PipelineBuilder::clampedImage(const TensorView &t, uint64_t dims) {
  H::Func &f = clampedImages[{t.argument, dims}];
  if (f.defined())
    return f;
  f = H::Func(names.unique(t.image.name() + "_clamped" + std::to_string(dims)));
  unsigned rank = t.rank();
  std::vector<H::Var> vars;
  std::vector<H::Expr> args;
  for (unsigned v = 0; v < rank; ++v) {
    vars.push_back(H::Var(f.name() + "_v" + std::to_string(v)));
    unsigned k = rank - 1 - v;
    args.push_back(dims >> k & 1 ? clampToExtent(vars.back(), t.extents[k])
                                 : H::Expr(vars.back()));
  }
  f(vars) = t.image(args);
  return f;
}

/// Records that the stage being defined at `pt` reads `tensor`: for the
/// scheduler. `links[v]` gives the consumer var of each tensor var.
void PipelineBuilder::addUse(const TensorView &tensor, unsigned consumer,
                             std::vector<int> links) {
  if (tensor.stage < 0)
    return;
  p.stages[tensor.stage].uses.push_back({consumer, std::move(links)});
}

/// Translates a guard or body block at `pt`; `args` are the block
/// arguments' values (inputs, then dimensions). Reads are lazy: a read
/// after an absent or out-of-range one is not checked.
FailureOr<RegionValue> PipelineBuilder::translateRegion(Block &block,
                                                        ArrayRef<H::Expr> args,
                                                        unsigned firstDimArg,
                                                        const Point &pt) {
  RegionValue rv;
  llvm::DenseMap<Value, H::Expr> local;
  for (auto [i, a] : llvm::enumerate(block.getArguments()))
    local[a] = args[i];
  auto lookup = [&](Value v) -> H::Expr {
    auto it = local.find(v);
    if (it != local.end())
      return it->second;
    return scalars.lookup(v);
  };
  for (Operation &op : block.without_terminator()) {
    if (auto read = dyn_cast<ReadOp>(&op)) {
      auto it = tensors.find(read.getTensor());
      if (it == tensors.end())
        return read.emitOpError("reads a tensor the Halide code generator "
                                "does not know"),
               failure();
      const TensorView &t = it->second;
      std::vector<H::Expr> coords;
      H::Expr oobAny = HI::const_false();
      H::Expr code = HI::make_zero(H::Int(32));
      for (auto [k, idx] : llvm::enumerate(read.getIndices())) {
        auto barg = dyn_cast<BlockArgument>(idx);
        if (barg && barg.getOwner() == &block &&
            barg.getArgNumber() >= firstDimArg) {
          unsigned d = barg.getArgNumber() - firstDimArg;
          if (provablyInRange(pt.op, d, read.getTensor(), k)) {
            // Per-tile stages compute whole tiles and blocks of rows:
            // past the extent, the read repeats the edge (never used).
            coords.push_back(t.isImage && isPadded(pt.op, d)
                                 ? boundAboveByExtent(pt.dims[d], t.extents[k])
                                 : pt.dims[d]);
            continue;
          }
        }
        H::Expr i64 = lookup(idx);
        if (!i64.defined())
          return read.emitOpError("uses an index the Halide code "
                                  "generator cannot see"),
                 failure();
        i64 = H::cast(H::Int(64), i64);
        H::Expr ext = t.extents[k];
        H::Expr ext64 = H::cast(H::Int(64), ext);
        H::Expr oob = i64 < 0 || i64 >= ext64;
        // Clamped twice: in 64 bits (no wrap-around), then in 32 bits so
        // that Halide's bounds inference sees [0, extent).
        coords.push_back(clampToExtent(
            H::cast(H::Int(32), H::clamp(i64, H::Expr(int64_t(0)), ext64 - 1)),
            ext));
        code = firstError(
            code, errorIf(oob, newReadError(t, k, pt.op, "by attn.read")));
        oobAny = orE(oobAny, oob);
        rv.checked = true;
      }
      auto [value, present] = t.load(coords);
      std::vector<int> links(t.rank(), -1);
      addUse(t, pt.stage, links);
      rv.error = firstError(rv.error, errorIf(rv.reached, code));
      rv.reached = andE(rv.reached, andE(notE(oobAny), present));
      rv.present = andE(rv.present, present);
      rv.elementPresence |= t.hasElementPresence();
      local[read.getResult()] = value;
      continue;
    }
    FailureOr<H::Expr> e = translateScalarOp(&op, lookup, H::Int(64));
    if (failed(e))
      return failure();
    local[op.getResult(0)] = *e;
    // Integer division by zero is an error where it is evaluated.
    if (isa<arith::DivSIOp, arith::DivUIOp, arith::FloorDivSIOp,
            arith::CeilDivSIOp, arith::RemSIOp, arith::RemUIOp>(op)) {
      H::Expr divisor = lookup(op.getOperand(1));
      const int64_t *c = HI::as_const_int(divisor);
      if (!c || *c == 0) {
        H::Expr code = newDivisionError(&op, pt.op);
        rv.error =
            firstError(rv.error, errorIf(andE(rv.reached, divisor == 0), code));
        rv.checked = true;
      }
    }
  }
  auto yield = cast<YieldOp>(block.getTerminator());
  rv.value = lookup(yield.getValues()[0]);
  if (!rv.value.defined())
    return yield.emitOpError("yields a value the Halide code generator "
                             "cannot see"),
           failure();
  return rv;
}

/// Whether every point that passes the filter of `op` has 0 <= e <
/// extent of dimension `k` of `tensor`: e has no negative part and each
/// disjunct holds a constraint S - 1 - e >= 0 with S a symbol or constant
/// whose key is the extent's (the bound of the last tile, m1 * T + m0 < M).
bool PipelineBuilder::filterBounds(EinsumOp op, AffineExpr e, Value tensor,
                                   unsigned k, ArrayRef<H::Expr> syms) {
  std::optional<ArrayAttr> sets = op.getFilter();
  std::optional<LinearForm> f = linearize(e, op.getNumDims(), syms);
  const int64_t *low = f ? HI::as_const_int(HI::simplify(f->rest)) : nullptr;
  std::optional<std::string> key = tensorDimKey(tensor, k);
  if (!sets || !low || *low < 0 || !key ||
      llvm::any_of(f->coeffs, [](int64_t c) { return c < 0; }))
    return false;
  return llvm::all_of(*sets, [&](Attribute a) {
    IntegerSet set = cast<IntegerSetAttr>(a).getValue();
    for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
      if (set.isEq(c))
        continue;
      AffineExpr bound = simplifyAffineExpr(
          set.getConstraint(c) + e + 1, set.getNumDims(), set.getNumSymbols());
      std::optional<std::string> boundKey;
      if (auto s = dyn_cast<AffineSymbolExpr>(bound))
        boundKey = sizeKey(op.getSymbols()[s.getPosition()]);
      else if (auto n = dyn_cast<AffineConstantExpr>(bound))
        boundKey = "#" + std::to_string(n.getValue());
      if (boundKey == key)
        return true;
    }
    return false;
  });
}

/// The iteration points of `op` that pass its filter and read present
/// elements through every map, as an affine domain over its dimensions;
/// nothing where presence is not affine (a guard, tables, an input with
/// stored flags, a map or filter that is not affine where it matters).
/// `uniform` receives the inputs' size conditions.
std::optional<AffineDomain>
PipelineBuilder::contributionDomain(EinsumOp op, const Point &pt,
                                    H::Expr &uniform) {
  if (op.hasGuard() || !op.getTables().empty())
    return std::nullopt;
  std::optional<AffineDomain> d = AffineDomain::fromIntegerSets(
      op.getFilter() ? *op.getFilter() : ArrayAttr(), op.getNumDims(), pt.syms);
  for (auto [i, input] : llvm::enumerate(op.getInputs())) {
    const TensorView &t = tensors.find(input)->second;
    if (!d || t.presentIndex >= 0)
      return std::nullopt;
    uniform = andE(uniform, t.uniformPresent);
    if (!t.domain)
      continue;
    std::optional<AffineDomain> pulled =
        t.domain->pullBack(op.getInputMap(i), pt.syms);
    d = pulled ? d->intersect(*pulled) : std::nullopt;
  }
  return d;
}
