// Builders and verifiers of the attn ops. Every error here has a lit test in
// test/Dialect/invalid.mlir.
#include "dialect/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/SmallBitVector.h"

using namespace mlir;
using namespace mlir::attn;

#include "dialect/AttnInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "dialect/AttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// IterationSpaceOpInterface
//===----------------------------------------------------------------------===//

SmallVector<unsigned>
mlir::attn::detail::reducedDims(IterationSpaceOpInterface op) {
  unsigned numDims = op.getNumDims();
  SmallVector<Value> tensors = op.getIndexedTensors();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  llvm::SmallBitVector named(numDims);
  for (auto [tensor, map] : llvm::zip(tensors, maps)) {
    if (!isa<OpResult>(tensor) || tensor.getDefiningOp() != op.getOperation())
      continue;
    for (AffineExpr e : map.getResults())
      if (auto d = dyn_cast<AffineDimExpr>(e))
        if (d.getPosition() < numDims)
          named.set(d.getPosition());
  }
  SmallVector<unsigned> reduced;
  for (unsigned i = 0; i < numDims; ++i)
    if (!named.test(i))
      reduced.push_back(i);
  return reduced;
}

std::string mlir::attn::detail::indexName(Operation *op, unsigned dim) {
  if (auto names = op->getAttrOfType<ArrayAttr>(kIndicesAttr))
    if (dim < names.size())
      if (auto name = dyn_cast<StringAttr>(names[dim]))
        return name.str();
  return "d" + std::to_string(dim);
}

void mlir::attn::setIndexNames(Operation *op, ArrayRef<std::string> names) {
  if (names.empty())
    return;
  Builder b(op->getContext());
  SmallVector<Attribute> attrs;
  for (const std::string &n : names)
    attrs.push_back(b.getStringAttr(n));
  op->setAttr(kIndicesAttr, b.getArrayAttr(attrs));
}

//===----------------------------------------------------------------------===//
// EinsumOp
//===----------------------------------------------------------------------===//

void EinsumOp::build(OpBuilder &b, OperationState &state, Type resultType,
                     ValueRange inputs, ValueRange tables, ValueRange sizes,
                     ValueRange symbols, ArrayRef<AffineMap> maps,
                     ReductionKind kind, ArrayRef<IntegerSet> filter) {
  state.addOperands(inputs);
  state.addOperands(tables);
  state.addOperands(sizes);
  state.addOperands(symbols);
  state.addAttribute(getOperandSegmentSizesAttrName(state.name),
                     b.getDenseI32ArrayAttr(
                         {static_cast<int32_t>(inputs.size()),
                          static_cast<int32_t>(tables.size()),
                          static_cast<int32_t>(sizes.size()),
                          static_cast<int32_t>(symbols.size())}));
  state.addAttribute(getIndexingMapsAttrName(state.name),
                     b.getAffineMapArrayAttr(maps));
  state.addAttribute(getKindAttrName(state.name),
                     ReductionKindAttr::get(b.getContext(), kind));
  if (!filter.empty()) {
    SmallVector<Attribute> sets;
    for (IntegerSet set : filter)
      sets.push_back(IntegerSetAttr::get(set));
    state.addAttribute(getFilterAttrName(state.name), b.getArrayAttr(sets));
  }
  state.addTypes(resultType);
  state.addRegion();
  state.addRegion();
}

AffineMap EinsumOp::getInputMap(unsigned i) {
  return cast<AffineMapAttr>(getIndexingMaps()[i]).getValue();
}

AffineMap EinsumOp::getResultMap() {
  return cast<AffineMapAttr>(getIndexingMaps()[getInputs().size()]).getValue();
}

SmallVector<Value> EinsumOp::getIndexedTensors() {
  SmallVector<Value> tensors(getInputs().begin(), getInputs().end());
  tensors.push_back(getResult());
  return tensors;
}

Block *EinsumOp::createBodyBlock(bool withGuard) {
  Location loc = getLoc();
  Block *body = new Block();
  getBody().push_back(body);
  for (Value in : getInputs())
    body->addArgument(cast<RankedTensorType>(in.getType()).getElementType(),
                      loc);
  IndexType index = IndexType::get(getContext());
  for (unsigned i = 0; i < getNumDims(); ++i)
    body->addArgument(index, loc);
  if (withGuard) {
    Block *guard = new Block();
    getGuard().push_back(guard);
    for (unsigned i = 0; i < getNumDims(); ++i)
      guard->addArgument(index, loc);
  }
  return body;
}

/// The constant value of `v`, if it is an index constant.
static std::optional<int64_t> constantIndex(Value v) {
  if (auto c = v.getDefiningOp<arith::ConstantIndexOp>())
    return c.value();
  return std::nullopt;
}

/// Checks one access map of an op whose iteration space is `sizes`: its
/// dimension and symbol counts, its rank, and that a bare dimension indexing
/// a static tensor extent ranges over a constant size equal to it (at most
/// equal to it when `subRange`: an einsum may read part of an input).
static LogicalResult verifyAccessMap(Operation *op, AffineMap map,
                                     RankedTensorType type, StringRef what,
                                     ValueRange sizes, unsigned numSyms,
                                     bool subRange = false) {
  unsigned numDims = sizes.size();
  if (map.getNumDims() != numDims)
    return op->emitOpError() << what << " map has " << map.getNumDims()
                             << " dimensions, but the iteration space has "
                             << numDims;
  if (map.getNumSymbols() != numSyms)
    return op->emitOpError() << what << " map has " << map.getNumSymbols()
                             << " symbols, but the op has " << numSyms
                             << " symbol operands";
  if (map.getNumResults() != static_cast<unsigned>(type.getRank()))
    return op->emitOpError() << what << " map has " << map.getNumResults()
                             << " results, but the tensor has rank "
                             << type.getRank();
  for (auto [pos, e] : llvm::enumerate(map.getResults())) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d || type.isDynamicDim(pos))
      continue;
    std::optional<int64_t> size = constantIndex(sizes[d.getPosition()]);
    if (size && (subRange ? *size > type.getDimSize(pos)
                          : *size != type.getDimSize(pos)))
      return op->emitOpError() << what << " dimension " << pos
                               << " has extent " << type.getDimSize(pos)
                               << ", but d" << d.getPosition()
                               << " ranges over " << *size;
  }
  return success();
}

/// Checks that a result map names distinct dimensions only; sets them in
/// `named`.
static LogicalResult verifyProjection(Operation *op, AffineMap map,
                                      StringRef what,
                                      llvm::SmallBitVector &named) {
  llvm::SmallBitVector seen(map.getNumDims());
  for (AffineExpr e : map.getResults()) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d) {
      std::string text;
      llvm::raw_string_ostream os(text);
      e.print(os);
      return op->emitOpError() << what << " map must name dimensions only, got "
                               << text;
    }
    if (seen.test(d.getPosition()))
      return op->emitOpError() << what << " map names d" << d.getPosition()
                               << " twice";
    seen.set(d.getPosition());
  }
  named |= seen;
  return success();
}

/// Checks an optional filter: at least one set, each over the op's
/// dimensions and symbols.
static LogicalResult verifyFilter(Operation *op,
                                  std::optional<ArrayAttr> filter,
                                  unsigned numDims, unsigned numSyms) {
  if (!filter)
    return success();
  if (filter->empty())
    return op->emitOpError("filter must hold at least one integer set");
  for (Attribute a : *filter) {
    IntegerSet set = cast<IntegerSetAttr>(a).getValue();
    if (set.getNumDims() != numDims || set.getNumSymbols() != numSyms)
      return op->emitOpError("filter set must have ")
             << numDims << " dimensions and " << numSyms << " symbols, got "
             << set.getNumDims() << " and " << set.getNumSymbols();
  }
  return success();
}

/// attn.indices, where present, names every iteration dimension.
static LogicalResult verifyIndexNames(Operation *op, unsigned numDims) {
  auto names = op->getAttrOfType<ArrayAttr>(kIndicesAttr);
  if (names && names.size() != numDims)
    return op->emitOpError("'")
           << kIndicesAttr << "' has " << names.size() << " names for "
           << numDims << " dimensions";
  return success();
}

LogicalResult EinsumOp::verify() {
  unsigned numDims = getNumDims();
  if (failed(verifyIndexNames(*this, numDims)))
    return failure();
  unsigned numSyms = getSymbols().size();
  unsigned numInputs = getInputs().size();
  if (getIndexingMaps().size() != numInputs + 1)
    return emitOpError("expects one indexing map per input and one for the "
                       "result (")
           << numInputs + 1 << "), got " << getIndexingMaps().size();

  auto checkMap = [&](AffineMap map, RankedTensorType type, StringRef what,
                      bool subRange) -> LogicalResult {
    return verifyAccessMap(*this, map, type, what, getSizes(), numSyms,
                           subRange);
  };
  for (unsigned i = 0; i < numInputs; ++i) {
    std::string what = "input " + std::to_string(i);
    if (failed(checkMap(getInputMap(i),
                        cast<RankedTensorType>(getInputs()[i].getType()), what,
                        /*subRange=*/true)))
      return failure();
  }
  auto resultType = cast<RankedTensorType>(getResult().getType());
  if (failed(checkMap(getResultMap(), resultType, "result", false)))
    return failure();

  llvm::SmallBitVector seen(numDims);
  if (failed(verifyProjection(*this, getResultMap(), "result", seen)))
    return failure();
  bool reduces = seen.count() != numDims;
  if (reduces && getKind() == ReductionKind::none)
    return emitOpError("reduces dimensions not named by the result map but "
                       "has reduction kind 'none'");
  if (!reduces && getKind() != ReductionKind::none)
    return emitOpError("has reduction kind '")
           << stringifyReductionKind(getKind())
           << "' but reduces no dimension";

  if (failed(verifyFilter(*this, getFilter(), numDims, numSyms)))
    return failure();

  Type elem = resultType.getElementType();
  if (!elem.isIntOrIndexOrFloat())
    return emitOpError("result element type must be an integer or a float, "
                       "got ")
           << elem;
  return success();
}

LogicalResult EinsumOp::verifyRegions() {
  unsigned numDims = getNumDims();
  Block &body = getBody().front();
  unsigned numInputs = getInputs().size();
  if (body.getNumArguments() != numInputs + numDims)
    return emitOpError("body must take one argument per input and one index "
                       "per dimension (")
           << numInputs + numDims << "), got " << body.getNumArguments();
  for (unsigned i = 0; i < numInputs; ++i) {
    Type want =
        cast<RankedTensorType>(getInputs()[i].getType()).getElementType();
    if (body.getArgument(i).getType() != want)
      return emitOpError("body argument ")
             << i << " must have the element type of input " << i << " ("
             << want << "), got " << body.getArgument(i).getType();
  }
  for (unsigned i = 0; i < numDims; ++i)
    if (!body.getArgument(numInputs + i).getType().isIndex())
      return emitOpError("body argument ")
             << numInputs + i << " (dimension " << i << ") must be an index";
  auto yield = cast<YieldOp>(body.getTerminator());
  Type elem = cast<RankedTensorType>(getResult().getType()).getElementType();
  if (yield.getValues().size() != 1 || yield.getValues()[0].getType() != elem)
    return yield.emitOpError("in the body must yield one value of the "
                             "result element type ")
           << elem;

  if (!getGuard().empty()) {
    if (!getGuard().hasOneBlock())
      return emitOpError("guard must have one block");
    Block &guard = getGuard().front();
    if (guard.getNumArguments() != numDims ||
        llvm::any_of(guard.getArgumentTypes(),
                     [](Type t) { return !t.isIndex(); }))
      return emitOpError("guard must take one index per dimension (")
             << numDims << ")";
    auto gy = dyn_cast<YieldOp>(guard.getTerminator());
    if (!gy || gy.getValues().size() != 1 ||
        !gy.getValues()[0].getType().isInteger(1))
      return emitOpError("guard must end in attn.yield of one i1");
  }
  return success();
}

//===----------------------------------------------------------------------===//
// YieldOp, ReadOp, FillOp
//===----------------------------------------------------------------------===//

LogicalResult YieldOp::verify() {
  if (getValues().size() != 1)
    return emitOpError("must yield exactly one value, got ")
           << getValues().size();
  return success();
}

LogicalResult ReadOp::verify() {
  auto type = cast<RankedTensorType>(getTensor().getType());
  if (static_cast<int64_t>(getIndices().size()) != type.getRank())
    return emitOpError("has ") << getIndices().size()
                               << " indices for a tensor of rank "
                               << type.getRank();
  if (getValue().getType() != type.getElementType())
    return emitOpError("result type ")
           << getValue().getType() << " must be the element type "
           << type.getElementType();
  auto einsum = (*this)->getParentOfType<EinsumOp>();
  if (!einsum)
    return emitOpError("must be inside an attn.einsum");
  if (!llvm::is_contained(einsum.getTables(), getTensor()))
    return emitOpError("reads a tensor that is not one of the enclosing "
                       "einsum's tables");
  return success();
}

LogicalResult FillOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  if (in.getRank() != out.getRank())
    return emitOpError("result rank ")
           << out.getRank() << " differs from input rank " << in.getRank();
  for (int64_t i = 0; i < in.getRank(); ++i)
    if (!in.isDynamicDim(i) && !out.isDynamicDim(i) &&
        in.getDimSize(i) != out.getDimSize(i))
      return emitOpError("dimension ") << i << " has extent "
                                       << in.getDimSize(i) << " in and "
                                       << out.getDimSize(i) << " out";
  if (!out.getElementType().isIntOrFloat())
    return emitOpError("result element type must be an integer or a float");
  return success();
}

//===----------------------------------------------------------------------===//
// OnlineOp
//===----------------------------------------------------------------------===//

void OnlineOp::build(OpBuilder &b, OperationState &state, Type maxType,
                     TypeRange sumTypes, Value ref, ValueRange parts,
                     ValueRange sizes, ValueRange symbols,
                     ArrayRef<AffineMap> maps, ArrayRef<double> rescale,
                     ArrayRef<IntegerSet> filter) {
  state.addOperands(ref);
  state.addOperands(parts);
  state.addOperands(sizes);
  state.addOperands(symbols);
  state.addAttribute(getOperandSegmentSizesAttrName(state.name),
                     b.getDenseI32ArrayAttr(
                         {1, static_cast<int32_t>(parts.size()),
                          static_cast<int32_t>(sizes.size()),
                          static_cast<int32_t>(symbols.size())}));
  state.addAttribute(getIndexingMapsAttrName(state.name),
                     b.getAffineMapArrayAttr(maps));
  state.addAttribute(getRescaleAttrName(state.name),
                     b.getF64ArrayAttr(rescale));
  if (!filter.empty()) {
    SmallVector<Attribute> sets;
    for (IntegerSet set : filter)
      sets.push_back(IntegerSetAttr::get(set));
    state.addAttribute(getFilterAttrName(state.name), b.getArrayAttr(sets));
  }
  state.addTypes(maxType);
  state.addTypes(sumTypes);
}

AffineMap OnlineOp::getRefMap() {
  return cast<AffineMapAttr>(getIndexingMaps()[0]).getValue();
}
AffineMap OnlineOp::getPartMap(unsigned i) {
  return cast<AffineMapAttr>(getIndexingMaps()[1 + i]).getValue();
}
AffineMap OnlineOp::getMaxMap() {
  return cast<AffineMapAttr>(getIndexingMaps()[1 + getNumParts()]).getValue();
}
AffineMap OnlineOp::getSumMap(unsigned i) {
  return cast<AffineMapAttr>(getIndexingMaps()[2 + getNumParts() + i])
      .getValue();
}

SmallVector<Value> OnlineOp::getIndexedTensors() {
  SmallVector<Value> tensors{getRef()};
  tensors.append(getParts().begin(), getParts().end());
  tensors.push_back(getMax());
  tensors.append(getSums().begin(), getSums().end());
  return tensors;
}

/// The dimensions `map` uses.
static llvm::SmallBitVector usedDims(AffineMap map) {
  llvm::SmallBitVector used(map.getNumDims());
  for (AffineExpr e : map.getResults())
    e.walk([&](AffineExpr sub) {
      if (auto d = dyn_cast<AffineDimExpr>(sub))
        used.set(d.getPosition());
    });
  return used;
}

LogicalResult OnlineOp::verify() {
  unsigned numDims = getNumDims();
  if (failed(verifyIndexNames(*this, numDims)))
    return failure();
  unsigned numSyms = getSymbols().size();
  unsigned numParts = getNumParts();
  if (numParts == 0)
    return emitOpError("needs at least one partial sum besides the reference");
  if (getSums().size() != numParts)
    return emitOpError("has ") << numParts << " partial sums but "
                               << getSums().size() << " sum results";
  if (getIndexingMaps().size() != 2 * (numParts + 1))
    return emitOpError("expects one indexing map per input and per result (")
           << 2 * (numParts + 1) << "), got " << getIndexingMaps().size();
  if (getRescale().size() != numParts)
    return emitOpError("expects one rescale exponent per partial sum (")
           << numParts << "), got " << getRescale().size();

  auto tensorOf = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  if (failed(verifyAccessMap(*this, getRefMap(), tensorOf(getRef()), "ref",
                             getSizes(), numSyms)))
    return failure();
  llvm::SmallBitVector maxDims(numDims), allNamed(numDims);
  if (failed(verifyAccessMap(*this, getMaxMap(), tensorOf(getMax()), "max",
                             getSizes(), numSyms)) ||
      failed(verifyProjection(*this, getMaxMap(), "max", maxDims)))
    return failure();
  allNamed |= maxDims;
  for (unsigned i = 0; i < numParts; ++i) {
    std::string part = "part " + std::to_string(i);
    std::string sum = "sum " + std::to_string(i);
    llvm::SmallBitVector named(numDims);
    if (failed(verifyAccessMap(*this, getPartMap(i), tensorOf(getParts()[i]),
                               part, getSizes(), numSyms)) ||
        failed(verifyAccessMap(*this, getSumMap(i), tensorOf(getSums()[i]),
                               sum, getSizes(), numSyms)) ||
        failed(verifyProjection(*this, getSumMap(i), sum, named)))
      return failure();
    if ((maxDims & ~named).any())
      return emitOpError() << sum
                           << " map must name every dimension the max map "
                              "names";
    if (cast<FloatAttr>(getRescale()[i]).getValueAsDouble() >= 0)
      return emitOpError("rescale exponents must be negative (a correction "
                         "exp(c * (new - old)) <= 1 keeps sums bounded)");
    allNamed |= named;
  }
  // `ref` may depend only on the max's dimensions and the reduced ones.
  llvm::SmallBitVector refOnly = usedDims(getRefMap()) & allNamed & ~maxDims;
  if (refOnly.any())
    return emitOpError("ref map uses d")
           << refOnly.find_first()
           << ", which is neither reduced nor named by the max map";
  if (allNamed.count() == numDims)
    return emitOpError("reduces no dimension");
  if (failed(verifyFilter(*this, getFilter(), numDims, numSyms)))
    return failure();
  for (Value r : getResults())
    if (!isa<FloatType>(tensorOf(r).getElementType()))
      return emitOpError("results must have a float element type");
  return success();
}

//===----------------------------------------------------------------------===//
// ScanOp
//===----------------------------------------------------------------------===//

LogicalResult ScanOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  if (getResult().getType() != in)
    return emitOpError("result type ")
           << getResult().getType() << " must equal the input type " << in;
  if (getDim() < 0 || getDim() >= in.getRank())
    return emitOpError("dim ") << getDim() << " is not a dimension of a rank "
                               << in.getRank() << " tensor";
  if (getKind() == ReductionKind::none)
    return emitOpError("kind must be sum, max, min or prod");
  if (!isa<FloatType>(in.getElementType()))
    return emitOpError("input must have a float element type");
  return success();
}
