// The CPU emitter's einsums: each attn.einsum becomes a Func over its result
// dimensions (reduced ones an RDom; the filter and the guard its
// where-clause), with its presence as a flag, a uniform condition or an
// affine domain, and its reads range-checked where they may fall outside.
#include "codegen/halide/HalideBuilder.h"
#include "codegen/halide/HalideScalarOps.h"

#include "mlir/IR/IntegerSet.h"
#include "llvm/ADT/SmallBitVector.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

/// One einsum being lowered: its point, Func variables, and what its parts
/// (filter, guard, inputs, body) contribute to its value, presence and
/// error check.
struct mlir::attn::halide::EinsumLowering {
  EinsumOp op;
  unsigned n = 0, rank = 0, stageIndex = 0;
  std::string name;
  ReductionKind kind = ReductionKind::none;
  AffineMap resultMap;
  H::Type vt;
  Point pt;
  std::vector<H::Var> vars;
  SmallVector<int> dimToVar, dimToRVar;
  SmallVector<unsigned> reduced;
  std::optional<H::RDom> rdom;
  std::vector<H::RVar> rvars;
  H::Expr volumePositive = HI::const_true();
  SmallVector<H::Expr> dims64;
  H::Expr filter = HI::const_true();
  RegionValue guard;
  H::Expr guardPass;
  /// The body's arguments: the inputs' values, then the dimensions.
  SmallVector<H::Expr> bodyArgs;
  H::Expr mapOob = HI::const_false(), mapError = HI::make_zero(H::Int(32));
  H::Expr mapPresent = HI::const_true();
  /// Every input read in range is present: an input read out of range is an
  /// error only then (the point would otherwise contribute).
  H::Expr mapPresentInRange = HI::const_true();
  /// The inputs' presence without reading a stage's flag (nothing where an
  /// input's presence is a flag with no such expression).
  std::optional<H::Expr> mapPresentExpr = HI::const_true();
  bool elementPresence = false, checked = false;
  /// Whether no point can read out of range, as a run-time condition on the
  /// sizes and symbols (every checked map coordinate bounded over the whole
  /// iteration box); false where a region reads or divides.
  H::Expr provablyNoError;
  RegionValue body;
  std::optional<AffineDomain> contribution, resultDomain;
  H::Expr inputsUniform = HI::const_true();
  /// Where the point exists and contributes (ignoring out-of-range reads,
  /// which fail the run anyway).
  H::Expr contributes;
  /// Tuple layout: value [, presence].
  unsigned numElements = 1;
  int presentIndex = -1;

  std::vector<H::Expr> tuple(H::Expr v, H::Expr present) const {
    std::vector<H::Expr> elems{v.type().is_bool() ? H::cast(H::UInt(8), v) : v};
    if (presentIndex >= 0)
      elems.push_back(H::cast(H::UInt(8), present));
    return elems;
  }
};

bool PipelineBuilder::isTileIndex(Operation *op, unsigned d) {
  return roles.isTileIndex(roles.rankOf(op, d));
}

bool PipelineBuilder::hasTileIndex(Operation *op) {
  unsigned n = isa<EinsumOp>(op) ? cast<EinsumOp>(op).getNumDims()
                                 : cast<OnlineOp>(op).getNumDims();
  for (unsigned d = 0; d < n; ++d)
    if (isTileIndex(op, d))
      return true;
  return false;
}

LogicalResult PipelineBuilder::visitEinsum(EinsumOp op) {
  EinsumLowering s;
  s.op = op;
  s.n = op.getNumDims();
  s.stageIndex = p.stages.size();
  s.kind = op.getKind();
  s.resultMap = op.getResultMap();
  s.rank = s.resultMap.getNumResults();
  s.reduced = op.getReducedDims();
  // A per-tile partial (one of its dimensions is a tile index): "S_tile".
  s.name = funcName(op, hasTileIndex(op) ? "_tile" : "", "einsum");
  if (failed(beginEinsum(s)) || failed(lowerFilter(s)))
    return failure();

  // The guard, evaluated where the filter holds.
  s.guard.value = HI::const_true();
  if (op.hasGuard()) {
    FailureOr<RegionValue> g =
        translateRegion(op.getGuard().front(), s.dims64, 0, s.pt);
    if (failed(g))
      return failure();
    s.guard = *g;
  }
  s.guardPass = andE(s.guard.reached, s.guard.value);
  s.elementPresence =
      s.guard.elementPresence || op.hasFilter() || op.hasGuard();
  s.checked = s.guard.checked;
  s.provablyNoError = s.guard.checked ? HI::const_false() : HI::const_true();
  if (failed(lowerInputs(s)))
    return failure();

  for (const H::Expr &d : s.dims64)
    s.bodyArgs.push_back(d);
  FailureOr<RegionValue> body = translateRegion(
      op.getBody().front(), s.bodyArgs, op.getInputs().size(), s.pt);
  if (failed(body))
    return failure();
  s.body = *body;
  s.elementPresence |= body->elementPresence;
  s.checked |= body->checked;
  if (body->checked)
    s.provablyNoError = HI::const_false();
  if (body->value.type() != s.vt)
    return op.emitOpError("body yields a value of an unexpected type");
  lowerPresenceDomain(s);

  const RegionValue &guard = s.guard;
  s.contributes =
      andE(andE(guard.present, guard.value), andE(s.mapPresent, body->present));
  // The error check is a computation of its own (buildErrorCheck), over the
  // iteration space, so that this stage can be scheduled like any other
  // (per tile, inlined): the error code of a point, where it passes the
  // filter.
  if (s.checked) {
    H::Expr atMaps = andE(s.filter, s.guardPass);
    H::Expr atBody = andE(atMaps, andE(notE(s.mapOob), s.mapPresent));
    H::Expr code = firstError(
        errorIf(s.filter, guard.error),
        firstError(errorIf(andE(atMaps, s.mapPresentInRange), s.mapError),
                   errorIf(atBody, body->error)));
    addErrorCheck(s.name, code, s.pt, s.provablyNoError);
  }

  s.presentIndex = s.elementPresence ? s.numElements++ : -1;
  if (s.kind == ReductionKind::none) {
    std::vector<H::Expr> def =
        strict(s.tuple(body->value, andE(s.filter, s.contributes)));
    std::vector<H::Expr> pureArgs(s.vars.begin(), s.vars.end());
    H::Func &f = p.stages[s.stageIndex].func;
    if (def.size() == 1)
      f(pureArgs) = def[0];
    else
      f(pureArgs) = H::Tuple(def);
  } else {
    defineReduction(s);
  }
  recordEinsumView(s);
  return success();
}

LogicalResult PipelineBuilder::beginEinsum(EinsumLowering &s) {
  EinsumOp op = s.op;
  unsigned n = s.n, rank = s.rank, stageIndex = s.stageIndex;
  const std::string &name = s.name;
  ReductionKind kind = s.kind;
  AffineMap resultMap = s.resultMap;
  Point &pt = s.pt;
  std::vector<H::Var> &vars = s.vars;
  SmallVector<int> &dimToVar = s.dimToVar, &dimToRVar = s.dimToRVar;
  SmallVector<unsigned> &reduced = s.reduced;
  std::optional<H::RDom> &rdom = s.rdom;
  std::vector<H::RVar> &rvars = s.rvars;
  H::Expr &volumePositive = s.volumePositive;
  SmallVector<H::Expr> &dims64 = s.dims64;
  pt.op = op;
  pt.stage = stageIndex;
  for (Value v : llvm::concat<Value>(op.getSizes(), op.getSymbols())) {
    H::Expr e = scalars.lookup(v);
    if (!e.defined())
      return op.emitOpError("has a size or symbol the Halide code "
                            "generator cannot compute");
    (pt.sizes.size() < n ? pt.sizes : pt.syms)
        .push_back(e.type() == H::Int(32) ? e : H::cast(H::Int(32), e));
  }
  auto resultType = cast<RankedTensorType>(op.getResult().getType());
  std::optional<H::Type> vt =
      halideValueType(resultType.getElementType(), H::Int(64));
  std::optional<H::Type> st = halideStorageType(resultType.getElementType());
  if (!vt || !st)
    return op.emitOpError("has a result element type the Halide code "
                          "generator does not support");
  s.vt = *vt;
  if (vt->is_bool() && kind != ReductionKind::none)
    return op.emitOpError("reduces i1 values, which the Halide code "
                          "generator does not support");

  // Result dimensions are pure Vars (Halide order: innermost first);
  // reduced dimensions an RDom, innermost = the last reduced dimension.
  vars.resize(rank);
  pt.dims.resize(n);
  dimToVar.assign(n, -1);
  for (unsigned j = 0; j < rank; ++j) {
    unsigned d = cast<AffineDimExpr>(resultMap.getResult(j)).getPosition();
    H::Var v(name + "_d" + std::to_string(d));
    vars[rank - 1 - j] = v;
    pt.dims[d] = v;
    dimToVar[d] = rank - 1 - j;
  }
  dimToRVar.assign(n, -1);
  if (!reduced.empty()) {
    H::Region region;
    for (auto it = reduced.rbegin(); it != reduced.rend(); ++it)
      region.push_back(H::Range(0, pt.sizes[*it]));
    rdom = H::RDom(region, name + "_r");
    for (unsigned i = 0; i < reduced.size(); ++i) {
      unsigned d = reduced[reduced.size() - 1 - i];
      H::RVar r = (*rdom)[i];
      rvars.push_back(r);
      pt.dims[d] = r;
      dimToRVar[d] = i;
      volumePositive = andE(volumePositive, pt.sizes[d] > 0);
    }
  }

  HalideStage stage;
  stage.name = name;
  stage.func = H::Func(name);
  stage.vars = vars;
  stage.rvars = rvars;
  stage.elementwise = kind == ReductionKind::none;
  stage.varRoles.resize(rank);
  stage.extents.resize(rank);
  for (unsigned j = 0; j < rank; ++j) {
    unsigned d = cast<AffineDimExpr>(resultMap.getResult(j)).getPosition();
    stage.varRoles[rank - 1 - j] = varRole(op, d);
    stage.extents[rank - 1 - j] = pt.sizes[d];
  }
  p.stages.push_back(stage);

  for (const H::Expr &d : pt.dims)
    dims64.push_back(H::cast(H::Int(64), d));
  return success();
}

/// The filter: a union of conjunctions of affine constraints.
LogicalResult PipelineBuilder::lowerFilter(EinsumLowering &s) {
  if (std::optional<ArrayAttr> sets = s.op.getFilter()) {
    s.filter = HI::const_false();
    for (Attribute a : *sets) {
      IntegerSet set = cast<IntegerSetAttr>(a).getValue();
      H::Expr conj = HI::const_true();
      for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
        FailureOr<H::Expr> e =
            translateAffine(set.getConstraint(c), s.pt.dims, s.pt.syms, s.op);
        if (failed(e))
          return failure();
        conj = andE(conj, set.isEq(c) ? (*e == 0) : (*e >= 0));
      }
      s.filter = orE(s.filter, conj);
    }
  }
  return success();
}

/// The inputs read through the indexing maps: their values (the body's
/// arguments), presence, and the range checks of coordinates that may fall
/// outside (clamped reads).
LogicalResult PipelineBuilder::lowerInputs(EinsumLowering &s) {
  EinsumOp op = s.op;
  unsigned n = s.n, stageIndex = s.stageIndex;
  const Point &pt = s.pt;
  SmallVector<int> &dimToVar = s.dimToVar, &dimToRVar = s.dimToRVar;
  SmallVector<H::Expr> &bodyArgs = s.bodyArgs;
  H::Expr &mapOob = s.mapOob, &mapError = s.mapError;
  H::Expr &mapPresent = s.mapPresent;
  H::Expr &mapPresentInRange = s.mapPresentInRange;
  std::optional<H::Expr> &mapPresentExpr = s.mapPresentExpr;
  bool &elementPresence = s.elementPresence, &checked = s.checked;
  H::Expr &provablyNoError = s.provablyNoError;
  for (auto [i, input] : llvm::enumerate(op.getInputs())) {
    auto it = tensors.find(input);
    if (it == tensors.end())
      return op.emitOpError("reads a tensor the Halide code generator "
                            "does not know");
    const TensorView &t = it->second;
    AffineMap map = op.getInputMap(i);
    std::vector<H::Expr> coords;
    std::vector<int> links(t.rank(), -1);
    HalideMapRead read;
    read.consumer = stageIndex;
    read.isImage = t.isImage;
    read.image = t.image;
    read.producer = t.stage;
    read.pureVar.assign(t.rank(), -1);
    read.reductionVar.assign(t.rank(), -1);
    H::Expr inputOob = HI::const_false();
    uint64_t padded = 0; // tensor dims read past the extent when padded
    for (unsigned k = 0; k < map.getNumResults(); ++k) {
      AffineExpr e = map.getResult(k);
      if (auto d = dyn_cast<AffineDimExpr>(e)) {
        read.pureVar[t.rank() - 1 - k] = dimToVar[d.getPosition()];
        read.reductionVar[t.rank() - 1 - k] = dimToRVar[d.getPosition()];
      }
      // The scheduler's link: a coordinate that depends on one result
      // dimension of this einsum only.
      llvm::SmallBitVector used(n);
      e.walk([&](AffineExpr sub) {
        if (auto d = dyn_cast<AffineDimExpr>(sub))
          used.set(d.getPosition());
      });
      if (used.count() == 1 && dimToVar[used.find_first()] >= 0)
        links[t.rank() - 1 - k] = dimToVar[used.find_first()];
      if (auto d = dyn_cast<AffineDimExpr>(e))
        if (provablyInRange(op, d.getPosition(), input, k)) {
          coords.push_back(pt.dims[d.getPosition()]);
          if (t.isImage && isPadded(op, d.getPosition()))
            padded |= uint64_t(1) << k;
          continue;
        }
      FailureOr<H::Expr> c = translateAffine(e, pt.dims, pt.syms, op);
      if (failed(c))
        return failure();
      H::Expr ext = t.extents[k];
      H::Expr oob = *c < 0 || *c >= ext;
      coords.push_back(clampToExtent(*c, ext));
      // In range wherever the filter holds (the last tile's bound,
      // m1 * T + m0 < M): never an error; bounded above for the points
      // outside it (never below 0).
      if (filterBounds(op, e, input, k, pt.syms)) {
        coords.back() = boundAboveByExtent(*c, ext);
        continue;
      }
      mapError = firstError(
          mapError, errorIf(oob, newReadError(t, k, op,
                                              "through the map of input " +
                                                  std::to_string(i))));
      inputOob = orE(inputOob, oob);
      checked = true;
      std::optional<Interval64> range = boxInterval(e, pt.sizes, pt.syms);
      provablyNoError =
          range ? andE(provablyNoError,
                       range->lo >= 0 &&
                           range->hi <= H::cast(H::Int(64), ext) - 1)
                : HI::const_false();
    }
    addUse(t, stageIndex, links);
    // Per-tile stages are computed over whole tiles and blocks of rows
    // (HalideSchedule.cpp): past the extent, argument reads repeat the
    // edge (values that are never read).
    TensorView source = t;
    if (padded) {
      source.isImage = false;
      source.func = clampedImage(t, padded);
      read.isImage = false;
      read.source = source.func;
    }
    p.mapReads.push_back(read);
    auto [value, present] = source.load(coords);
    if (t.presentIndex < 0)
      mapPresentExpr =
          mapPresentExpr ? andE(*mapPresentExpr, present) : mapPresentExpr;
    else if (t.presenceExpr && mapPresentExpr)
      mapPresentExpr =
          andE(*mapPresentExpr, substituteDims(*t.presenceExpr, coords));
    else
      mapPresentExpr = std::nullopt;
    bodyArgs.push_back(value);
    mapOob = orE(mapOob, inputOob);
    mapPresent = andE(mapPresent, present);
    mapPresentInRange = andE(mapPresentInRange, orE(inputOob, present));
    elementPresence |= t.hasElementPresence();
  }
  return success();
}

/// Presence as an affine domain where it is one (no guard or tables, every
/// input so; a range-checked read fails the run where it matters, see the
/// error check): no flag is stored, the value is computed unconditionally
/// (absent values are never read), and a reduction's where-clause keeps only
/// what decides its contributions.
void PipelineBuilder::lowerPresenceDomain(EinsumLowering &s) {
  unsigned n = s.n;
  const SmallVector<unsigned> &reduced = s.reduced;
  const Point &pt = s.pt;
  std::optional<AffineDomain> &contribution = s.contribution;
  std::optional<AffineDomain> &resultDomain = s.resultDomain;
  bool &elementPresence = s.elementPresence;
  contribution = contributionDomain(s.op, pt, s.inputsUniform);
  if (contribution) {
    std::optional<AffineDomain> d = contribution;
    for (unsigned r : llvm::reverse(reduced))
      if (d)
        d = d->eliminate(r, pt.sizes[r]);
    if (d) {
      SmallVector<unsigned> keep, kept;
      for (unsigned k = 0; k < n; ++k)
        if (!llvm::is_contained(reduced, k))
          kept.push_back(k);
      for (AffineExpr e : s.resultMap.getResults())
        keep.push_back(llvm::find(kept, cast<AffineDimExpr>(e).getPosition()) -
                       kept.begin());
      resultDomain = d->select(keep);
      elementPresence = false;
    }
  }
}

/// The where-clause of a reduction's update and the mask of its terms.
///
/// The filter (and the guard, so that nothing the guard excludes is loaded)
/// restrict the reduction domain (a guard read out of range fails the run:
/// the error check). With one conjunction, constraints that involve no
/// reduced dimension only decide the result's presence (recorded in its
/// domain). In a per-tile partial (a dimension is a tile index), those that
/// bound a reduced dimension by another one that varies within a tile (the
/// rows of a causal diagonal) select the reduction's identity instead, so
/// that the rows stay free to be vectorized; the others (the last tile's
/// bound) bound the reduction loops, except beside such a mask: there they
/// join it, so that the masked loops (the tiles that loop partitioning
/// leaves masked) have no branch and keep their accumulators in registers.
void PipelineBuilder::reductionBounds(EinsumLowering &s, H::Expr &where,
                                      H::Expr &masked) {
  EinsumOp op = s.op;
  unsigned n = s.n;
  const SmallVector<unsigned> &reduced = s.reduced;
  const Point &pt = s.pt;
  const std::optional<AffineDomain> &contribution = s.contribution;
  const std::optional<AffineDomain> &resultDomain = s.resultDomain;
  where = s.filter;
  if (op.hasGuard())
    where = andE(where, s.guardPass);
  masked = HI::const_true();
  bool perTile = hasTileIndex(op);
  if (resultDomain && contribution->isConjunction()) {
    auto usesReduced = [&](const AffineConstraint &c) {
      return llvm::any_of(reduced, [&](unsigned r) { return c.coeffs[r]; });
    };
    auto usesRow = [&](const AffineConstraint &c) {
      if (!perTile)
        return false;
      for (unsigned d = 0; d < n; ++d)
        if (c.coeffs[d] && !llvm::is_contained(reduced, d) &&
            !isTileIndex(op, d))
          return true;
      return false;
    };
    auto rowMask = [&](const AffineConstraint &c) {
      return usesReduced(c) && usesRow(c);
    };
    bool anyMask = llvm::any_of(contribution->getDisjuncts()[0], rowMask);
    where = contribution->containsIf(pt.dims, [&](const AffineConstraint &c) {
      return usesReduced(c) && !anyMask;
    });
    masked = contribution->containsIf(pt.dims, [&](const AffineConstraint &c) {
      return usesReduced(c) && anyMask;
    });
  } else if (resultDomain) {
    where = contribution->contains(pt.dims);
  }
}

/// The Func of a reduction: the identity, then the update over the RDom.
void PipelineBuilder::defineReduction(EinsumLowering &s) {
  ReductionKind kind = s.kind;
  unsigned rank = s.rank, stageIndex = s.stageIndex;
  unsigned numElements = s.numElements;
  int presentIndex = s.presentIndex;
  const std::vector<H::Var> &vars = s.vars;
  const std::vector<H::RVar> &rvars = s.rvars;
  const H::Expr &contributes = s.contributes;
  const H::Expr &value = s.body.value;
  const H::Type *vt = &s.vt;
  auto tuple = [&](H::Expr v, H::Expr present) { return s.tuple(v, present); };
  std::vector<H::Expr> pureArgs(vars.begin(), vars.end());
  H::Func &f = p.stages[stageIndex].func;
  H::Type t = *vt;
  H::Expr identity;
  switch (kind) {
  case ReductionKind::sum:
    identity = HI::make_zero(t);
    break;
  case ReductionKind::prod:
    identity = HI::make_one(t);
    break;
  case ReductionKind::max:
    identity = t.is_float() ? negInf(t) : t.min();
    break;
  case ReductionKind::min:
    identity = t.is_float() ? posInf(t) : t.max();
    break;
  case ReductionKind::none:
    break;
  }
  std::vector<H::Expr> init = tuple(identity, HI::const_false());
  if (init.size() == 1)
    f(pureArgs) = init[0];
  else
    f(pureArgs) = H::Tuple(init);

  H::Expr where, masked;
  reductionBounds(s, where, masked);
  if (!isTrue(where))
    s.rdom->where(where);
  for (unsigned v = 0; v < rank; ++v)
    if (HI::expr_uses_var(where, vars[v].name()))
      p.stages[stageIndex].whereVars |= uint64_t(1) << v;
  // Every reduction variable must appear in the update, or Halide drops
  // its loop (a body that ignores a reduced index, like a count, would
  // then run once): a condition the simplifier later proves true.
  H::Expr rvarsUsed = HI::const_true();
  for (const H::RVar &r : rvars)
    rvarsUsed = rvarsUsed && H::Expr(r) >= 0;

  H::FuncRef self = f(pureArgs);
  H::Expr acc = numElements == 1 ? H::Expr(self) : H::Expr(self[0]);
  H::Expr combined;
  switch (kind) {
  case ReductionKind::sum:
    combined = acc + value; // see accumulate() below
    break;
  case ReductionKind::prod:
    combined = acc * value;
    break;
  case ReductionKind::max:
    combined = H::max(acc, value);
    break;
  case ReductionKind::min:
    combined = H::min(acc, value);
    break;
  case ReductionKind::none:
    break;
  }
  combined = H::select(rvarsUsed, strict(combined), acc);
  std::vector<H::Expr> upd;
  if (presentIndex >= 0) {
    upd.push_back(strict(H::select(contributes, combined, acc)));
    upd.push_back(
        H::select(contributes, H::Expr(uint8_t(1)), self[presentIndex]));
  } else {
    // A masked term keeps the accumulator (a blend after the FMA).
    // The mask holds on most of the tiles a block sees (all of them but
    // the diagonal for causal): `likely` makes Halide split the
    // reduction loop into the range of keys where it holds for every
    // row of the block, without the blend, and the ranges around it.
    H::Expr next =
        kind == ReductionKind::sum ? accumulate(acc, value) : strict(combined);
    if (!isTrue(masked))
      next = H::likely_if_innermost(next);
    // Without a mask, where the term reads every reduction variable, the
    // update is `acc + term` itself: Halide then proves it associative
    // (a schedule may vectorize the reduction, HalideSchedule.cpp).
    bool readsEveryRVar = llvm::all_of(rvars, [&](const H::RVar &r) {
      return HI::expr_uses_var(value, r.name());
    });
    if (isTrue(masked) && readsEveryRVar)
      upd.push_back(next);
    else
      upd.push_back(H::select(andE(rvarsUsed, masked), next, acc));
  }
  if (upd.size() == 1)
    f(pureArgs) = upd[0];
  else
    f(pureArgs) = H::Tuple(upd);
}

/// The einsum's result as later ops see it: its Func, presence (a flag, a
/// uniform condition, an affine domain; an expression of the arguments
/// where it is one, for tile classes), extents and description.
void PipelineBuilder::recordEinsumView(EinsumLowering &s) {
  EinsumOp op = s.op;
  ReductionKind kind = s.kind;
  unsigned rank = s.rank, stageIndex = s.stageIndex;
  AffineMap resultMap = s.resultMap;
  const Point &pt = s.pt;
  const SmallVector<unsigned> &reduced = s.reduced;
  const RegionValue &guard = s.guard;
  const H::Expr &filter = s.filter, &contributes = s.contributes;
  const H::Expr &volumePositive = s.volumePositive;
  const std::optional<H::Expr> &mapPresentExpr = s.mapPresentExpr;
  auto resultType = cast<RankedTensorType>(op.getResult().getType());
  TensorView view;
  // Presence as an expression of the arguments only, where it is one.
  if (mapPresentExpr) {
    H::Expr point = andE(filter, andE(andE(guard.present, guard.value),
                                      andE(*mapPresentExpr, s.body.present)));
    if (!readsStage(point)) {
      std::vector<std::string> all, result;
      for (const H::Expr &d : pt.dims)
        all.push_back(d.as<HI::Variable>()->name);
      for (AffineExpr e : resultMap.getResults())
        result.push_back(all[cast<AffineDimExpr>(e).getPosition()]);
      bool usesReduced = llvm::any_of(reduced, [&](unsigned r) {
        return HI::expr_uses_var(point, all[r]);
      });
      if (!usesReduced)
        view.presenceExpr = PresenceExpr{
            kind == ReductionKind::none ? point : andE(volumePositive, point),
            result};
      if (kind != ReductionKind::none) {
        PointPresence pp{PresenceExpr{point, all}, pt.sizes, {}, {}};
        pp.reduced.assign(reduced.begin(), reduced.end());
        for (AffineExpr e : resultMap.getResults())
          pp.resultDims.push_back(cast<AffineDimExpr>(e).getPosition());
        view.pointPresence = pp;
      }
    }
  }
  view.func = p.stages[stageIndex].func;
  view.stage = stageIndex;
  view.elementType = resultType.getElementType();
  view.numElements = s.numElements;
  view.presentIndex = s.presentIndex;
  if (s.resultDomain) {
    view.uniformPresent = s.inputsUniform;
    view.domain = s.resultDomain;
  } else if (s.presentIndex < 0) {
    view.uniformPresent = kind == ReductionKind::none
                              ? contributes
                              : andE(contributes, volumePositive);
  }
  for (unsigned j = 0; j < rank; ++j)
    view.extents.push_back(
        pt.sizes[cast<AffineDimExpr>(resultMap.getResult(j)).getPosition()]);
  view.description = "the intermediate defined at " + locationText(op.getLoc());
  tensors[op.getResult()] = view;
}
