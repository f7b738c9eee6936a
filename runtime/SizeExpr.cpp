// Size expressions: a recursive-descent parser into a node list, and a
// checked 64-bit evaluator (runtime/SizeExpr.h).
#include "runtime/SizeExpr.h"

#include <algorithm>
#include <cctype>

using namespace attn::rt;

namespace attn::rt {

class SizeExprParser {
public:
  SizeExprParser(const std::string &s, SizeExpr &out) : s(s), out(out) {}

  bool parse(std::string &error) {
    out.nodes.clear();
    int root;
    if (!expr(root, 0)) {
      error = message;
      return false;
    }
    skip();
    if (pos != s.size()) {
      error = "unexpected '" + std::string(1, s[pos]) + "' at offset " +
              std::to_string(pos) + " of \"" + s + "\"";
      return false;
    }
    return true;
  }

private:
  const std::string &s;
  SizeExpr &out;
  size_t pos = 0;
  std::string message;

  bool fail(const std::string &what) {
    message = what + " at offset " + std::to_string(pos) + " of \"" + s + "\"";
    return false;
  }
  void skip() {
    while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos])))
      ++pos;
  }
  bool eat(char c) {
    skip();
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  int add(SizeExpr::Node::Op op, int lhs, int rhs, int64_t value = 0,
          std::string symbol = "") {
    out.nodes.push_back({op, value, std::move(symbol), lhs, rhs});
    return static_cast<int>(out.nodes.size()) - 1;
  }

  bool expr(int &node, int depth) {
    if (depth > 32)
      return fail("expression nested too deeply");
    if (!term(node, depth))
      return false;
    while (true) {
      SizeExpr::Node::Op op;
      if (eat('+'))
        op = SizeExpr::Node::Add;
      else if (eat('-'))
        op = SizeExpr::Node::Sub;
      else
        return true;
      int rhs;
      if (!term(rhs, depth))
        return false;
      node = add(op, node, rhs);
    }
  }

  bool term(int &node, int depth) {
    if (!factor(node, depth))
      return false;
    while (true) {
      SizeExpr::Node::Op op;
      if (eat('*'))
        op = SizeExpr::Node::Mul;
      else if (eat('/'))
        op = SizeExpr::Node::Div;
      else if (eat('%'))
        op = SizeExpr::Node::Mod;
      else
        return true;
      int rhs;
      if (!factor(rhs, depth))
        return false;
      node = add(op, node, rhs);
    }
  }

  bool factor(int &node, int depth) {
    skip();
    if (pos >= s.size())
      return fail("expected a number, a size symbol or '('");
    char c = s[pos];
    if (c == '(') {
      ++pos;
      if (!expr(node, depth + 1))
        return false;
      return eat(')') || fail("expected ')'");
    }
    if (c == '-') {
      ++pos;
      int inner;
      if (!factor(inner, depth + 1))
        return false;
      node = add(SizeExpr::Node::Neg, inner, -1);
      return true;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      int64_t v = 0;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, s[pos] - '0', &v))
          return fail("integer too large");
        ++pos;
      }
      node = add(SizeExpr::Node::Const, -1, -1, v);
      return true;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = pos;
      while (pos < s.size() && (std::isalnum(static_cast<unsigned char>(s[pos])) ||
                                s[pos] == '_'))
        ++pos;
      std::string name = s.substr(start, pos - start);
      skip();
      if (pos < s.size() && s[pos] == '(') {
        SizeExpr::Node::Op op;
        if (name == "ceildiv")
          op = SizeExpr::Node::CeilDiv;
        else if (name == "min")
          op = SizeExpr::Node::Min;
        else if (name == "max")
          op = SizeExpr::Node::Max;
        else
          return fail("unknown function '" + name +
                      "' (known: ceildiv, min, max)");
        ++pos;
        int lhs, rhs;
        if (!expr(lhs, depth + 1))
          return false;
        if (!eat(','))
          return fail("expected ',' (" + name + " takes two arguments)");
        if (!expr(rhs, depth + 1))
          return false;
        if (!eat(')'))
          return fail("expected ')' (" + name + " takes two arguments)");
        node = add(op, lhs, rhs);
        return true;
      }
      node = add(SizeExpr::Node::Sym, -1, -1, 0, name);
      return true;
    }
    return fail("unexpected '" + std::string(1, c) + "'");
  }
};

} // namespace attn::rt

SizeExpr SizeExpr::constant(int64_t value) {
  SizeExpr e;
  e.nodes[0].value = value;
  e.source = std::to_string(value);
  return e;
}

bool SizeExpr::parse(const std::string &text, SizeExpr &out,
                     std::string &error) {
  SizeExpr e;
  SizeExprParser parser(text, e);
  if (!parser.parse(error))
    return false;
  e.source = text;
  out = std::move(e);
  return true;
}

std::vector<std::string> SizeExpr::symbols() const {
  std::vector<std::string> syms;
  for (const Node &n : nodes)
    if (n.op == Node::Sym &&
        std::find(syms.begin(), syms.end(), n.symbol) == syms.end())
      syms.push_back(n.symbol);
  return syms;
}

bool SizeExpr::evaluate(const Lookup &lookup, int64_t &out,
                        std::string &error) const {
  return eval(static_cast<int>(nodes.size()) - 1, lookup, out, error);
}

bool SizeExpr::eval(int node, const Lookup &lookup, int64_t &out,
                    std::string &error) const {
  const Node &n = nodes[node];
  auto overflow = [&] {
    error = "\"" + source + "\" overflows 64 bits";
    return false;
  };
  switch (n.op) {
  case Node::Const:
    out = n.value;
    return true;
  case Node::Sym: {
    std::optional<int64_t> v = lookup(n.symbol);
    if (!v) {
      error = "\"" + source + "\" uses size symbol " + n.symbol +
              ", which has no value";
      return false;
    }
    out = *v;
    return true;
  }
  case Node::Neg: {
    int64_t v;
    if (!eval(n.lhs, lookup, v, error))
      return false;
    if (__builtin_sub_overflow(int64_t(0), v, &out))
      return overflow();
    return true;
  }
  default:
    break;
  }
  int64_t a, b;
  if (!eval(n.lhs, lookup, a, error) || !eval(n.rhs, lookup, b, error))
    return false;
  auto floorDiv = [](int64_t x, int64_t y) {
    int64_t q = x / y;
    return (x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q;
  };
  switch (n.op) {
  case Node::Add:
    return !__builtin_add_overflow(a, b, &out) || overflow();
  case Node::Sub:
    return !__builtin_sub_overflow(a, b, &out) || overflow();
  case Node::Mul:
    return !__builtin_mul_overflow(a, b, &out) || overflow();
  case Node::Div:
  case Node::Mod:
  case Node::CeilDiv:
    if (b == 0) {
      error = "\"" + source + "\" divides by zero";
      return false;
    }
    if (a == INT64_MIN && (b == -1 || n.op == Node::CeilDiv))
      return overflow();
    if (n.op == Node::Div)
      out = floorDiv(a, b);
    else if (n.op == Node::Mod)
      out = a - floorDiv(a, b) * b;
    else
      out = -floorDiv(-a, b);
    return true;
  case Node::Min:
    out = std::min(a, b);
    return true;
  case Node::Max:
    out = std::max(a, b);
    return true;
  default:
    return false;
  }
}
