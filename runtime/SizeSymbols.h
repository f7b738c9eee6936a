// Size symbols bound from argument shapes at run time: the first argument
// that names a symbol fixes its value; any other that disagrees is an error
// naming both. Shared by the runtime's loader and the JIT.
#ifndef ATTN_RUNTIME_SIZESYMBOLS_H
#define ATTN_RUNTIME_SIZESYMBOLS_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace attn::rt {

class SizeSymbols {
public:
  /// Binds `sym` to `value`, seen at `where` ("Q dimension 2"). False, with
  /// `error` naming both places, when it is already bound to another value.
  bool bind(const std::string &sym, int64_t value, const std::string &where,
            std::string &error) {
    auto [it, inserted] = symbols.emplace(sym, std::make_pair(value, where));
    if (inserted || it->second.first == value)
      return true;
    error = where + " is " + std::to_string(value) + ", but size symbol " +
            sym + " is " + std::to_string(it->second.first) + " (" +
            it->second.second + ")";
    return false;
  }

  /// The value `sym` is bound to, if it is.
  std::optional<int64_t> lookup(const std::string &sym) const {
    auto it = symbols.find(sym);
    if (it == symbols.end())
      return std::nullopt;
    return it->second.first;
  }

private:
  /// Symbol -> (value, where it was first seen).
  std::map<std::string, std::pair<int64_t, std::string>> symbols;
};

} // namespace attn::rt

#endif
