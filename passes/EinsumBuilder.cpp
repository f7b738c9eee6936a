// EinsumBuilder: the blocks are built detached, then moved into the op.
#include "passes/EinsumBuilder.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::attn;

SmallVector<std::string> mlir::attn::indexNames(EinsumOp e) {
  SmallVector<std::string> names;
  for (unsigned d = 0; d < e.getNumDims(); ++d)
    names.push_back(e.getIndexName(d));
  return names;
}

std::string mlir::attn::freshIndexName(Operation *scope, StringRef wanted) {
  llvm::StringSet<> used;
  scope->walk([&](IterationSpaceOpInterface op) {
    for (unsigned d = 0; d < op.getNumDims(); ++d)
      used.insert(op.getIndexName(d));
  });
  if (!used.contains(wanted))
    return wanted.str();
  for (unsigned n = 1;; ++n) {
    std::string name = (wanted + "_" + Twine(n)).str();
    if (!used.contains(name))
      return name;
  }
}

EinsumBuilder::EinsumBuilder(OpBuilder &builder, Location loc, ValueRange sizes,
                             ArrayRef<std::string> names)
    : builder(builder), loc(loc), sizes(sizes.begin(), sizes.end()),
      names(names.begin(), names.end()), bodyBlock(std::make_unique<Block>()) {
  for (unsigned d = 0; d < numDims(); ++d)
    bodyDims.push_back(bodyBlock->addArgument(builder.getIndexType(), loc));
}

EinsumBuilder::~EinsumBuilder() {
  // Unfinished blocks may hold ops that use each other: drop the uses first.
  for (Block *b : {bodyBlock.get(), guardBlock.get()})
    if (b)
      b->dropAllDefinedValueUses();
}

AffineExpr EinsumBuilder::dim(unsigned d) const {
  return getAffineDimExpr(d, builder.getContext());
}

AffineExpr EinsumBuilder::symbol(Value v) {
  auto *it = llvm::find(symbols, v);
  unsigned pos = it - symbols.begin();
  if (it == symbols.end())
    symbols.push_back(v);
  return getAffineSymbolExpr(pos, builder.getContext());
}

Block *EinsumBuilder::guard() {
  if (!guardBlock) {
    guardBlock = std::make_unique<Block>();
    for (unsigned d = 0; d < numDims(); ++d)
      guardDims.push_back(guardBlock->addArgument(builder.getIndexType(), loc));
  }
  return guardBlock.get();
}

OpBuilder EinsumBuilder::at(Block *block) {
  // The block is detached (no region yet): give the context explicitly.
  OpBuilder b(builder.getContext());
  b.setInsertionPointToEnd(block);
  return b;
}

Value EinsumBuilder::read(Value tensor, ArrayRef<AffineExpr> access) {
  for (auto [i, in] : llvm::enumerate(inputs))
    if (in.first == tensor && ArrayRef<AffineExpr>(in.second) == access)
      return bodyBlock->getArgument(i);
  inputs.push_back({tensor, SmallVector<AffineExpr>(access)});
  Type elem = cast<RankedTensorType>(tensor.getType()).getElementType();
  return bodyBlock->insertArgument(inputs.size() - 1, elem, loc);
}

Value EinsumBuilder::index(Block *block, AffineExpr e) {
  if (Value v = indexCache.lookup({block, e}))
    return v;
  OpBuilder b = at(block);
  Value v;
  if (auto d = dyn_cast<AffineDimExpr>(e)) {
    v = (block == guardBlock.get() ? guardDims : bodyDims)[d.getPosition()];
  } else if (auto s = dyn_cast<AffineSymbolExpr>(e)) {
    v = symbols[s.getPosition()];
  } else if (auto c = dyn_cast<AffineConstantExpr>(e)) {
    v = arith::ConstantIndexOp::create(b, loc, c.getValue());
  } else {
    auto bin = cast<AffineBinaryOpExpr>(e);
    Value l = index(block, bin.getLHS()), r = index(block, bin.getRHS());
    b.setInsertionPointToEnd(block);
    switch (e.getKind()) {
    case AffineExprKind::Add:
      v = arith::AddIOp::create(b, loc, l, r);
      break;
    case AffineExprKind::Mul:
      v = arith::MulIOp::create(b, loc, l, r);
      break;
    case AffineExprKind::FloorDiv:
      v = arith::FloorDivSIOp::create(b, loc, l, r);
      break;
    case AffineExprKind::CeilDiv:
      v = arith::CeilDivSIOp::create(b, loc, l, r);
      break;
    default: { // floor modulo, as the frontend writes it: l - floor(l / r) * r
      Value q = arith::FloorDivSIOp::create(b, loc, l, r);
      v = arith::SubIOp::create(b, loc, l, arith::MulIOp::create(b, loc, q, r));
    }
    }
  }
  indexCache[{block, e}] = v;
  return v;
}

AffineExpr EinsumBuilder::placed(EinsumOp src, ArrayRef<AffineExpr> place,
                                 AffineExpr e) {
  SmallVector<AffineExpr> syms;
  for (Value s : src.getSymbols())
    syms.push_back(symbol(s));
  return simplifyAffineExpr(e.replaceDimsAndSymbols(place, syms), numDims(),
                            symbols.size());
}

Value EinsumBuilder::clone(Block *block, EinsumOp src, Value v,
                           ArrayRef<AffineExpr> place, IRMapping &known) {
  if (Value m = known.lookupOrNull(v))
    return m;
  Value result;
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    unsigned n = arg.getArgNumber(), numInputs = src.getInputs().size();
    if (arg.getOwner() == &src.getBody().front() && n < numInputs) {
      SmallVector<AffineExpr> access;
      for (AffineExpr e : src.getInputMap(n).getResults())
        access.push_back(placed(src, place, e));
      result = read(src.getInputs()[n], access);
    } else if (arg.getOwner() == &src.getBody().front()) {
      result = index(block, place[n - numInputs]);
    } else if (arg.getOwner()->getParentOp() == src) { // the guard
      result = index(block, place[n]);
    } else {
      return v; // defined outside src
    }
  } else {
    Operation *op = v.getDefiningOp();
    if (!src->isProperAncestor(op))
      return v;
    for (Value operand : op->getOperands())
      clone(block, src, operand, place, known);
    Operation *copy = at(block).clone(*op, known);
    if (auto r = dyn_cast<ReadOp>(copy))
      if (!llvm::is_contained(tables, r.getTensor()))
        tables.push_back(r.getTensor());
    result = copy->getResult(cast<OpResult>(v).getResultNumber());
  }
  known.map(v, result);
  return result;
}

void EinsumBuilder::addFilterConjunction(ArrayRef<AffineExpr> exprs,
                                         ArrayRef<bool> isEq) {
  filter.push_back({SmallVector<AffineExpr>(exprs), SmallVector<bool>(isEq)});
}

EinsumOp EinsumBuilder::finish(Value value, Type elementType,
                               ArrayRef<unsigned> resultDims,
                               ReductionKind kind, Value guardValue) {
  MLIRContext *ctx = builder.getContext();
  unsigned numSyms = symbols.size();
  SmallVector<AffineMap> maps;
  SmallVector<Value> tensors;
  for (auto &[tensor, access] : inputs) {
    tensors.push_back(tensor);
    maps.push_back(AffineMap::get(numDims(), numSyms, access, ctx));
  }
  SmallVector<AffineExpr> result;
  SmallVector<int64_t> shape;
  for (unsigned d : resultDims) {
    result.push_back(dim(d));
    std::optional<int64_t> c = getConstantIntValue(sizes[d]);
    shape.push_back(c ? *c : ShapedType::kDynamic);
  }
  maps.push_back(AffineMap::get(numDims(), numSyms, result, ctx));
  SmallVector<IntegerSet> sets;
  for (auto &[exprs, isEq] : filter)
    sets.push_back(IntegerSet::get(numDims(), numSyms, exprs, isEq));

  auto op =
      EinsumOp::create(builder, loc, RankedTensorType::get(shape, elementType),
                       tensors, tables, sizes, symbols, maps, kind, sets);
  setIndexNames(op, names);

  OpBuilder bodyEnd = at(bodyBlock.get());
  YieldOp::create(bodyEnd, loc, value);
  op.getBody().push_back(bodyBlock.release());
  if (guardBlock) {
    OpBuilder guardEnd = at(guardBlock.get());
    YieldOp::create(guardEnd, loc, guardValue);
    op.getGuard().push_back(guardBlock.release());
  }
  return op;
}
