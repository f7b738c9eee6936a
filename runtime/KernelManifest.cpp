// Reads a kernel manifest: a small recursive-descent JSON parser (objects,
// arrays, strings, numbers, true/false/null), then the fields the runtime
// needs, each checked for presence and type.
#include "runtime/KernelManifest.h"

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>

using namespace attn::rt;

namespace {

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  double number = 0;
  std::string text; // String: the value; Number: the literal
  std::vector<Json> items;
  std::map<std::string, Json> fields;

  const Json *get(const std::string &key) const {
    auto it = fields.find(key);
    return it == fields.end() ? nullptr : &it->second;
  }
};

class JsonParser {
public:
  explicit JsonParser(const std::string &s) : s(s) {}

  bool parse(Json &out, std::string &error) {
    if (!value(out, 0)) {
      error = message;
      return false;
    }
    skip();
    if (pos != s.size()) {
      error = "unexpected text after the JSON value at offset " +
              std::to_string(pos);
      return false;
    }
    return true;
  }

private:
  const std::string &s;
  size_t pos = 0;
  std::string message;

  bool fail(const std::string &what) {
    message = what + " at offset " + std::to_string(pos);
    return false;
  }
  void skip() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\n' ||
                              s[pos] == '\r' || s[pos] == '\t'))
      ++pos;
  }
  bool literal(const char *word) {
    size_t n = std::char_traits<char>::length(word);
    if (s.compare(pos, n, word) != 0)
      return false;
    pos += n;
    return true;
  }

  bool string(std::string &out) {
    if (pos >= s.size() || s[pos] != '"')
      return fail("expected a string");
    ++pos;
    while (pos < s.size() && s[pos] != '"') {
      char c = s[pos++];
      if (static_cast<unsigned char>(c) < 0x20)
        return fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos >= s.size())
        break;
      char e = s[pos++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'u': {
        if (pos + 4 > s.size())
          return fail("truncated \\u escape");
        unsigned code = 0;
        for (int i = 0; i < 4; ++i) {
          char h = s[pos++];
          code <<= 4;
          if (h >= '0' && h <= '9')
            code |= h - '0';
          else if (h >= 'a' && h <= 'f')
            code |= h - 'a' + 10;
          else if (h >= 'A' && h <= 'F')
            code |= h - 'A' + 10;
          else
            return fail("bad \\u escape");
        }
        // UTF-8 (surrogate pairs are not needed by manifests: kept as is).
        if (code < 0x80) {
          out += static_cast<char>(code);
        } else if (code < 0x800) {
          out += static_cast<char>(0xc0 | (code >> 6));
          out += static_cast<char>(0x80 | (code & 0x3f));
        } else {
          out += static_cast<char>(0xe0 | (code >> 12));
          out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
          out += static_cast<char>(0x80 | (code & 0x3f));
        }
        break;
      }
      default:
        return fail("bad escape in a string");
      }
    }
    if (pos >= s.size())
      return fail("unterminated string");
    ++pos;
    return true;
  }

  bool value(Json &out, int depth) {
    if (depth > 32)
      return fail("JSON nested too deeply");
    skip();
    if (pos >= s.size())
      return fail("unexpected end of the file");
    char c = s[pos];
    if (c == '{') {
      out.kind = Json::Object;
      ++pos;
      skip();
      if (pos < s.size() && s[pos] == '}') {
        ++pos;
        return true;
      }
      while (true) {
        skip();
        std::string key;
        if (!string(key))
          return false;
        skip();
        if (pos >= s.size() || s[pos] != ':')
          return fail("expected ':'");
        ++pos;
        Json v;
        if (!value(v, depth + 1))
          return false;
        out.fields[key] = std::move(v);
        skip();
        if (pos < s.size() && s[pos] == ',') {
          ++pos;
          continue;
        }
        if (pos < s.size() && s[pos] == '}') {
          ++pos;
          return true;
        }
        return fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      out.kind = Json::Array;
      ++pos;
      skip();
      if (pos < s.size() && s[pos] == ']') {
        ++pos;
        return true;
      }
      while (true) {
        Json v;
        if (!value(v, depth + 1))
          return false;
        out.items.push_back(std::move(v));
        skip();
        if (pos < s.size() && s[pos] == ',') {
          ++pos;
          continue;
        }
        if (pos < s.size() && s[pos] == ']') {
          ++pos;
          return true;
        }
        return fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      out.kind = Json::String;
      return string(out.text);
    }
    if (literal("true")) {
      out.kind = Json::Bool;
      out.boolean = true;
      return true;
    }
    if (literal("false")) {
      out.kind = Json::Bool;
      return true;
    }
    if (literal("null"))
      return true;
    size_t start = pos;
    if (pos < s.size() && s[pos] == '-')
      ++pos;
    while (pos < s.size() &&
           (std::isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.' ||
            s[pos] == 'e' || s[pos] == 'E' || s[pos] == '+' || s[pos] == '-'))
      ++pos;
    if (pos == start || (pos == start + 1 && s[start] == '-'))
      return fail("unexpected character '" + std::string(1, c) + "'");
    out.kind = Json::Number;
    out.text = s.substr(start, pos - start);
    char *end = nullptr;
    out.number = std::strtod(out.text.c_str(), &end);
    if (end != out.text.c_str() + out.text.size())
      return fail("malformed number '" + out.text + "'");
    return true;
  }
};

/// Field readers that say which field is wrong.
struct FieldReader {
  std::string &error;
  const std::string &file;

  bool bad(const std::string &where, const std::string &what) {
    error = file + ": " + where + " " + what;
    return false;
  }
  bool str(const Json &obj, const std::string &key, const std::string &where,
           std::string &out, bool required = true) {
    const Json *v = obj.get(key);
    if (!v)
      return !required || bad(where, "has no \"" + key + "\"");
    if (v->kind != Json::String)
      return bad(where, "field \"" + key + "\" is not a string");
    out = v->text;
    return true;
  }
  bool integer(const Json &obj, const std::string &key,
               const std::string &where, int &out) {
    const Json *v = obj.get(key);
    if (!v)
      return bad(where, "has no \"" + key + "\"");
    if (v->kind != Json::Number || v->number != static_cast<int>(v->number))
      return bad(where, "field \"" + key + "\" is not an integer");
    out = static_cast<int>(v->number);
    return true;
  }
};

} // namespace

bool attn::rt::parseKernelManifest(const std::string &text,
                                   const std::string &name, KernelManifest &out,
                                   std::string &error) {
  Json root;
  JsonParser parser(text);
  std::string jsonError;
  if (!parser.parse(root, jsonError)) {
    error = name + ": malformed manifest: " + jsonError;
    return false;
  }
  FieldReader r{error, name};
  if (root.kind != Json::Object)
    return r.bad("the manifest", "is not a JSON object");
  std::string format;
  if (!r.str(root, "format", "the manifest", format))
    return false;
  if (format != "attn-kernel-manifest")
    return r.bad("the manifest",
                 "has format \"" + format + "\", not \"attn-kernel-manifest\"");
  if (!r.integer(root, "format_version", "the manifest", out.formatVersion))
    return false;
  if (out.formatVersion != 1)
    return r.bad("the manifest", "has format_version " +
                                     std::to_string(out.formatVersion) +
                                     "; this runtime reads version 1");
  if (!r.str(root, "compiler", "the manifest", out.compiler) ||
      !r.str(root, "kernel", "the manifest", out.kernel) ||
      !r.str(root, "target", "the manifest", out.target) ||
      !r.str(root, "entry", "the manifest", out.entry) ||
      !r.str(root, "library", "the manifest", out.library, false) ||
      !r.str(root, "object", "the manifest", out.object, false) ||
      !r.str(root, "calling_convention", "the manifest", out.callingConvention))
    return false;
  if (out.library.empty() && out.object.empty())
    return r.bad("the manifest", "names neither \"library\" nor \"object\"");

  const Json *args = root.get("arguments");
  if (!args || args->kind != Json::Array)
    return r.bad("the manifest", "has no \"arguments\" array");
  bool seenOutput = false;
  for (size_t i = 0; i < args->items.size(); ++i) {
    const Json &a = args->items[i];
    std::string where = "argument " + std::to_string(i);
    if (a.kind != Json::Object)
      return r.bad(where, "is not an object");
    ManifestArgument m;
    std::string role, kind, dtype;
    if (!r.str(a, "name", where, m.name) || !r.str(a, "role", where, role) ||
        !r.str(a, "kind", where, kind) || !r.str(a, "dtype", where, dtype))
      return false;
    where += " (" + m.name + ")";
    if (role != "input" && role != "output")
      return r.bad(where, "has role \"" + role + "\"");
    if (kind != "tensor" && kind != "scalar")
      return r.bad(where, "has kind \"" + kind + "\"");
    m.isOutput = role == "output";
    m.isScalar = kind == "scalar";
    if (m.isOutput && m.isScalar)
      return r.bad(where, "is a scalar output");
    if (seenOutput && !m.isOutput)
      return r.bad(where, "is an input after an output");
    seenOutput |= m.isOutput;
    std::optional<DType> dt = parseDType(dtype);
    if (!dt)
      return r.bad(where, "has unknown dtype \"" + dtype + "\"");
    m.dtype = *dt;
    if (!m.isScalar) {
      const Json *dims = a.get("dims");
      if (!dims || dims->kind != Json::Array)
        return r.bad(where, "has no \"dims\" array");
      for (const Json &d : dims->items) {
        if (d.kind == Json::String && !d.text.empty())
          m.dims.push_back(d.text);
        else if (d.kind == Json::Number && d.number >= 0 &&
                 d.number ==
                     static_cast<double>(static_cast<int64_t>(d.number)))
          m.dims.push_back(std::to_string(static_cast<int64_t>(d.number)));
        else
          return r.bad(where, "has a dimension that is neither a size symbol "
                              "nor a non-negative integer");
      }
      if (m.dims.size() > 16)
        return r.bad(where, "has rank " + std::to_string(m.dims.size()) +
                                " (16 at most)");
    }
    if (const Json *fill = a.get("fill")) {
      if (fill->kind == Json::String)
        m.fill = fill->text;
      else if (fill->kind == Json::Number)
        m.fill = fill->text;
      else if (fill->kind != Json::Null)
        return r.bad(where, "has a \"fill\" that is not a string");
    }
    out.arguments.push_back(std::move(m));
  }

  if (const Json *errors = root.get("errors")) {
    if (errors->kind != Json::Array)
      return r.bad("the manifest", "field \"errors\" is not an array");
    for (size_t i = 0; i < errors->items.size(); ++i) {
      const Json &e = errors->items[i];
      std::string where = "error " + std::to_string(i);
      if (e.kind != Json::Object)
        return r.bad(where, "is not an object");
      ManifestRunError m;
      if (!r.str(e, "what", where, m.what) ||
          !r.integer(e, "argument", where, m.argument) ||
          !r.integer(e, "dimension", where, m.dimension) ||
          !r.str(e, "where", where, m.where))
        return false;
      out.errors.push_back(std::move(m));
    }
  }
  return true;
}
