// The interface shared by the ops that range over an iteration space
// (attn.einsum and attn.online): sizes, symbols, maps, reduced dimensions and
// the source names of the dimensions.
#ifndef ATTN_INTERFACES_TD
#define ATTN_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Attn_IterationSpaceOpInterface : OpInterface<"IterationSpaceOpInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    An op that ranges over an iteration space: one dimension per `sizes`
    operand, symbols for the maps, and one affine map per indexed tensor (the
    tensor operands in order, then the results). Dimensions that no result
    map names are reduced. Passes and analyses that only need the iteration
    space (rank analysis, pass counting, tile classification) use this
    interface instead of one code path per op.
  }];
  let methods = [
    InterfaceMethod<"The number of iteration dimensions.", "unsigned",
                    "getNumDims">,
    InterfaceMethod<"The extent of each dimension.", "::mlir::OperandRange",
                    "getSizes">,
    InterfaceMethod<"The values the maps' symbols stand for.",
                    "::mlir::OperandRange", "getSymbols">,
    InterfaceMethod<"The tensors the maps index: the tensor operands in "
                    "order, then the results (one map each).",
                    "::llvm::SmallVector<::mlir::Value>", "getIndexedTensors">,
    InterfaceMethod<"The maps, in the order of getIndexedTensors.",
                    "::llvm::SmallVector<::mlir::AffineMap>",
                    "getIndexingMapsArray", (ins), [{}], [{
      ::llvm::SmallVector<::mlir::AffineMap> maps;
      for (::mlir::Attribute a : $_op.getIndexingMaps())
        maps.push_back(::llvm::cast<::mlir::AffineMapAttr>(a).getValue());
      return maps;
    }]>,
    InterfaceMethod<"The filter (a union of integer sets), if any.",
                    "std::optional<::mlir::ArrayAttr>", "getFilter">,
    InterfaceMethod<"The dimensions that no result map names, in "
                    "increasing order.",
                    "::llvm::SmallVector<unsigned>", "getReducedDims", (ins),
                    [{}], [{
      return ::mlir::attn::detail::reducedDims(
          ::llvm::cast<::mlir::attn::IterationSpaceOpInterface>(
              $_op.getOperation()));
    }]>,
    InterfaceMethod<"The source name of dimension `dim` (recorded in "
                    "`attn.indices`), else `d<dim>`. Names are for people: "
                    "nothing may depend on them.",
                    "std::string", "getIndexName", (ins "unsigned":$dim), [{}],
                    [{
      return ::mlir::attn::detail::indexName($_op.getOperation(), dim);
    }]>,
  ];
}

#endif // ATTN_INTERFACES_TD
