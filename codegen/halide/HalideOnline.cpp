// The CPU emitter's attn.online (the combine step of the one-pass rewrite):
// one Tuple-valued Func holds the running state, updated over the tiles, its
// rows split into blocks whose tile loop is bounded by presence (affine, or
// run-time tile classes); each result is a projection of the state.
#include "codegen/halide/HalideBuilder.h"
#include "codegen/halide/HalideScalarOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

/// One attn.online being lowered.
struct mlir::attn::halide::OnlineLowering {
  OnlineOp op;
  unsigned n = 0, stageIndex = 0, numParts = 0;
  std::string name;
  SmallVector<H::Expr> sizes, syms;
  Type elementType;
  H::Type t;
  SmallVector<const TensorView *> inputs; // ref, then the parts
  SmallVector<unsigned> reduced, kept;
  /// Presence: affine domains of every result, or flags in the state.
  std::optional<AffineDomain> refDomain;
  SmallVector<std::optional<AffineDomain>> resultDomains;
  bool affinePresence = false;
  /// The blocked dimension, or -1.
  int q = -1;
  /// The state's variables (tensor order), what they are, their extents.
  std::vector<H::Var> tvars;
  std::vector<HalideVarRole> troles;
  std::vector<H::Expr> textents;
  SmallVector<H::Expr> dims; // the point's dimensions
  H::Var qo, qi;             // the block and the row of the blocked dimension
  H::RDom rdom;
  std::vector<H::RVar> rvars;
  H::Func state;

  AffineMap inputMap(unsigned i) {
    return i == 0 ? op.getRefMap() : op.getPartMap(i - 1);
  }
  AffineMap resultMap(unsigned k) {
    return k == 0 ? op.getMaxMap() : op.getSumMap(k - 1);
  }
  /// The state: sums, [flags: max, sums], max (last, read by the others only
  /// through `old`).
  unsigned maxIndex() const {
    return affinePresence ? numParts : 2 * numParts + 1;
  }
  unsigned flagIndex(unsigned k) const { return numParts + k; }
  /// Halide var index of each kept dimension (q: its row var).
  int varOf(unsigned d) const {
    unsigned pos = 0;
    for (unsigned k : kept) {
      if (k == d)
        break;
      pos += static_cast<int>(k) == q ? 2 : 1;
    }
    if (static_cast<int>(d) == q)
      ++pos;
    return static_cast<int>(tvars.size() - 1 - pos);
  }
};

/// The domain of a view read through `map` (over the op's dimensions), or
/// nothing when its presence is a stored flag or the map is not affine.
std::optional<AffineDomain>
PipelineBuilder::domainThrough(const TensorView &t, AffineMap map,
                               ArrayRef<H::Expr> syms) {
  if (t.presentIndex >= 0)
    return std::nullopt;
  if (!t.domain)
    return AffineDomain::everywhere(map.getNumDims());
  return t.domain->pullBack(map, syms);
}

/// `d` with the dimensions `reduced` eliminated, on the coordinates of
/// `map` (whose dimensions are among `kept`, the others).
std::optional<AffineDomain> PipelineBuilder::resultDomainOf(
    std::optional<AffineDomain> d, ArrayRef<unsigned> reduced,
    ArrayRef<unsigned> kept, AffineMap map, ArrayRef<H::Expr> sizes) {
  for (unsigned r : llvm::reverse(reduced))
    if (d)
      d = d->eliminate(r, sizes[r]);
  if (!d)
    return std::nullopt;
  SmallVector<unsigned> keep;
  for (AffineExpr e : map.getResults())
    keep.push_back(llvm::find(kept, cast<AffineDimExpr>(e).getPosition()) -
                   kept.begin());
  return d->select(keep);
}

/// One Tuple-valued Func over the union of the result dimensions holds the
/// running state (sum_0, ..., [presence flags,] max); its update over an RDom
/// on the reduced dimensions (the tiles m1) is the online step
///   new = max(old, ref)
///   sum_i = sum_i * exp(c_i (new - old)) + part_i * exp(c_i (new - ref))
/// where `ref` is present (and part_i too, for its term): the sums are kept
/// relative to the running maximum, so they are final at the end. `new` is
/// `old` or `ref`, so one of the two factors is 1 and one exponential per
/// part, of the other difference, gives both.
///
/// Where presence is affine the loop over the tiles is bounded by it: the
/// result dimension whose presence `ref` couples with the tiles (the query
/// rows of a causal or windowed filter) is split into blocks of `blockRows`
/// rows, so that "some row of the block sees the tile" depends on the block
/// and the tile only and becomes the bound of the tile loop; the exact
/// condition selects per row. Rows of the last block beyond the extent
/// repeat its last row (computed, never read).
LogicalResult PipelineBuilder::visitOnline(OnlineOp op) {
  OnlineLowering s;
  s.op = op;
  s.n = op.getNumDims();
  s.stageIndex = p.stages.size();
  s.numParts = op.getNumParts();
  s.reduced = op.getReducedDims();
  // The state is named after the running maximum ("GM_online").
  Operation *ref = op.getRef().getDefiningOp();
  std::string base = statementName(ref ? ref : op.getOperation());
  s.name = names.unique((base.empty() ? "online" : base) + "_online");
  if (failed(beginOnline(s)))
    return failure();
  chooseBlockedDim(s);
  defineOnlineVars(s);
  boundTileLoop(s);
  if (failed(defineOnlineUpdate(s)))
    return failure();
  defineOnlineResults(s);
  return success();
}

LogicalResult PipelineBuilder::beginOnline(OnlineLowering &s) {
  OnlineOp op = s.op;
  unsigned n = s.n, numParts = s.numParts;
  SmallVector<H::Expr> &sizes = s.sizes, &syms = s.syms;
  for (Value v : llvm::concat<Value>(op.getSizes(), op.getSymbols())) {
    H::Expr e = scalars.lookup(v);
    if (!e.defined())
      return op.emitOpError("has a size or symbol the Halide code "
                            "generator cannot compute");
    (sizes.size() < n ? sizes : syms)
        .push_back(e.type() == H::Int(32) ? e : H::cast(H::Int(32), e));
  }
  s.elementType =
      cast<RankedTensorType>(op.getMax().getType()).getElementType();
  std::optional<H::Type> vt = halideValueType(s.elementType, H::Int(64));
  if (!vt || !vt->is_float())
    return op.emitOpError("has a non-float result, which the Halide code "
                          "generator does not support");
  s.t = *vt;
  for (Value v : op->getOperands().take_front(1 + op.getNumParts())) {
    auto it = tensors.find(v);
    if (it == tensors.end())
      return op.emitOpError("reads a tensor the Halide code generator "
                            "does not know");
    s.inputs.push_back(&it->second);
  }
  for (unsigned d = 0; d < n; ++d)
    if (!llvm::is_contained(s.reduced, d))
      s.kept.push_back(d);
  const SmallVector<unsigned> &reduced = s.reduced, &kept = s.kept;

  // Presence: affine domains of every result, or flags in the state.
  s.refDomain = domainThrough(*s.inputs[0], s.inputMap(0), syms);
  s.affinePresence = s.refDomain.has_value();
  for (unsigned k = 0; s.affinePresence && k <= numParts; ++k) {
    std::optional<AffineDomain> d = s.refDomain;
    if (k > 0) {
      std::optional<AffineDomain> part =
          domainThrough(*s.inputs[k], s.inputMap(k), syms);
      d = part ? d->intersect(*part) : std::nullopt;
    }
    s.resultDomains.push_back(
        resultDomainOf(d, reduced, kept, s.resultMap(k), sizes));
    s.affinePresence = s.resultDomains.back().has_value();
  }

  return success();
}

/// The blocked dimension, one of the maximum's: one that ref's presence
/// couples with a reduced dimension, or else the query rows (a dimension no
/// key-side argument has), so that the blocks' rows share each tile.
void PipelineBuilder::chooseBlockedDim(OnlineLowering &s) {
  OnlineOp op = s.op;
  const SmallVector<unsigned> &reduced = s.reduced;
  int &q = s.q;
  for (AffineExpr e : op.getMaxMap().getResults()) {
    unsigned d = cast<AffineDimExpr>(e).getPosition();
    if (blockRows > 1 && !roles.isKeySide(roles.rankOf(op, d)))
      q = d;
  }
  if (s.refDomain && blockRows > 1)
    for (AffineExpr e : op.getMaxMap().getResults()) {
      unsigned d = cast<AffineDimExpr>(e).getPosition();
      for (const AffineDomain::Conjunction &conj : s.refDomain->getDisjuncts())
        for (const AffineConstraint &c : conj)
          if (c.coeffs[d] != 0 && llvm::any_of(reduced, [&](unsigned r) {
                return c.coeffs[r] != 0;
              }))
            q = d;
    }
}

/// The state's variables (tensor order: the blocked dimension as block and
/// row), the point's dimensions, and the RDom over the tiles.
void PipelineBuilder::defineOnlineVars(OnlineLowering &s) {
  OnlineOp op = s.op;
  unsigned n = s.n;
  const SmallVector<H::Expr> &sizes = s.sizes;
  const SmallVector<unsigned> &reduced = s.reduced, &kept = s.kept;
  int q = s.q;
  const std::string &name = s.name;
  std::vector<H::Var> &tvars = s.tvars;
  std::vector<HalideVarRole> &troles = s.troles;
  std::vector<H::Expr> &textents = s.textents;
  SmallVector<H::Expr> &dims = s.dims;
  H::Var &qo = s.qo, &qi = s.qi;
  dims.resize(n);
  for (unsigned d : kept) {
    std::string vn = name + "_d" + std::to_string(d);
    if (static_cast<int>(d) == q) {
      qo = H::Var(vn + "_block");
      qi = H::Var(vn);
      tvars.insert(tvars.end(), {qo, qi});
      troles.insert(troles.end(), {HalideVarRole(), varRole(op, d)});
      textents.insert(textents.end(), {(sizes[d] + blockRows - 1) / blockRows,
                                       H::Expr(blockRows)});
      dims[d] = H::min(qo * blockRows + qi, sizes[d] - 1);
      continue;
    }
    tvars.push_back(H::Var(vn));
    troles.push_back(varRole(op, d));
    textents.push_back(sizes[d]);
    dims[d] = tvars.back();
  }
  H::Region region;
  for (unsigned r : llvm::reverse(reduced))
    region.push_back(H::Range(0, sizes[r]));
  s.rdom = H::RDom(region, name + "_r");
  for (unsigned i = 0; i < reduced.size(); ++i) {
    s.rvars.push_back(s.rdom[i]);
    dims[reduced[reduced.size() - 1 - i]] = s.rdom[i];
  }
}

/// The tiles a point (or a block of rows) sees bound the tile loop (also
/// where the results' presence is not affine and is stored); where presence
/// reads tensors, the tile classes computed at run time do.
void PipelineBuilder::boundTileLoop(OnlineLowering &s) {
  OnlineOp op = s.op;
  unsigned n = s.n;
  const SmallVector<H::Expr> &sizes = s.sizes, &syms = s.syms;
  const SmallVector<unsigned> &reduced = s.reduced;
  int q = s.q;
  const SmallVector<H::Expr> &dims = s.dims;
  if (s.refDomain) {
    H::Expr where = s.refDomain->contains(dims);
    if (q >= 0) {
      // Some row qo * B + qi (0 <= qi < B) of the block sees the point:
      // coordinate q of the op becomes the block, a new one the row.
      std::vector<LinearForm> forms;
      for (unsigned d = 0; d < n; ++d) {
        LinearForm lf{std::vector<int64_t>(n + 1, 0), H::Expr(0)};
        lf.coeffs[d] = static_cast<int>(d) == q ? blockRows : 1;
        if (static_cast<int>(d) == q)
          lf.coeffs[n] = 1;
        forms.push_back(lf);
      }
      std::optional<AffineDomain> block =
          s.refDomain->pullBack(forms, n + 1).eliminate(n, blockRows);
      if (block) {
        SmallVector<H::Expr> blockDims(dims);
        // The block enters through a promise (0 <= qo < blocks, true) that
        // Halide's solver does not see through: bounds inference then
        // does not narrow the block (one per output tile) per tile to
        // max(block, first block that sees the tile), a bound whose clamp
        // to the last row made loop partitioning split the tile loop at
        // the diagonal's block and leave the full tiles masked. The pure
        // (internal) promise is discarded after bounds inference (an
        // unsafe one, impure, also kept loop partitioning from bounding
        // the partitions). The tiles a block cannot see are then visited
        // but skipped: the per-tile stages are guarded by the where-clause.
        blockDims[q] = HI::promise_clamped(H::Expr(s.qo), 0,
                                           (sizes[q] - 1) / blockRows);
        where = block->contains(blockDims);
      }
    }
    if (!isTrue(where))
      s.rdom.where(where);
  } else if (s.inputs[0]->pointPresence) {
    // Run-time classification: the tiles no point of the block can see are
    // skipped; the others keep the per-element presence.
    std::optional<TileClasses> cls =
        buildTileClasses(op, *s.inputs[0]->pointPresence, q, blockRows, reduced,
                         sizes, syms, names.unique(s.name + "_tile_class"));
    if (cls) {
      p.tileClasses.push_back(cls->func);
      std::vector<H::Expr> at;
      for (const auto &[d, isBlock] : cls->dims)
        at.push_back(isBlock ? H::Expr(s.qo) : dims[d]);
      s.rdom.where(cls->func(at) != 0);
    }
  }
}

/// The state's Func: its init and the online step over the tiles.
LogicalResult PipelineBuilder::defineOnlineUpdate(OnlineLowering &s) {
  OnlineOp op = s.op;
  const SmallVector<H::Expr> &syms = s.syms, &dims = s.dims;
  const std::string &name = s.name;
  const std::vector<H::Var> &tvars = s.tvars;
  const std::vector<H::Expr> &textents = s.textents;
  const SmallVector<unsigned> &kept = s.kept;
  const SmallVector<const TensorView *> &inputs = s.inputs;
  unsigned numParts = s.numParts, stageIndex = s.stageIndex;
  bool affinePresence = s.affinePresence;
  int q = s.q;
  H::Type t = s.t;
  const H::Var &qi = s.qi;
  // Inputs at the point (coordinates clamped where not provably in range:
  // the op is the pass's, its sizes are its operands').
  auto load = [&](unsigned i) -> FailureOr<std::pair<H::Expr, H::Expr>> {
    AffineMap map = s.inputMap(i);
    Value input = op->getOperand(i);
    std::vector<H::Expr> coords;
    for (unsigned k = 0; k < map.getNumResults(); ++k) {
      AffineExpr e = map.getResult(k);
      if (auto d = dyn_cast<AffineDimExpr>(e))
        if (provablyInRange(op, d.getPosition(), input, k)) {
          coords.push_back(dims[d.getPosition()]);
          continue;
        }
      FailureOr<H::Expr> c = translateAffine(e, dims, syms, op);
      if (failed(c))
        return failure();
      coords.push_back(clampToExtent(*c, inputs[i]->extents[k]));
    }
    return inputs[i]->load(coords);
  };

  // The state: sums, [flags: max, sums], max (last, read by the others
  // only through `old`).
  unsigned maxIndex = s.maxIndex();
  auto flagIndex = [&](unsigned k) { return s.flagIndex(k); };
  std::vector<H::Expr> init(maxIndex + 1, HI::make_zero(t));
  for (unsigned k = 0; !affinePresence && k <= numParts; ++k)
    init[flagIndex(k)] = H::Expr(uint8_t(0));
  init[maxIndex] = negInf(t);
  std::vector<H::Expr> args(tvars.rbegin(), tvars.rend());
  s.state = H::Func(name);
  H::Func &f = s.state;
  f(args) = H::Tuple(init);

  FailureOr<std::pair<H::Expr, H::Expr>> ref = load(0);
  if (failed(ref))
    return failure();
  auto [r, rp] = *ref;
  H::FuncRef self = f(args);
  H::Expr old = self[maxIndex];
  H::Expr next = H::select(rp, H::max(old, r), old);
  std::vector<H::Expr> update(maxIndex + 1);
  update[maxIndex] = next;
  if (!affinePresence)
    update[flagIndex(0)] =
        H::select(rp, H::Expr(uint8_t(1)), self[flagIndex(0)]);
  H::Expr one = HI::make_one(t), zero = HI::make_zero(t);
  for (unsigned i = 0; i < numParts; ++i) {
    FailureOr<std::pair<H::Expr, H::Expr>> part = load(i + 1);
    if (failed(part))
      return failure();
    auto [v, vp] = *part;
    H::Expr c = HI::make_const(
        t, cast<FloatAttr>(op.getRescale()[i]).getValueAsDouble());
    // exp(c * 0) is 1 also where both are infinite. `next` is `old` or `r`
    // (or NaN), so one exponential serves both factors: the other one is 1.
    H::Expr other = H::select(next == old, r, old);
    H::Expr rescale = H::exp(c * (next - other));
    H::Expr alpha = H::select(next == old, one, rescale);
    H::Expr beta = H::select(next == r, one, rescale);
    H::Expr contributes = andE(rp, vp);
    update[i] = self[i] * alpha + H::select(contributes, v * beta, zero);
    if (!affinePresence)
      update[flagIndex(i + 1)] =
          H::select(contributes, H::Expr(uint8_t(1)), self[flagIndex(i + 1)]);
  }
  f(args) = H::Tuple(strict(update));
  HalideStage stage;
  stage.name = name;
  stage.func = f;
  stage.vars.assign(tvars.rbegin(), tvars.rend());
  stage.varRoles.assign(s.troles.rbegin(), s.troles.rend());
  stage.extents.assign(textents.rbegin(), textents.rend());
  stage.rvars = s.rvars;
  stage.online = true;
  if (q >= 0)
    for (unsigned v = 0; v < stage.vars.size(); ++v)
      if (stage.vars[v].same_as(qi))
        stage.blockVar = v;
  p.stages.push_back(stage);
  for (unsigned i = 0; i < inputs.size(); ++i) {
    AffineMap map = s.inputMap(i);
    std::vector<int> links(map.getNumResults(), -1);
    for (unsigned k = 0; k < map.getNumResults(); ++k)
      if (auto d = dyn_cast<AffineDimExpr>(map.getResult(k)))
        if (llvm::is_contained(kept, d.getPosition()) &&
            static_cast<int>(d.getPosition()) != q)
          links[map.getNumResults() - 1 - k] = s.varOf(d.getPosition());
    addUse(*inputs[i], stageIndex, links);
  }

  return success();
}

/// The results: projections of the state (the dimensions a result does not
/// name at 0, present only where their extents are positive).
void PipelineBuilder::defineOnlineResults(OnlineLowering &s) {
  OnlineOp op = s.op;
  const SmallVector<H::Expr> &sizes = s.sizes;
  const SmallVector<unsigned> &kept = s.kept;
  const std::vector<H::Var> &tvars = s.tvars;
  const SmallVector<const TensorView *> &inputs = s.inputs;
  unsigned numParts = s.numParts, stageIndex = s.stageIndex;
  bool affinePresence = s.affinePresence;
  int q = s.q;
  Type elementType = s.elementType;
  for (unsigned k = 0; k <= numParts; ++k) {
    if (op->getResult(k).use_empty())
      continue;
    AffineMap map = s.resultMap(k);
    unsigned rank = map.getNumResults();
    unsigned resultStage = p.stages.size();
    // Named as the statements whose values they are ("GM", "SD"), after
    // the tile maximum and the per-tile partials.
    Operation *source = op->getOperand(k).getDefiningOp();
    std::string base = statementName(source ? source : op.getOperation());
    std::string rname = names.unique(
        base.empty() ? s.name + "_result" + std::to_string(k) : base);
    std::vector<H::Var> rvarsOut(rank);
    std::vector<H::Expr> stateArgs(tvars.size(), H::Expr(0));
    std::vector<int> links(tvars.size(), -1);
    H::Expr uniform = HI::const_true();
    for (unsigned d : kept) {
      auto named = llvm::find_if(map.getResults(), [&](AffineExpr e) {
        return cast<AffineDimExpr>(e).getPosition() == d;
      });
      if (named == map.getResults().end()) {
        uniform = andE(uniform, sizes[d] > 0);
        continue;
      }
      unsigned j = named - map.getResults().begin();
      H::Var v(rname + "_d" + std::to_string(d));
      rvarsOut[rank - 1 - j] = v;
      int sv = s.varOf(d);
      if (static_cast<int>(d) == q) {
        stateArgs[sv] = v % blockRows;
        stateArgs[sv + 1] = v / blockRows;
        links[sv + 1] = rank - 1 - j;
      } else {
        stateArgs[sv] = v;
      }
      links[sv] = rank - 1 - j;
    }
    unsigned index = k == 0 ? s.maxIndex() : k - 1;
    H::Func g(rname);
    std::vector<H::Expr> gargs(rvarsOut.begin(), rvarsOut.end());
    if (affinePresence)
      g(gargs) = s.state(stateArgs)[index];
    else
      g(gargs) = H::Tuple(s.state(stateArgs)[index],
                          s.state(stateArgs)[s.flagIndex(k)]);
    HalideStage rs;
    rs.name = rname;
    rs.func = g;
    rs.vars = rvarsOut;
    rs.elementwise = true;
    for (unsigned j = 0; j < rank; ++j)
      rs.varRoles.push_back(p.stages[stageIndex].varRoles[s.varOf(
          cast<AffineDimExpr>(map.getResult(rank - 1 - j)).getPosition())]);
    p.stages.push_back(rs);
    p.stages[stageIndex].uses.push_back({resultStage, links});

    TensorView view;
    view.func = g;
    view.stage = resultStage;
    view.elementType = elementType;
    view.numElements = affinePresence ? 1 : 2;
    view.presentIndex = affinePresence ? -1 : 1;
    view.uniformPresent = uniform;
    if (affinePresence) {
      view.uniformPresent = andE(uniform, inputs[0]->uniformPresent);
      if (k > 0)
        view.uniformPresent =
            andE(view.uniformPresent, inputs[k]->uniformPresent);
      view.domain = s.resultDomains[k];
    }
    for (AffineExpr e : map.getResults())
      view.extents.push_back(sizes[cast<AffineDimExpr>(e).getPosition()]);
    view.description = "the result " + std::to_string(k) +
                       " of the attn.online at " + locationText(op.getLoc());
    tensors[op->getResult(k)] = view;
  }
}
