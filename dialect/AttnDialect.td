// The attn dialect: cascades of extended Einsums over tensors.
#ifndef ATTN_DIALECT_TD
#define ATTN_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Extended Einsums for attention variants";
  let description = [{
    A kernel is a `func.func` over tensors whose body is a cascade of
    `attn.einsum` ops. Each einsum ranges over an iteration space (one index
    value per dimension, extents given as `index` operands), reads its inputs
    through affine maps, may be restricted by a filter, and combines the
    values of its body with a reduction over the dimensions that its result
    map does not name. Points outside the filter are absent; see
    docs/dialect.md and LANGUAGE.md.
  }];
  let useDefaultAttributePrinterParser = 1;
  // Attributes the frontend and the passes put on ops they do not define
  // (verified by verifyOperationAttribute / verifyRegion*AttrVerify):
  //   attn.kernel   on a func.func: the function is a kernel;
  //   attn.indices  on an einsum or online op: the source name of each
  //                 iteration dimension (for people: nothing depends on it);
  //   attn.split    on an online op made by attn-split-reduction (not split
  //                 again);
  //   attn.name     on a kernel argument or result: its source name;
  //   attn.dims     on a kernel argument or result: the size symbol of each
  //                 of its dimensions.
  let discardableAttrs = (ins
    "::mlir::UnitAttr":$kernel,
    "::mlir::ArrayAttr":$indices,
    "::mlir::UnitAttr":$split,
    "::mlir::StringAttr":$name,
    "::mlir::ArrayAttr":$dims
  );
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::func::FuncDialect"];
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

def Attn_ReductionKind : I32EnumAttr<"ReductionKind",
    "how the values that share a result point are combined", [
      I32EnumAttrCase<"none", 0>,
      I32EnumAttrCase<"sum", 1>,
      I32EnumAttrCase<"max", 2>,
      I32EnumAttrCase<"min", 3>,
      I32EnumAttrCase<"prod", 4>]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_ReductionKindAttr : EnumAttr<Attn_Dialect, Attn_ReductionKind,
                                      "reduction"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // ATTN_DIALECT_TD
