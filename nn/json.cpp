#include "nn/json.h"

#include <cerrno>
#include <cstdlib>

#include "tensor/error.h"

namespace moco::nn {

const Json* Json::find(const std::string& key) const {
  for (auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

const char* Json::kind_name() const {
  switch (kind) {
    case Kind::null: return "null";
    case Kind::boolean: return "boolean";
    case Kind::integer: return "integer";
    case Kind::number: return "number";
    case Kind::string: return "string";
    case Kind::array: return "array";
    case Kind::object: return "object";
  }
  return "?";
}

namespace {

struct Parser {
  const std::string& t;
  const std::string& what;
  size_t p = 0;
  int depth = 0;

  [[noreturn]] void error(const char* msg) { fail("{}: invalid JSON at byte {}: {}", what, p, msg); }
  void ws() {
    while (p < t.size() && (t[p] == ' ' || t[p] == '\n' || t[p] == '\r' || t[p] == '\t')) ++p;
  }
  bool lit(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (t.compare(p, n, word) != 0) return false;
    p += n;
    return true;
  }
  static void utf8(std::string& out, uint32_t c) {
    if (c < 0x80) {
      out += char(c);
    } else if (c < 0x800) {
      out += char(0xC0 | (c >> 6));
      out += char(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += char(0xE0 | (c >> 12));
      out += char(0x80 | ((c >> 6) & 0x3F));
      out += char(0x80 | (c & 0x3F));
    } else {
      out += char(0xF0 | (c >> 18));
      out += char(0x80 | ((c >> 12) & 0x3F));
      out += char(0x80 | ((c >> 6) & 0x3F));
      out += char(0x80 | (c & 0x3F));
    }
  }
  uint32_t hex4() {
    if (p + 4 > t.size()) error("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = t[p++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
      else error("bad hex digit in \\u escape");
    }
    return v;
  }
  std::string str() {
    if (p >= t.size() || t[p] != '"') error("expected a string");
    ++p;
    std::string out;
    while (true) {
      if (p >= t.size()) error("unterminated string");
      char c = t[p++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p >= t.size()) error("unterminated escape");
      char e = t[p++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t c1 = hex4();
          if (c1 >= 0xD800 && c1 < 0xDC00 && t.compare(p, 2, "\\u") == 0) {
            p += 2;
            uint32_t c2 = hex4();
            if (c2 < 0xDC00 || c2 >= 0xE000) error("bad UTF-16 surrogate pair");
            c1 = 0x10000 + ((c1 - 0xD800) << 10) + (c2 - 0xDC00);
          }
          utf8(out, c1);
          break;
        }
        default: error("unknown escape");
      }
    }
  }
  Json number() {
    size_t start = p;
    if (t[p] == '-') ++p;
    bool integral = true;
    while (p < t.size() && ((t[p] >= '0' && t[p] <= '9') || t[p] == '.' || t[p] == 'e' || t[p] == 'E' ||
                            t[p] == '+' || t[p] == '-')) {
      if (t[p] == '.' || t[p] == 'e' || t[p] == 'E') integral = false;
      ++p;
    }
    std::string tok = t.substr(start, p - start);
    if (tok.empty() || tok == "-") error("expected a number");
    Json j;
    char* end = nullptr;
    if (integral) {
      errno = 0;
      j.kind = Json::Kind::integer;
      j.i = std::strtoll(tok.c_str(), &end, 10);
      if (errno != 0) error("integer out of range");
      j.d = double(j.i);
    } else {
      j.kind = Json::Kind::number;
      j.d = std::strtod(tok.c_str(), &end);
    }
    if (end != tok.c_str() + tok.size()) error("malformed number");
    return j;
  }
  Json value() {
    if (++depth > 64) error("nested too deeply");
    ws();
    if (p >= t.size()) error("unexpected end of input");
    Json j;
    char c = t[p];
    if (c == '{') {
      ++p;
      j.kind = Json::Kind::object;
      ws();
      if (p < t.size() && t[p] == '}') {
        ++p;
      } else {
        while (true) {
          ws();
          std::string k = str();
          ws();
          if (p >= t.size() || t[p] != ':') error("expected ':'");
          ++p;
          j.members.emplace_back(std::move(k), value());
          ws();
          if (p < t.size() && t[p] == ',') { ++p; continue; }
          if (p < t.size() && t[p] == '}') { ++p; break; }
          error("expected ',' or '}'");
        }
      }
    } else if (c == '[') {
      ++p;
      j.kind = Json::Kind::array;
      ws();
      if (p < t.size() && t[p] == ']') {
        ++p;
      } else {
        while (true) {
          j.items.push_back(value());
          ws();
          if (p < t.size() && t[p] == ',') { ++p; continue; }
          if (p < t.size() && t[p] == ']') { ++p; break; }
          error("expected ',' or ']'");
        }
      }
    } else if (c == '"') {
      j.kind = Json::Kind::string;
      j.s = str();
    } else if (lit("true")) {
      j.kind = Json::Kind::boolean;
      j.b = true;
    } else if (lit("false")) {
      j.kind = Json::Kind::boolean;
    } else if (lit("null")) {
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      j = number();
    } else {
      error("unexpected character");
    }
    --depth;
    return j;
  }
};

}  // namespace

Json parse_json(const std::string& text, const std::string& what) {
  Parser ps{text, what};
  Json j = ps.value();
  ps.ws();
  if (ps.p != text.size()) ps.error("trailing characters after the document");
  return j;
}

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace moco::nn
