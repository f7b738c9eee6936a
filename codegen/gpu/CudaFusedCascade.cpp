// The cascade's einsums at one score element of the fused attention launch
// (CudaFusedEmitter.h): each covered einsum's dimensions from the canonical
// ones, its inputs (kernel arguments loaded with range checks, covered
// einsums evaluated recursively, the ref as the running maximum), its
// filters as presence, and its body cloned; the root's product is the mma
// accumulator element.
#include "codegen/gpu/CudaFusedEmitter.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;
using namespace mlir::attn::cuda::emit;

SmallVector<Value> FusedLaunchEmitter::dimsOf(Operation *op) {
  SmallVector<Value> out;
  for (AffineExpr x : fa.dimsOf[op])
    out.push_back(emitAffine(f, x, canon, syms));
  return out;
}

SmallVector<Value> FusedLaunchEmitter::symsOf(EinsumOp op) {
  SmallVector<Value> out;
  for (Value s : op.getSymbols()) {
    std::string why;
    out.push_back(f.size(*plan.sizeOf(s, why)));
  }
  return out;
}

/// Inside the op's iteration domain (0 <= d < size for every dimension).
Value FusedLaunchEmitter::inDomain(EinsumOp op, ArrayRef<Value> dims) {
  Value all;
  for (auto [d, size] : llvm::enumerate(op.getSizes())) {
    std::string why;
    Value n = f.size(*plan.sizeOf(size, why));
    all = f.andI(all, f.cmp(arith::CmpIPredicate::ult, dims[d], n));
  }
  return all;
}

/// A kernel argument's element at `index`: range-checked where the reading
/// op's point exists (`live`), clamped otherwise.
FailureOr<Value> FusedLaunchEmitter::loadArgument(Value t,
                                                  ArrayRef<Value> index,
                                                  ArrayRef<bool> check,
                                                  Value live,
                                                  const std::string &where) {
  const TensorStorage *s = plan.storageOf(t);
  SmallVector<Value> extents = f.shape(*s);
  auto [ok, code] = ke.rangeCheck(f, index, extents, check, *s, where);
  SmallVector<Value> safe(index);
  if (ok) {
    Value bad = f.notI(ok);
    if (live)
      bad = f.andI(bad, live);
    auto ifOp = scf::IfOp::create(b, loc, bad, false);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      f.raise(code);
    }
    for (Value &x : safe)
      x = f.select(ok, x, f.cst(0));
  }
  return f.load(f.valuesOf(*s), s->elementType, f.offset(safe, extents));
}

/// Input `i` of `op`, a kernel argument, at the op's point `dims`: a bare
/// dimension whose extent is the tensor's needs no check; the others are
/// checked where the point is `live`.
FailureOr<Value> FusedLaunchEmitter::loadInput(EinsumOp op, unsigned i,
                                               ArrayRef<Value> dims,
                                               ArrayRef<Value> opSyms,
                                               Value live) {
  Value in = op.getInputs()[i];
  const TensorStorage *st = plan.storageOf(in);
  SmallVector<Value> index;
  SmallVector<bool> check;
  for (auto [k, x] : llvm::enumerate(op.getInputMap(i).getResults())) {
    index.push_back(emitAffine(f, x, dims, opSyms));
    bool proved = false;
    if (auto d = dyn_cast<AffineDimExpr>(x)) {
      std::string why;
      std::optional<SizeText> n =
          plan.sizeOf(op.getSizes()[d.getPosition()], why);
      proved = n && n->text == st->shape[k].text;
    }
    check.push_back(!proved);
  }
  return loadArgument(in, index, check, live,
                      "through the map of input " + std::to_string(i) +
                          " of the attn.einsum at " +
                          locationText(op.getLoc()));
}

/// Clones a plain body with its inputs and index arguments (null: unused);
/// the root's product is replaced by the accumulator element.
FailureOr<Value> FusedLaunchEmitter::cloneBody(EinsumOp op,
                                               ArrayRef<Value> inputs,
                                               ArrayRef<Value> dims) {
  Block &body = op.getBody().front();
  IRMapping map;
  unsigned n = op.getInputs().size();
  for (unsigned i = 0; i < n; ++i)
    if (inputs[i])
      map.map(body.getArgument(i), inputs[i]);
  for (unsigned d = 0; d < op.getNumDims(); ++d)
    if (dims[d])
      map.map(body.getArgument(n + d), dims[d]);
  for (Operation &o : body) {
    if (auto y = dyn_cast<YieldOp>(o))
      return ke.captured(f, y.getValues()[0], map, &o);
    if (&o == fa.product) {
      map.map(o.getResult(0), acc);
      continue;
    }
    if (op == fa.root && isa<arith::ExtFOp>(o) &&
        isa<BlockArgument>(o.getOperand(0)))
      continue; // the operands of the product
    for (Value operand : o.getOperands())
      if (failed(ke.captured(f, operand, map, &o)))
        return failure();
    if (auto exp = dyn_cast<math::ExpOp>(o); exp && exp.getType().isF32()) {
      // exp(x) as ex2(x * log2(e)): two instructions instead of
      // libdevice's accurate expf (relative error ~1e-6 here, far below
      // the bf16/f16 bound of the launch's results).
      Value scaled = arith::MulFOp::create(b, loc, map.lookup(exp.getOperand()),
                                           fconst(M_LOG2E));
      map.map(exp.getResult(), math::Exp2Op::create(b, loc, scaled));
      continue;
    }
    b.clone(o, map);
  }
  return op.emitError() << "a region does not end in attn.yield";
}

/// The value and presence (null: present) of `t` at the element.
FailureOr<ValuePresence> FusedLaunchEmitter::eval(Value t) {
  if (t == fa.online.getRef())
    return std::make_pair(refValue, refPresent);
  auto op = t.getDefiningOp<EinsumOp>();
  auto it = memo.find(op);
  if (it != memo.end())
    return it->second;
  SmallVector<Value> dims = dimsOf(op);
  SmallVector<Value> opSyms = symsOf(op);
  Value present;
  if (masked)
    present = emitFilter(f, op.getFilter(), dims, opSyms);
  SmallVector<Value> inputs;
  if (op != fa.root) {
    Value live;
    for (unsigned i = 0; i < op.getInputs().size(); ++i) {
      Value in = op.getInputs()[i];
      if (isKernelArgument(in, plan.kernel)) {
        if (!live) {
          live = inDomain(op, dims);
          if (Value flt = emitFilter(f, op.getFilter(), dims, opSyms))
            live = f.andI(live, flt);
        }
        FailureOr<Value> v = loadInput(op, i, dims, opSyms, live);
        if (failed(v))
          return failure();
        inputs.push_back(*v);
        continue;
      }
      FailureOr<ValuePresence> v = eval(in);
      if (failed(v))
        return failure();
      inputs.push_back(v->first);
      if (masked && v->second)
        present = f.andI(present, v->second);
    }
  }
  FailureOr<Value> value = cloneBody(op, inputs, dims);
  if (failed(value))
    return failure();
  memo[op] = {*value, present};
  return memo[op];
}
