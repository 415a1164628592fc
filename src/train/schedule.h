// Learning-rate schedules as pure functions of the step; no torch.
#pragma once

#include <cstdint>
#include <string>

namespace digitlab::train {

// The learning rate of step `step` (from 0) out of `steps`, for a peak rate `lr`:
// - constant: lr throughout;
// - cosine: lr * (1 + cos(pi * step / steps)) / 2, from lr down to 0;
// - onecycle: PyTorch's OneCycleLR defaults: cosine warm-up from lr/25 to lr over the first 30%
//   of steps, then cosine annealing down to lr/25e4.
// Requires a known schedule name (options validate it); steps <= 0 gives lr.
double scheduled_lr(const std::string& schedule, double lr, int64_t step, int64_t steps);

}  // namespace digitlab::train
