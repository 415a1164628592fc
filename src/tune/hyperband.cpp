// Hyperband's brackets, in integer arithmetic where the paper's formulas allow it.
#include "tune/hyperband.h"

#include <algorithm>
#include <cmath>

namespace digitlab::tune {

std::vector<Bracket> hyperband_brackets(int max_epochs, int factor) {
  std::vector<Bracket> out;
  if (max_epochs < 1 || factor < 2) return out;
  // s_max: the largest s with factor^s <= max_epochs, counted rather than taken from log().
  int s_max = 0;
  for (long long p = factor; p <= max_epochs; p *= factor) ++s_max;
  for (int s = s_max; s >= 0; --s) {
    long long eta_s = 1;
    for (int i = 0; i < s; ++i) eta_s *= factor;
    Bracket b;
    b.s = s;
    // ceil((s_max + 1) * eta^s / (s + 1)) without floating point.
    b.configs = int(((s_max + 1) * eta_s + s) / (s + 1));
    long long keep = b.configs;
    long long eta_i = 1;
    for (int i = 0; i <= s; ++i) {
      Rung r;
      r.trials = int(keep);
      const double epochs = double(max_epochs) * double(eta_i) / double(eta_s);
      r.epochs = i == s ? max_epochs : std::max(1, int(std::lround(epochs)));
      if (r.trials < 1) break;
      b.rungs.push_back(r);
      keep /= factor;
      eta_i *= factor;
    }
    out.push_back(b);
  }
  return out;
}

int64_t hyperband_epochs(const std::vector<Bracket>& brackets) {
  int64_t total = 0;
  for (const auto& b : brackets) {
    int previous = 0;
    for (const auto& r : b.rungs) {
      total += int64_t(r.trials) * (r.epochs - previous);
      previous = r.epochs;
    }
  }
  return total;
}

int hyperband_configs(const std::vector<Bracket>& brackets) {
  int n = 0;
  for (const auto& b : brackets) n += b.configs;
  return n;
}

}  // namespace digitlab::tune
