// Architecture spec parsing, printing and shape checking.
#include "models/spec.h"

#include <cctype>
#include <cstdlib>
#include <locale>
#include <sstream>

#include "core/error.h"

namespace digitlab::models {
namespace {

[[noreturn]] void fail(const std::string& text, size_t index, const std::string& tok,
                       const std::string& why) {
  throw core::UsageError("arch spec '" + text + "': token " + std::to_string(index + 1) + " '" +
                         tok + "': " + why);
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Parses a positive integer (at most 6 digits, so sizes stay sane).
bool parse_count(const std::string& s, int64_t& out) {
  if (!all_digits(s) || s.size() > 6) return false;
  out = std::stoll(s);
  return out > 0;
}

// Rewrites a number below 1 in magnitude printed with an exponent as plain decimals, the same
// value: "5.9e-09" -> "0.0000000059". Anything else comes back unchanged.
std::string without_exponent(const std::string& g) {
  const size_t e = g.find('e');
  if (e == std::string::npos) return g;
  const int exp = std::atoi(g.c_str() + e + 1);
  if (exp >= 0) return g;
  std::string sign, digits;
  for (size_t i = 0; i < e; ++i) {
    if (g[i] == '-') sign = "-";
    if (std::isdigit(static_cast<unsigned char>(g[i]))) digits += g[i];
  }
  return sign + "0." + std::string(size_t(-exp - 1), '0') + digits;
}

// Shortest decimal that reads back (strtod, as parse_spec does) as exactly `r`, without an
// exponent, so printing is canonical. The stream default of 6 significant digits would turn
// D0.1234567 into D0.123457, a different rate, and print rates below 1e-4 as D1e-05, whose '-'
// splits the token so the printed spec would not parse (fuzz_spec's regress-dropout-rate-*).
std::string format_rate(double r) {
  std::string text;
  for (int digits = 6; digits <= 17; ++digits) {
    std::ostringstream os;
    os.imbue(std::locale::classic());
    os.precision(digits);
    os << r;
    text = os.str();
    if (std::strtod(text.c_str(), nullptr) == r) break;
  }
  return without_exponent(text);
}

}  // namespace

bool Layer::operator==(const Layer& o) const {
  if (kind != o.kind) return false;
  switch (kind) {
    case LayerKind::kConv:
      return units == o.units && kernel == o.kernel && same == o.same;
    case LayerKind::kPool:
      return kernel == o.kernel;
    case LayerKind::kDense:
      return units == o.units;
    case LayerKind::kDropout:
      return rate == o.rate;
    case LayerKind::kBatchNorm:
      return true;
    case LayerKind::kActivation:
      return activation == o.activation;
    case LayerKind::kKnn:
      return units == o.units;
  }
  return false;
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return "relu";
    case Activation::kTanh:
      return "tanh";
    case Activation::kSigmoid:
      return "sigmoid";
  }
  return "?";
}

void check_label_smoothing(const ArchSpec& spec, double label_smoothing) {
  if (label_smoothing == 0) return;
  if (spec.is_knn()) {
    throw core::UsageError("--label-smoothing: k-nearest neighbours has no training loss");
  }
  if (spec.head != Head::kSoftmax && spec.head != Head::kLogSoftmax) {
    throw core::UsageError(std::string("--label-smoothing: the ") + head_name(spec.head) +
                           " head has no smoothed loss (use a softmax or logsoftmax head)");
  }
}

const char* head_name(Head h) {
  switch (h) {
    case Head::kSoftmax:
      return "softmax";
    case Head::kLogSoftmax:
      return "logsoftmax";
    case Head::kSigmoid:
      return "sigmoid";
    case Head::kSvm:
      return "svm";
  }
  return "?";
}

ArchSpec parse_spec(const std::string& text) {
  if (text.empty()) throw core::UsageError("arch spec is empty");
  std::vector<std::string> toks;
  size_t start = 0;
  while (true) {
    size_t dash = text.find('-', start);
    toks.push_back(
        text.substr(start, dash == std::string::npos ? std::string::npos : dash - start));
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  ArchSpec spec;
  for (size_t i = 0; i < toks.size(); ++i) {
    const std::string& t = toks[i];
    const bool last = i + 1 == toks.size();
    if (t.empty()) fail(text, i, t, "empty token (two '-' in a row, or one at an end)");
    Layer l;
    if (t == "softmax" || t == "logsoftmax" || t == "svm" || (t == "sigmoid" && last && i > 0)) {
      if (!last) fail(text, i, t, "an output head must be the last token");
      if (spec.layers.empty() || spec.layers.back().kind != LayerKind::kDense) {
        fail(text, i, t, "an output head must follow the dense output layer");
      }
      spec.head = t == "softmax"      ? Head::kSoftmax
                  : t == "logsoftmax" ? Head::kLogSoftmax
                  : t == "svm"        ? Head::kSvm
                                      : Head::kSigmoid;
      continue;
    }
    if (t.rfind("knn", 0) == 0) {
      l.kind = LayerKind::kKnn;
      if (!parse_count(t.substr(3), l.units) || l.units > 1000) {
        fail(text, i, t, "k-nearest neighbours wants knn<K> with K from 1 to 1000");
      }
      if (toks.size() != 1) fail(text, i, t, "knn<K> must be the whole spec");
    } else if (t == "relu" || t == "tanh" || t == "sigmoid") {
      l.kind = LayerKind::kActivation;
      l.activation = t == "relu"   ? Activation::kRelu
                     : t == "tanh" ? Activation::kTanh
                                   : Activation::kSigmoid;
    } else if (t == "BN") {
      l.kind = LayerKind::kBatchNorm;
    } else if (all_digits(t)) {
      l.kind = LayerKind::kDense;
      if (!parse_count(t, l.units)) fail(text, i, t, "dense units must be 1 to 999999");
    } else if (t[0] == 'C') {
      l.kind = LayerKind::kConv;
      std::string rest = t.substr(1);
      if (!rest.empty() && (rest.back() == 'v' || rest.back() == 's')) {
        l.same = rest.back() == 's';
        rest.pop_back();
      }
      const size_t k = rest.find('k');
      const std::string filters = rest.substr(0, k);
      if (!parse_count(filters, l.units)) {
        fail(text, i, t, "conv wants C<filters>[k<size>][s|v], e.g. C32, C32k5, C32v");
      }
      if (k != std::string::npos) {
        const std::string ks = rest.substr(k + 1);
        if (!parse_count(ks, l.kernel) || l.kernel > 31) {
          fail(text, i, t, "conv kernel size must be 1 to 31");
        }
        if (l.same && l.kernel % 2 == 0) {
          fail(text, i, t, "'same' padding needs an odd kernel size; add 'v' for valid");
        }
      }
    } else if (t[0] == 'P') {
      l.kind = LayerKind::kPool;
      l.kernel = 2;
      if (t.size() > 1 && (!parse_count(t.substr(1), l.kernel) || l.kernel > 28)) {
        fail(text, i, t, "pool wants P or P<size> with size 1 to 28");
      }
    } else if (t[0] == 'D') {
      l.kind = LayerKind::kDropout;
      const std::string r = t.substr(1);
      char* end = nullptr;
      l.rate = std::strtod(r.c_str(), &end);
      if (r.empty() || *end != '\0' || !(l.rate >= 0.0 && l.rate < 1.0)) {
        fail(text, i, t, "dropout wants D<rate> with 0 <= rate < 1, e.g. D0.25");
      }
    } else {
      fail(text, i, t,
           "unknown token (expected C<filters>, P, <units>, D<rate>, BN, relu, tanh, sigmoid, "
           "softmax, logsoftmax, svm, or knn<K> alone)");
    }
    spec.layers.push_back(l);
  }
  if (!spec.is_knn() && (spec.layers.empty() || spec.layers.back().kind != LayerKind::kDense)) {
    fail(text, toks.size() - 1, toks.back(), "the spec must end with a dense output layer");
  }
  return spec;
}

std::string to_string(const ArchSpec& spec) {
  std::string out;
  auto add = [&](const std::string& t) { out += (out.empty() ? "" : "-") + t; };
  for (const Layer& l : spec.layers) {
    switch (l.kind) {
      case LayerKind::kConv: {
        std::string t = "C" + std::to_string(l.units);
        if (l.kernel != 3) t += "k" + std::to_string(l.kernel);
        if (!l.same) t += "v";
        add(t);
        break;
      }
      case LayerKind::kPool:
        add(l.kernel == 2 ? "P" : "P" + std::to_string(l.kernel));
        break;
      case LayerKind::kDense:
        add(std::to_string(l.units));
        break;
      case LayerKind::kDropout:
        add("D" + format_rate(l.rate));
        break;
      case LayerKind::kBatchNorm:
        add("BN");
        break;
      case LayerKind::kActivation:
        add(activation_name(l.activation));
        break;
      case LayerKind::kKnn:
        add("knn" + std::to_string(l.units));
        break;
    }
  }
  if (spec.head != Head::kSoftmax) add(head_name(spec.head));
  return out;
}

int64_t count_parameters(const ArchSpec& spec, int64_t num_classes, InputShape in) {
  const std::string text = to_string(spec);
  auto bad = [&](size_t i, const std::string& why) {
    throw core::UsageError("arch spec '" + text + "': layer " + std::to_string(i + 1) + ": " + why);
  };
  // Checked arithmetic: thousands of wide layers (a spec of ~100 KB) overflowed int64, undefined
  // behaviour that UBSan showed on a spec built to go past fuzz_spec's 4 KiB inputs.
  auto mul = [&](size_t i, int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) bad(i, "the parameter count overflows 64 bits");
    return r;
  };
  auto add = [&](size_t i, int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) bad(i, "the parameter count overflows 64 bits");
    return r;
  };
  if (spec.is_knn()) return 0;  // stores the training set, learns nothing
  int64_t c = in.channels, h = in.height, w = in.width;
  bool flat = false;
  int64_t features = 0;  // once flat
  int64_t params = 0;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const Layer& l = spec.layers[i];
    switch (l.kind) {
      case LayerKind::kConv:
        if (flat) bad(i, "a conv layer cannot follow a dense layer");
        params = add(i, params, add(i, mul(i, mul(i, l.kernel * l.kernel, c), l.units), l.units));
        c = l.units;
        if (!l.same) {
          h -= l.kernel - 1, w -= l.kernel - 1;
          if (h < 1 || w < 1) bad(i, "the 'valid' conv shrinks the image below 1x1");
        }
        break;
      case LayerKind::kPool:
        if (flat) bad(i, "a pool layer cannot follow a dense layer");
        h /= l.kernel, w /= l.kernel;
        if (h < 1 || w < 1) bad(i, "pooling shrinks the image below 1x1");
        break;
      case LayerKind::kDense:
        if (!flat) features = mul(i, mul(i, c, h), w), flat = true;
        params = add(i, params, add(i, mul(i, features, l.units), l.units));
        features = l.units;
        break;
      case LayerKind::kBatchNorm:
        params = add(i, params, mul(i, 2, flat ? features : c));
        break;
      case LayerKind::kDropout:
      case LayerKind::kActivation:
      case LayerKind::kKnn:
        break;
    }
  }
  if (features != num_classes) {
    bad(spec.layers.size() - 1, "the output layer has " + std::to_string(features) +
                                    " units but there are " + std::to_string(num_classes) +
                                    " classes");
  }
  return params;
}

}  // namespace digitlab::models
