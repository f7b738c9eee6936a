// Structure-aware mutations of attn IR text. Each edit finds the places in
// the text where one kind of token or construct occurs (attn.* attributes,
// integer literals, affine dimensions, reduction kinds, SSA uses, comma
// lists, tensor types, whole lines) and changes one of them.
#include "IrMutator.h"

#include <cctype>
#include <utility>
#include <vector>

using namespace attn::fuzz;

namespace {

using Rng = std::mt19937_64;

size_t pick(Rng &rng, size_t n) { return n == 0 ? 0 : rng() % n; }

template <typename T> const T &pickOf(Rng &rng, const std::vector<T> &v) {
  return v[pick(rng, v.size())];
}

bool isIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         c == '.';
}

/// Every position where `needle` starts.
std::vector<size_t> findAll(const std::string &s, const std::string &needle) {
  std::vector<size_t> at;
  for (size_t p = s.find(needle); p != std::string::npos;
       p = s.find(needle, p + 1))
    at.push_back(p);
  return at;
}

/// The position of the bracket that closes the one at `open`, or npos.
size_t matchingClose(const std::string &s, size_t open) {
  char o = s[open];
  char c = o == '[' ? ']' : o == '(' ? ')' : o == '{' ? '}' : '>';
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == o)
      ++depth;
    else if (s[i] == c && --depth == 0)
      return i;
  }
  return std::string::npos;
}

/// The top-level comma-separated elements of s[begin, end), as [from, to).
std::vector<std::pair<size_t, size_t>> splitList(const std::string &s,
                                                 size_t begin, size_t end) {
  std::vector<std::pair<size_t, size_t>> items;
  int depth = 0;
  size_t from = begin;
  bool inString = false;
  for (size_t i = begin; i < end; ++i) {
    char c = s[i];
    if (c == '"')
      inString = !inString;
    if (inString)
      continue;
    if (c == '[' || c == '(' || c == '{' || c == '<')
      ++depth;
    else if (c == ']' || c == ')' || c == '}' || (c == '>' && s[i - 1] != '-'))
      --depth;
    else if (c == ',' && depth == 0) {
      items.emplace_back(from, i);
      from = i + 1;
      while (from < end && s[from] == ' ')
        ++from;
    }
  }
  if (from < end)
    items.emplace_back(from, end);
  return items;
}

/// The value of `attn.indices` (and other `attn.*` attributes): names
/// written as integers, too few or too many names, repeated names, or a
/// value of another kind altogether.
bool editAttnAttribute(std::string &s, Rng &rng) {
  std::vector<size_t> at = findAll(s, "attn.indices = [");
  std::vector<size_t> tiled = findAll(s, "attn.tiled = {");
  at.insert(at.end(), tiled.begin(), tiled.end());
  if (at.empty())
    return false;
  size_t open = s.find_first_of("[{", pickOf(rng, at));
  size_t close = matchingClose(s, open);
  if (close == std::string::npos)
    return false;
  std::vector<std::pair<size_t, size_t>> items = splitList(s, open + 1, close);
  auto join = [&](const std::vector<std::string> &parts) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i)
      out += (i ? ", " : "") + parts[i];
    return out;
  };
  std::vector<std::string> parts;
  for (auto [from, to] : items)
    parts.push_back(s.substr(from, to - from));
  switch (rng() % 7) {
  case 0: // integers instead of names: attn.indices = [1, 2]
    for (size_t i = 0; i < parts.size(); ++i)
      parts[i] = std::to_string(i + 1);
    break;
  case 1: // one name fewer
    if (parts.empty())
      return false;
    parts.erase(parts.begin() + pick(rng, parts.size()));
    break;
  case 2: // one name more
    parts.insert(parts.begin() + pick(rng, parts.size() + 1), "\"z\"");
    break;
  case 3: // a repeated name
    if (parts.empty())
      return false;
    parts[pick(rng, parts.size())] = pickOf(rng, parts);
    break;
  case 4: // one element of another kind
    if (parts.empty())
      return false;
    parts[pick(rng, parts.size())] =
        pickOf(rng, std::vector<std::string>{"7", "\"\"", "[]", "unit", "1.5",
                                             "{a = 1}", "\"m1\" = 3"});
    break;
  case 5: // nothing
    parts.clear();
    break;
  case 6: // not a list (not a dictionary) at all
    s.replace(open, close + 1 - open,
              pickOf(rng, std::vector<std::string>{"3", "\"m\"", "unit",
                                                   "{m = 1}", "[[\"m\"]]"}));
    return true;
  }
  s.replace(open + 1, close - open - 1, join(parts));
  return true;
}

/// One element of a bracketed comma list (operands, maps, names, shapes)
/// dropped, repeated, or swapped with its neighbour.
bool editList(std::string &s, Rng &rng) {
  std::vector<size_t> opens;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] == '[' || s[i] == '(')
      opens.push_back(i);
  if (opens.empty())
    return false;
  size_t open = pickOf(rng, opens);
  size_t close = matchingClose(s, open);
  if (close == std::string::npos)
    return false;
  std::vector<std::pair<size_t, size_t>> items = splitList(s, open + 1, close);
  if (items.empty())
    return false;
  size_t i = pick(rng, items.size());
  std::string item = s.substr(items[i].first, items[i].second - items[i].first);
  switch (rng() % 3) {
  case 0: { // drop: with the comma before it, or after it for the first
    size_t from = i ? items[i - 1].second : items[i].first;
    size_t to = i || items.size() == 1 ? items[i].second : items[1].first;
    s.erase(from, to - from);
    return true;
  }
  case 1: // repeat
    s.insert(items[i].second, ", " + item);
    return true;
  default: { // swap with the next (or the previous)
    if (items.size() < 2)
      return false;
    size_t j = i + 1 < items.size() ? i + 1 : i - 1;
    size_t a = std::min(i, j), b = std::max(i, j);
    std::string first =
        s.substr(items[a].first, items[a].second - items[a].first);
    std::string second =
        s.substr(items[b].first, items[b].second - items[b].first);
    s.replace(items[b].first, second.size(), first);
    s.replace(items[a].first, first.size(), second);
    return true;
  }
  }
}

/// An integer literal (a constant, a tile extent, a static shape, a
/// coefficient in a map) replaced with a boundary value.
bool editInteger(std::string &s, Rng &rng) {
  std::vector<std::pair<size_t, size_t>> runs;
  for (size_t i = 0; i < s.size();) {
    if (!std::isdigit(static_cast<unsigned char>(s[i])) ||
        (i && (isIdentChar(s[i - 1]) || s[i - 1] == '%' || s[i - 1] == '#'))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])))
      ++j;
    // Not part of a float (1.0e+00) or a hex literal.
    if (j < s.size() && (s[j] == '.' || s[j] == 'x' || s[j] == 'e')) {
      i = j + 1;
      continue;
    }
    runs.emplace_back(i, j);
    i = j;
  }
  if (runs.empty())
    return false;
  auto [from, to] = pickOf(rng, runs);
  static const std::vector<std::string> values = {
      "0",          "1",          "2",          "3",
      "5",          "31",         "63",         "64",
      "65",         "4096",       "-1",         "-64",
      "2147483647", "2147483648", "4294967296", "9223372036854775807"};
  s.replace(from, to - from, pickOf(rng, values));
  return true;
}

/// An affine dimension or symbol (d2, s0) renamed, or replaced with a
/// compound expression of it.
bool editAffine(std::string &s, Rng &rng) {
  std::vector<std::pair<size_t, size_t>> ids;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if ((s[i] != 'd' && s[i] != 's') ||
        !std::isdigit(static_cast<unsigned char>(s[i + 1])) ||
        (i && isIdentChar(s[i - 1])))
      continue;
    size_t j = i + 1;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])))
      ++j;
    if (j < s.size() && isIdentChar(s[j]))
      continue;
    ids.emplace_back(i, j);
  }
  if (ids.empty())
    return false;
  auto [from, to] = pickOf(rng, ids);
  std::string id = s.substr(from, to - from);
  std::string other = std::string(1, id[0]) + std::to_string(rng() % 6);
  std::vector<std::string> forms = {other,
                                    id + " * 2",
                                    id + " floordiv 2",
                                    id + " mod 3",
                                    id + " ceildiv 64",
                                    id + " + 1",
                                    "-" + id,
                                    id + " * " + other,
                                    id + " floordiv 0",
                                    "0"};
  s.replace(from, to - from, pickOf(rng, forms));
  return true;
}

/// A reduction kind, a comparison of an affine constraint, or an operator
/// name replaced with another of its kind.
bool editKeyword(std::string &s, Rng &rng) {
  static const std::vector<std::vector<std::string>> families = {
      {"reduction<none>", "reduction<sum>", "reduction<max>", "reduction<min>",
       "reduction<prod>"},
      {" >= 0", " == 0"},
      {"arith.addf", "arith.subf", "arith.mulf", "arith.divf", "arith.maximumf",
       "arith.minimumf"},
      {"math.exp", "math.tanh", "math.log", "math.rsqrt", "math.sqrt"},
      {"f32", "f16", "bf16", "f64"}};
  const std::vector<std::string> &family = pickOf(rng, families);
  std::vector<std::pair<size_t, size_t>> at;
  for (const std::string &word : family)
    for (size_t p : findAll(s, word))
      at.emplace_back(p, word.size());
  if (at.empty())
    return false;
  auto [from, size] = pickOf(rng, at);
  s.replace(from, size, pickOf(rng, family));
  return true;
}

/// A use of an SSA value replaced with another value of the function.
bool editOperand(std::string &s, Rng &rng) {
  std::vector<std::pair<size_t, size_t>> names;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%')
      continue;
    size_t j = i + 1;
    while (j < s.size() && isIdentChar(s[j]))
      ++j;
    if (j > i + 1)
      names.emplace_back(i, j);
    i = j - 1;
  }
  if (names.size() < 2)
    return false;
  auto [from, to] = pickOf(rng, names);
  auto [otherFrom, otherTo] = pickOf(rng, names);
  s.replace(from, to - from, s.substr(otherFrom, otherTo - otherFrom));
  return true;
}

/// An `attn.*` attribute or a filter removed from its attribute dictionary.
bool dropAttribute(std::string &s, Rng &rng) {
  std::vector<size_t> at;
  for (const char *key :
       {"attn.indices = ", "attn.tiled = ", "filter = ", "attn.split",
        "attn.kernel", "attn.dims = ", "attn.name = ", "rescale = "}) {
    std::vector<size_t> found = findAll(s, key);
    at.insert(at.end(), found.begin(), found.end());
  }
  if (at.empty())
    return false;
  size_t from = pickOf(rng, at);
  size_t to = from;
  int depth = 0;
  for (; to < s.size(); ++to) {
    char c = s[to];
    if (c == '[' || c == '{' || c == '(' || c == '<')
      ++depth;
    else if (c == ']' || c == '}' || c == ')' || c == '>') {
      if (depth == 0)
        break;
      --depth;
    } else if (c == ',' && depth == 0) {
      to += s[to + 1] == ' ' ? 2 : 1;
      break;
    }
  }
  s.erase(from, to - from);
  return true;
}

/// Every occurrence of one tensor type changed alike (a static extent, one
/// dimension fewer or more, another element type), so that the function's
/// signature and its uses may still agree.
bool editTensorType(std::string &s, Rng &rng) {
  std::vector<size_t> at = findAll(s, "tensor<");
  if (at.empty())
    return false;
  size_t from = pickOf(rng, at);
  size_t close = s.find('>', from);
  if (close == std::string::npos)
    return false;
  std::string type = s.substr(from, close + 1 - from);
  std::string changed = type;
  size_t q = changed.find('?');
  switch (rng() % 4) {
  case 0:
    if (q == std::string::npos)
      return false;
    changed.replace(q, 1, pickOf(rng, std::vector<std::string>{"0", "1", "4"}));
    break;
  case 1:
    if (q == std::string::npos || changed[q + 1] != 'x')
      return false;
    changed.erase(q, 2);
    break;
  case 2:
    changed.insert(7, "?x");
    break;
  case 3:
    changed.replace(changed.size() - 4, 3, "f16");
    break;
  }
  std::vector<size_t> all = findAll(s, type);
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    s.replace(*it, type.size(), changed);
  return true;
}

/// A whole line deleted, repeated, or moved (ops out of order).
bool editLine(std::string &s, Rng &rng) {
  std::vector<std::string> lines;
  for (size_t from = 0; from < s.size();) {
    size_t to = s.find('\n', from);
    if (to == std::string::npos)
      to = s.size();
    lines.push_back(s.substr(from, to - from));
    from = to + 1;
  }
  if (lines.size() < 2)
    return false;
  size_t i = pick(rng, lines.size());
  switch (rng() % 3) {
  case 0:
    lines.erase(lines.begin() + i);
    break;
  case 1:
    lines.insert(lines.begin() + i, lines[i]);
    break;
  default: {
    std::string line = lines[i];
    lines.erase(lines.begin() + i);
    lines.insert(lines.begin() + pick(rng, lines.size() + 1), line);
  }
  }
  s.clear();
  for (const std::string &line : lines)
    s += line + "\n";
  return true;
}

} // namespace

bool attn::fuzz::mutateIrOnce(std::string &ir, Rng &rng) {
  switch (rng() % 10) {
  case 0:
  case 1:
    return editAttnAttribute(ir, rng);
  case 2:
    return editList(ir, rng);
  case 3:
    return editInteger(ir, rng);
  case 4:
    return editAffine(ir, rng);
  case 5:
    return editKeyword(ir, rng);
  case 6:
    return editOperand(ir, rng);
  case 7:
    return dropAttribute(ir, rng);
  case 8:
    return editTensorType(ir, rng);
  default:
    return editLine(ir, rng);
  }
}

void attn::fuzz::mutateIr(std::string &ir, Rng &rng, unsigned maxEdits) {
  unsigned edits = 1 + rng() % maxEdits;
  for (unsigned done = 0, tries = 0; done < edits && tries < 8 * edits; ++tries)
    done += mutateIrOnce(ir, rng);
}
