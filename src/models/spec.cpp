// Architecture spec parsing, printing and shape checking.
#include "models/spec.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <locale>
#include <map>
#include <sstream>

#include "core/error.h"

namespace digitlab::models {
namespace {

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
    case LayerKind::kResidual:
      return body == o.body;
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

namespace {

// Splits `part` at the '-' outside parentheses, so a block's inner tokens stay in its token.
std::vector<std::string> split_tokens(const std::string& part) {
  std::vector<std::string> toks(1);
  int depth = 0;
  for (char c : part) {
    if (c == '-' && depth == 0) {
      toks.emplace_back();
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')' && depth > 0) --depth;
    toks.back() += c;
  }
  return toks;
}

// The parser of one spec; `where` is a token's path ("3", or "2.3" inside the block of token 2).
class SpecParser {
 public:
  explicit SpecParser(const std::string& text) : text_(text) {}

  [[noreturn]] void fail(const std::string& where, const std::string& tok,
                         const std::string& why) const {
    throw core::UsageError("arch spec '" + text_ + "': token " + where + " '" + tok + "': " + why);
  }

  // A layer token (not a head); `depth` > 0 inside a block.
  Layer layer(const std::string& where, const std::string& t, int depth) const;

  // The inside of R(...) at `where`: its layers, checked to keep the image size.
  std::vector<Layer> block(const std::string& where, const std::string& t, int depth) const;

 private:
  const std::string& text_;
};

std::vector<Layer> SpecParser::block(const std::string& where, const std::string& t,
                                     int depth) const {
  if (t.size() < 2 || t[1] != '(') fail(where, t, "a residual block wants R(<layers>)");
  int open = 0;
  size_t close = std::string::npos;
  for (size_t i = 1; i < t.size() && close == std::string::npos; ++i) {
    if (t[i] == '(') ++open;
    if (t[i] == ')' && --open == 0) close = i;
  }
  if (close == std::string::npos) fail(where, t, "unclosed '(' of a residual block");
  if (close + 1 != t.size()) fail(where, t, "text after the residual block's ')'");
  if (depth >= kMaxBlockDepth) {
    fail(where, t, "residual blocks nest at most " + std::to_string(kMaxBlockDepth) + " deep");
  }
  const std::string inner = t.substr(2, close - 2);
  if (inner.empty()) fail(where, t, "empty residual block");
  const std::vector<std::string> toks = split_tokens(inner);
  std::vector<Layer> body;
  bool has_conv = false;
  for (size_t i = 0; i < toks.size(); ++i) {
    const std::string w = where + "." + std::to_string(i + 1);
    const std::string& tok = toks[i];
    if (tok.empty()) fail(w, tok, "empty token (two '-' in a row, or one at an end)");
    if (tok == "softmax" || tok == "logsoftmax" || tok == "svm") {
      fail(w, tok, "an output head cannot go inside a residual block");
    }
    Layer l = layer(w, tok, depth + 1);
    switch (l.kind) {
      case LayerKind::kPool:
        fail(w, tok,
             "a pool cannot go inside a residual block, which keeps the image size "
             "(put it after the block)");
      case LayerKind::kDense:
        fail(w, tok, "a dense layer cannot go inside a residual block");
      case LayerKind::kActivation:
        fail(w, tok,
             "an activation token cannot go inside a residual block (the block uses "
             "the activation in force before it)");
      case LayerKind::kKnn:
        fail(w, tok, "knn<K> must be the whole spec");
      case LayerKind::kConv:
        if (!l.same) {
          fail(w, tok,
               "a 'valid' conv cannot go inside a residual block, which keeps the image "
               "size");
        }
        has_conv = true;
        break;
      case LayerKind::kResidual:
        has_conv = true;
        break;
      case LayerKind::kBatchNorm:
      case LayerKind::kDropout:
        break;
    }
    body.push_back(std::move(l));
  }
  if (!has_conv) fail(where, t, "a residual block needs a conv (or a block) inside");
  return body;
}

Layer SpecParser::layer(const std::string& where, const std::string& t, int depth) const {
  Layer l;
  if (t.find_first_of("()") != std::string::npos && t[0] != 'R') {
    fail(where, t, "parentheses only enclose a residual block's layers: R(<layers>)");
  }
  if (t.rfind("knn", 0) == 0) {
    l.kind = LayerKind::kKnn;
    if (!parse_count(t.substr(3), l.units) || l.units > 1000) {
      fail(where, t, "k-nearest neighbours wants knn<K> with K from 1 to 1000");
    }
  } else if (t == "relu" || t == "tanh" || t == "sigmoid") {
    l.kind = LayerKind::kActivation;
    l.activation = t == "relu"   ? Activation::kRelu
                   : t == "tanh" ? Activation::kTanh
                                 : Activation::kSigmoid;
  } else if (t == "BN") {
    l.kind = LayerKind::kBatchNorm;
  } else if (all_digits(t)) {
    l.kind = LayerKind::kDense;
    if (!parse_count(t, l.units)) fail(where, t, "dense units must be 1 to 999999");
  } else if (t[0] == 'R') {
    l.kind = LayerKind::kResidual;
    l.body = block(where, t, depth);
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
      fail(where, t, "conv wants C<filters>[k<size>][s|v], e.g. C32, C32k5, C32v");
    }
    if (k != std::string::npos) {
      const std::string ks = rest.substr(k + 1);
      if (!parse_count(ks, l.kernel) || l.kernel > 31) {
        fail(where, t, "conv kernel size must be 1 to 31");
      }
      if (l.same && l.kernel % 2 == 0) {
        fail(where, t, "'same' padding needs an odd kernel size; add 'v' for valid");
      }
    }
  } else if (t[0] == 'P') {
    l.kind = LayerKind::kPool;
    l.kernel = 2;
    if (t.size() > 1 && (!parse_count(t.substr(1), l.kernel) || l.kernel > 28)) {
      fail(where, t, "pool wants P or P<size> with size 1 to 28");
    }
  } else if (t[0] == 'D') {
    l.kind = LayerKind::kDropout;
    const std::string r = t.substr(1);
    char* end = nullptr;
    l.rate = std::strtod(r.c_str(), &end);
    if (r.empty() || *end != '\0' || !(l.rate >= 0.0 && l.rate < 1.0)) {
      fail(where, t, "dropout wants D<rate> with 0 <= rate < 1, e.g. D0.25");
    }
  } else {
    fail(where, t,
         "unknown token (expected C<filters>, P, <units>, D<rate>, BN, R(<layers>), relu, tanh, "
         "sigmoid, softmax, logsoftmax, svm, or knn<K> alone)");
  }
  return l;
}

}  // namespace

ArchSpec parse_spec(const std::string& text) {
  if (text.empty()) throw core::UsageError("arch spec is empty");
  const std::vector<std::string> toks = split_tokens(text);
  const SpecParser parser(text);
  ArchSpec spec;
  for (size_t i = 0; i < toks.size(); ++i) {
    const std::string& t = toks[i];
    const std::string where = std::to_string(i + 1);
    const bool last = i + 1 == toks.size();
    if (t.empty()) parser.fail(where, t, "empty token (two '-' in a row, or one at an end)");
    if (t == "softmax" || t == "logsoftmax" || t == "svm" || (t == "sigmoid" && last && i > 0)) {
      if (!last) parser.fail(where, t, "an output head must be the last token");
      if (spec.layers.empty() || spec.layers.back().kind != LayerKind::kDense) {
        parser.fail(where, t, "an output head must follow the dense output layer");
      }
      spec.head = t == "softmax"      ? Head::kSoftmax
                  : t == "logsoftmax" ? Head::kLogSoftmax
                  : t == "svm"        ? Head::kSvm
                                      : Head::kSigmoid;
      continue;
    }
    Layer l = parser.layer(where, t, 0);
    if (l.kind == LayerKind::kKnn && toks.size() != 1) {
      parser.fail(where, t, "knn<K> must be the whole spec");
    }
    spec.layers.push_back(std::move(l));
  }
  if (!spec.is_knn() && (spec.layers.empty() || spec.layers.back().kind != LayerKind::kDense)) {
    parser.fail(std::to_string(toks.size()), toks.back(),
                "the spec must end with a dense output layer");
  }
  return spec;
}

namespace {

std::string layers_text(const std::vector<Layer>& layers);

std::string layer_text(const Layer& l) {
  switch (l.kind) {
    case LayerKind::kConv: {
      std::string t = "C" + std::to_string(l.units);
      if (l.kernel != 3) t += "k" + std::to_string(l.kernel);
      if (!l.same) t += "v";
      return t;
    }
    case LayerKind::kPool:
      return l.kernel == 2 ? "P" : "P" + std::to_string(l.kernel);
    case LayerKind::kDense:
      return std::to_string(l.units);
    case LayerKind::kDropout:
      return "D" + format_rate(l.rate);
    case LayerKind::kBatchNorm:
      return "BN";
    case LayerKind::kActivation:
      return activation_name(l.activation);
    case LayerKind::kKnn:
      return "knn" + std::to_string(l.units);
    case LayerKind::kResidual:
      return "R(" + layers_text(l.body) + ")";
  }
  return "?";
}

std::string layers_text(const std::vector<Layer>& layers) {
  std::string out;
  for (const Layer& l : layers) out += (out.empty() ? "" : "-") + layer_text(l);
  return out;
}

}  // namespace

std::string to_string(const ArchSpec& spec) {
  std::string out = layers_text(spec.layers);
  if (spec.head != Head::kSoftmax)
    out += std::string(out.empty() ? "" : "-") + head_name(spec.head);
  return out;
}

namespace {

// Walks layers over the input shape, checking that each fits and adding its rows to a summary.
class ShapeWalker {
 public:
  ShapeWalker(const ArchSpec& spec, InputShape in, ModelSummary& out)
      : text_(to_string(spec)), out_(out), c_(in.channels), h_(in.height), w_(in.width) {}

  // Adds the rows of `layers` (paths `prefix` + 1, 2, ...) at `depth`; returns their parameters.
  int64_t walk(const std::vector<Layer>& layers, const std::string& prefix, int depth);

  [[noreturn]] void bad(const std::string& where, const std::string& why) const {
    throw core::UsageError("arch spec '" + text_ + "': layer " + where + ": " + why);
  }
  // Checked arithmetic: thousands of wide layers (a spec of ~100 KB) overflowed int64, undefined
  // behaviour that UBSan showed on a spec built to go past fuzz_spec's 4 KiB inputs.
  int64_t mul(const std::string& where, int64_t a, int64_t b) const {
    int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) bad(where, "the parameter count overflows 64 bits");
    return r;
  }
  int64_t add(const std::string& where, int64_t a, int64_t b) const {
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) bad(where, "the parameter count overflows 64 bits");
    return r;
  }
  int64_t features() const { return flat_ ? features_ : 0; }
  void macs(const std::string& where, int64_t n) {
    out_.multiply_adds = add(where, out_.multiply_adds, n);
  }

 private:
  // A row named after its type's Keras name and how many of that type came before ("dense_2").
  size_t row(const std::string& keras, const std::string& type, int depth, int64_t params) {
    SummaryRow r;
    r.name = keras + "_" + std::to_string(++counts_[keras]);
    r.type = type;
    r.shape = flat_ ? std::vector<int64_t>{features_} : std::vector<int64_t>{c_, h_, w_};
    r.parameters = params;
    r.depth = depth;
    out_.rows.push_back(std::move(r));
    return out_.rows.size() - 1;
  }
  int64_t residual(const Layer& l, const std::string& where, int depth);

  std::string text_;
  ModelSummary& out_;
  int64_t c_, h_, w_;
  bool flat_ = false;
  int64_t features_ = 0;  // once flat
  std::map<std::string, int> counts_;
};

int64_t ShapeWalker::residual(const Layer& l, const std::string& where, int depth) {
  if (flat_) bad(where, "a residual block cannot follow a dense layer");
  const int64_t in_channels = c_;
  const size_t index = row("residual", "Residual", depth, 0);
  int64_t params = walk(l.body, where + ".", depth + 1);
  if (c_ != in_channels) {  // the shortcut projects x to the block's channel count
    const int64_t p = add(where, mul(where, in_channels, c_), c_);
    macs(where, mul(where, mul(where, h_, w_), p - c_));
    row("conv2d", "Conv2D 1x1 shortcut", depth + 1, p);
    params = add(where, params, p);
  }
  out_.rows[index].shape = {c_, h_, w_};
  out_.rows[index].parameters = params;
  return params;
}

int64_t ShapeWalker::walk(const std::vector<Layer>& layers, const std::string& prefix, int depth) {
  int64_t params = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    const std::string where = prefix + std::to_string(i + 1);
    int64_t p = 0;
    switch (l.kind) {
      case LayerKind::kConv:
        if (flat_) bad(where, "a conv layer cannot follow a dense layer");
        p = add(where, mul(where, mul(where, l.kernel * l.kernel, c_), l.units), l.units);
        c_ = l.units;
        if (!l.same) {
          h_ -= l.kernel - 1, w_ -= l.kernel - 1;
          if (h_ < 1 || w_ < 1) bad(where, "the 'valid' conv shrinks the image below 1x1");
        }
        macs(where, mul(where, mul(where, h_, w_), p - l.units));  // each output: its weights
        row("conv2d", "Conv2D", depth, p);
        break;
      case LayerKind::kPool:
        if (flat_) bad(where, "a pool layer cannot follow a dense layer");
        h_ /= l.kernel, w_ /= l.kernel;
        if (h_ < 1 || w_ < 1) bad(where, "pooling shrinks the image below 1x1");
        row("max_pooling2d", "MaxPooling2D", depth, 0);
        break;
      case LayerKind::kDense:
        if (!flat_) {
          features_ = mul(where, mul(where, c_, h_), w_), flat_ = true;
          row("flatten", "Flatten", depth, 0);
        }
        p = add(where, mul(where, features_, l.units), l.units);
        macs(where, p - l.units);
        features_ = l.units;
        row("dense", "Dense", depth, p);
        break;
      case LayerKind::kBatchNorm:
        p = mul(where, 2, flat_ ? features_ : c_);
        out_.bn_statistics = add(where, out_.bn_statistics, p);
        row("batch_normalization", "BatchNormalization", depth, p);
        break;
      case LayerKind::kDropout:
        row("dropout", "Dropout", depth, 0);
        break;
      case LayerKind::kResidual:
        p = residual(l, where, depth);
        break;
      case LayerKind::kActivation:  // sets the activation of later layers; no layer of its own
      case LayerKind::kKnn:
        break;
    }
    params = add(where, params, p);
  }
  return params;
}

// 1234567 -> "1,234,567", as Keras prints counts.
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + ")";
}

}  // namespace

ModelSummary summarize(const ArchSpec& spec, int64_t num_classes, InputShape in) {
  ModelSummary s;
  s.input = in;
  s.head = spec.head;
  if (spec.is_knn()) {  // stores the training set, learns nothing
    s.rows.push_back({"knn_1", "KNearestNeighbours", {num_classes}, 0, 0});
    return s;
  }
  ShapeWalker walker(spec, in, s);
  s.total = walker.walk(spec.layers, "", 0);
  s.trainable = s.total;
  if (walker.features() != num_classes) {
    walker.bad(std::to_string(spec.layers.size()),
               "the output layer has " + std::to_string(walker.features()) +
                   " units but there are " + std::to_string(num_classes) + " classes");
  }
  return s;
}

int64_t count_parameters(const ArchSpec& spec, int64_t num_classes, InputShape in) {
  return summarize(spec, num_classes, in).total;
}

std::string format_summary(const ModelSummary& s) {
  std::vector<std::string> names, shapes, counts;
  size_t name_w = 12, shape_w = 12, count_w = 7;
  bool blocks = false;
  for (const SummaryRow& r : s.rows) {
    names.push_back(std::string(size_t(2 * r.depth), ' ') + r.name + " (" + r.type + ")");
    shapes.push_back(shape_text(r.shape));
    counts.push_back(with_commas(r.parameters));
    name_w = std::max(name_w, names.back().size());
    shape_w = std::max(shape_w, shapes.back().size());
    count_w = std::max(count_w, counts.back().size());
    blocks = blocks || r.type == "Residual";
  }
  auto pad = [](std::string t, size_t w) { return t + std::string(w - t.size() + 3, ' '); };
  const std::string rule(name_w + shape_w + count_w + 6, '=');
  std::string out = pad("Layer (type)", name_w) + pad("Output Shape", shape_w) +
                    std::string(count_w - 7, ' ') + "Param #\n" + rule + "\n";
  for (size_t i = 0; i < names.size(); ++i) {
    out += pad(names[i], name_w) + pad(shapes[i], shape_w) +
           std::string(count_w - counts[i].size(), ' ') + counts[i] + "\n";
  }
  out += rule + "\nTotal params: " + with_commas(s.total) +
         "\nTrainable params: " + with_commas(s.trainable) +
         "\nNon-trainable params: " + with_commas(s.non_trainable) +
         "\nMultiply-adds per image (forward): " + with_commas(s.multiply_adds) +
         "\nInput shape: " + shape_text({s.input.channels, s.input.height, s.input.width}) +
         "; output head: " + head_name(s.head) + "\n";
  if (blocks) out += "A Residual row counts the indented rows of its block.\n";
  out += "Batch normalization's running means and variances (" + with_commas(s.bn_statistics) +
         " values) are buffers, not parameters (Keras counts them as non-trainable).\n";
  return out;
}

}  // namespace digitlab::models
