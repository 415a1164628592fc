// Model speed and time-to-accuracy benchmarks.
#include "bench/bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/system.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "models/builder.h"
#include "models/zoo.h"
#include "train/evaluate.h"
#include "train/fused_adam.h"
#include "train/options.h"
#include "train/precision.h"
#include "train/runtime.h"
#include "train/schedule.h"

namespace digitlab::bench {

// The fastest published one-epoch MNIST recipe's shape (5x5 then 3x3 valid convolutions, 256
// dense units) with 32 and 64 filters instead of 24 and 32: one epoch of one-cycle Adam ends at
// 99.12-99.16% (seeds 1, 2) where the narrower net ends at 98.90-99.10%. No batch norm: LibTorch
// 1.13 trains it slowly on channels_last tensors (one BN layer: 11.5k -> 3.9k images/s).
const char* const kFastArch = "C32k5v-P-C64v-P-256-10";

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A zoo name, or else a spec. Returns the spec text; throws core::UsageError for neither.
std::string resolve_arch(const std::string& name_or_spec) {
  for (const auto& e : models::zoo()) {
    if (e.name == name_or_spec) return e.spec;
  }
  models::parse_spec(name_or_spec);  // throws a message pointing at the bad token
  return name_or_spec;
}

struct ModelFigures {
  double train_ips = 0, infer_ips = 0, latency_median_us = 0, latency_p90_us = 0, peak_mib = 0;
};

ModelFigures measure(const models::ArchSpec& spec, const train::PrecisionChoice& precision,
                     const torch::Device& device, const ModelBenchOptions& o,
                     const data::TensorSplit& train_split, const data::TensorSplit& test) {
  ModelFigures f;
  const bool bf16 = precision.precision == train::Precision::kBf16;
  const data::Normalization norm = data::make_normalization("standard", train_split.images);
  {
    torch::manual_seed(1);
    auto net = models::build_network(spec);
    net->to(device);
    const bool channels_last = train::use_channels_last(net);
    net->train();
    train::FusedAdam adam(net->parameters(), torch::optim::AdamOptions(1e-3));
    data::LoaderOptions lo;
    lo.batch_size = o.batch_size;
    lo.normalization = norm;
    data::Loader loader(train_split, lo);
    constexpr int kWarmup = 30;
    int step = 0;
    int64_t images = 0;
    Clock::time_point t0;
    for (int64_t epoch = 1; step < kWarmup + o.steps; ++epoch) {
      loader.start_epoch(epoch);
      while (auto b = loader.next()) {
        if (step == kWarmup) t0 = Clock::now();
        auto x = train::to_network_input(b->x, channels_last, device);
        auto y = b->y.to(device);
        // item(): the step is done (a GPU would otherwise still be running it).
        train::train_step(net, adam, spec.head, x, y, bf16, device).loss.item<float>();
        if (step >= kWarmup) images += y.size(0);
        if (++step == kWarmup + o.steps) break;
      }
    }
    f.train_ips = double(images) / since(t0);
  }
  {
    torch::manual_seed(1);
    auto net = models::build_network(spec);
    net->to(device);
    train::prepare_for_inference(net, precision.precision);
    const torch::Tensor x = data::to_input(test.images, norm);
    const int64_t kBatch = std::min<int64_t>(1000, x.size(0));
    train::infer(net, x.narrow(0, 0, kBatch));  // warm-up: oneDNN builds its kernels once
    const auto t0 = Clock::now();
    int64_t images = 0;
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t s = 0; s + kBatch <= x.size(0); s += kBatch) {
        train::infer(net, x.narrow(0, s, kBatch));
        images += kBatch;
      }
    }
    f.infer_ips = double(images) / since(t0);
    constexpr int kWarm = 50, kRuns = 1000;
    std::vector<double> us;
    us.reserve(kRuns);
    for (int i = 0; i < kWarm + kRuns; ++i) {
      const auto one = x.narrow(0, i % x.size(0), 1);
      const auto t = Clock::now();
      train::infer(net, one);
      if (i >= kWarm) us.push_back(1e6 * since(t));
    }
    std::sort(us.begin(), us.end());
    f.latency_median_us = us[us.size() / 2];
    f.latency_p90_us = us[us.size() * 9 / 10];
  }
  f.peak_mib = core::peak_rss_mib();
  return f;
}

// What this machine's fp32 matrix multiply reaches on the configured threads (GFLOP/s): the
// yardstick for "how close to the machine" a network's training runs. The product is a 1x1
// convolution (256 to 256 channels over 8 images of 32x32, channels_last): oneDNN's kernels on
// torch's threads, as the networks' convolutions run. (A torch::mm runs in OpenBLAS, which
// digitlab keeps to one thread.) Timed for about half a second after one warm-up.
double matmul_probe_gflops(const torch::Device& device) {
  // 8 MiB in and out: small enough to leave the peak memory column to the models.
  constexpr int64_t kBatch = 8, kChannels = 256, kSide = 32;
  torch::NoGradGuard no_grad;
  const auto opts = torch::TensorOptions().device(device);
  const torch::Tensor x = torch::rand({kBatch, kChannels, kSide, kSide}, opts)
                              .contiguous(at::MemoryFormat::ChannelsLast);
  const torch::Tensor w =
      torch::rand({kChannels, kChannels, 1, 1}, opts).contiguous(at::MemoryFormat::ChannelsLast);
  auto once = [&] {
    const torch::Tensor y = torch::conv2d(x, w);
    if (device.is_cuda()) y.flatten()[0].item<float>();  // the product is done
  };
  once();
  int rounds = 0;
  const auto t0 = Clock::now();
  while (since(t0) < 0.5) {
    once();
    ++rounds;
  }
  const double flops = 2.0 * double(kBatch * kSide * kSide) * double(kChannels * kChannels);
  return flops * rounds / since(t0) / 1e9;
}

// "95 (48%)": GFLOP/s and their share of the probe's.
std::string gflops_text(double gflops, double peak) {
  char text[48];
  std::snprintf(text, sizeof text, "%.0f (%.0f%%)", gflops, 100 * gflops / peak);
  return text;
}

// The same bounds as train's, so a batch size that trains can be benchmarked.
void check_batch_size(int64_t batch_size) {
  if (batch_size < 1 || batch_size > train::kMaxBatchSize) {
    throw core::UsageError("--batch-size: must be 1 to " + std::to_string(train::kMaxBatchSize));
  }
}

}  // namespace

int model_bench_command(const ModelBenchOptions& o) {
  if (o.steps < 1) throw core::UsageError("--steps: must be 1 or more");
  check_batch_size(o.batch_size);
  const int threads = train::configure_threads(o.threads);
  const torch::Device device = train::choose_device(o.device);
  std::vector<std::pair<std::string, models::ArchSpec>> nets;
  for (const auto& m : o.models) {
    models::ArchSpec spec = models::parse_spec(resolve_arch(m));
    if (spec.is_knn()) throw core::UsageError("--model: " + m + " has no training step to time");
    nets.emplace_back(m, spec);
  }
  const auto& info = data::find_dataset("mnist");
  const data::TensorSplit train_split =
      data::to_tensors(data::load_raw_split(o.data_root, info, data::Split::kTrain));
  const data::TensorSplit test =
      data::to_tensors(data::load_raw_split(o.data_root, info, data::Split::kTest));
  if (test.size() == 0) throw core::RuntimeError("bench: the MNIST test split is empty");

  nlohmann::json results = nlohmann::json::array();
  const double peak = matmul_probe_gflops(device);
  if (!o.json) {
    std::printf("%s, %d threads, %s; batch %lld for training, 1000 for inference\n",
                core::cpu_model_name().c_str(), threads, device.str().c_str(),
                static_cast<long long>(o.batch_size));
    std::printf(
        "fp32 matrix multiply (a 1x1 convolution, 256 to 256 channels) on these threads: "
        "%.0f GFLOP/s\n",
        peak);
    std::printf("%-22s %-9s %14s %14s %12s %10s %10s %16s\n", "model", "precision", "train img/s",
                "infer img/s", "batch-1 us", "p90 us", "peak MiB", "train GFLOP/s");
  }
  for (const auto& [name, spec] : nets) {
    for (const auto& p : o.precisions) {
      const train::PrecisionChoice choice = train::choose_precision(p, spec, device);
      ModelFigures f;
      try {
        f = measure(spec, choice, device, o, train_split, test);
      } catch (const c10::Error& e) {
        throw core::RuntimeError(name + " (" + choice.name + "): benchmark failed (" +
                                 core::one_line(e.what_without_backtrace()) + ")");
      }
      // 2 FLOPs a multiply-add; a training step about 3x the forward's.
      const double forward_flops = 2.0 * double(models::summarize(spec).multiply_adds);
      const double train_gflops = 3 * forward_flops * f.train_ips / 1e9;
      const double infer_gflops = forward_flops * f.infer_ips / 1e9;
      results.push_back({{"model", name},
                         {"spec", models::to_string(spec)},
                         {"precision", choice.name},
                         {"precision_reason", choice.reason},
                         {"train_images_per_second", f.train_ips},
                         {"infer_images_per_second", f.infer_ips},
                         {"latency_median_us", f.latency_median_us},
                         {"latency_p90_us", f.latency_p90_us},
                         {"peak_rss_mib", f.peak_mib},
                         {"forward_flops_per_image", forward_flops},
                         {"train_gflops", train_gflops},
                         {"train_share_of_matmul", train_gflops / peak},
                         {"infer_gflops", infer_gflops}});
      if (!o.json) {
        std::printf("%-22s %-9s %14.0f %14.0f %12.0f %10.0f %10.0f %16s\n", name.c_str(),
                    choice.name.c_str(), f.train_ips, f.infer_ips, f.latency_median_us,
                    f.latency_p90_us, f.peak_mib, gflops_text(train_gflops, peak).c_str());
        std::fflush(stdout);
      }
    }
  }
  if (o.json) {
    nlohmann::json doc = {{"machine", core::cpu_model_name()},
                          {"threads", threads},
                          {"device", device.str()},
                          {"batch_size", o.batch_size},
                          {"steps", o.steps},
                          {"matmul_gflops", peak},
                          {"results", results}};
    std::cout << doc.dump(2) << "\n";
  } else {
    std::printf(
        "peak MiB is the process's peak resident memory so far (it only grows); train GFLOP/s "
        "counts 3x the forward's multiply-adds (convolutions and dense layers) at 2 FLOPs each, "
        "and its share of the matrix multiply's above\n");
  }
  return 0;
}

int time_to_accuracy_command(const TimeToAccuracyOptions& o) {
  if (!(o.target > 0 && o.target <= 1)) throw core::UsageError("--target: must be in (0, 1]");
  if (o.epochs < 1 || o.epochs > 1000) throw core::UsageError("--epochs: must be 1 to 1000");
  if (o.evals_per_epoch < 1) throw core::UsageError("--evals-per-epoch: must be 1 or more");
  if (o.eval_from < 1 || o.eval_from > o.epochs) {
    throw core::UsageError("--eval-from: must be 1 to --epochs (" + std::to_string(o.epochs) + ")");
  }
  check_batch_size(o.batch_size);
  if (!(o.lr > 0 && o.lr < 100)) throw core::UsageError("--lr: must be above 0 and below 100");
  if (!(o.label_smoothing >= 0 && o.label_smoothing < 1)) {
    throw core::UsageError("--label-smoothing: must be in [0, 1)");
  }
  const int threads = train::configure_threads(o.threads);
  const torch::Device device = train::choose_device(o.device);
  const std::string arch = o.arch.empty() ? std::string(kFastArch) : resolve_arch(o.arch);
  const models::ArchSpec spec = models::parse_spec(arch);
  if (spec.is_knn()) throw core::UsageError("--arch: k-nearest neighbours does not train");
  const train::PrecisionChoice precision = train::choose_precision(o.precision, spec, device);
  const bool bf16 = precision.precision == train::Precision::kBf16;

  const auto& info = data::find_dataset("mnist");
  const data::TensorSplit train_split =
      data::to_tensors(data::load_raw_split(o.data_root, info, data::Split::kTrain));
  const data::TensorSplit test =
      data::to_tensors(data::load_raw_split(o.data_root, info, data::Split::kTest));
  const data::Normalization norm = data::make_normalization("standard", train_split.images);

  torch::manual_seed(o.seed);
  auto net = models::build_network(spec);
  net->to(device);
  const bool channels_last = train::use_channels_last(net);
  train::FusedAdam adam(net->parameters(), torch::optim::AdamOptions(o.lr));
  data::LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.seed = o.seed;
  lo.augment = data::parse_augment(o.augment);
  lo.normalization = norm;
  data::Loader loader(train_split, lo);
  const int64_t per_epoch = loader.batches_per_epoch();
  const int64_t total = per_epoch * o.epochs;
  if (!o.json) {
    std::printf(
        "time to %.2f%% test accuracy: %s, batch %lld, Adam one-cycle to lr %g over %d "
        "epoch(s), label smoothing %g, %s evaluation, %d threads, %s %s (%s)\n",
        100 * o.target, models::to_string(spec).c_str(), static_cast<long long>(o.batch_size), o.lr,
        o.epochs, o.label_smoothing, o.tta ? "TTA" : "plain", threads, device.str().c_str(),
        precision.name.c_str(), precision.reason.c_str());
  }

  nlohmann::json evals = nlohmann::json::array();
  bool reached = false;
  double reached_at = 0, best = 0;
  int64_t step = 0;
  const auto t0 = Clock::now();
  for (int epoch = 1; epoch <= o.epochs && !reached; ++epoch) {
    loader.start_epoch(epoch);
    net->train();
    int64_t b = 0;
    while (auto batch = loader.next()) {
      for (auto& g : adam.param_groups()) {
        g.options().set_lr(train::scheduled_lr("onecycle", o.lr, step, total));
      }
      auto x = train::to_network_input(batch->x, channels_last, device);
      auto y = batch->y.to(device);
      train::train_step(net, adam, spec.head, x, y, bf16, device, nullptr, o.label_smoothing);
      ++step, ++b;
      // Evaluations evenly spaced through the epoch, the last at its end.
      const bool eval_now =
          (b * o.evals_per_epoch) / per_epoch > ((b - 1) * o.evals_per_epoch) / per_epoch;
      if (!eval_now || epoch < o.eval_from) continue;
      double acc;
      {
        train::AutocastScope autocast(bf16, device);
        acc = train::predict_split(net, spec.head, test.images, test.labels, norm, 1000, o.tta)
                  .accuracy;
      }
      const double at = since(t0);
      best = std::max(best, acc);
      evals.push_back({{"step", step},
                       {"epoch", double(step) / double(per_epoch)},
                       {"seconds", at},
                       {"test_accuracy", acc}});
      if (!o.json) {
        std::printf("  epoch %.2f  step %lld  %.2f s  test accuracy %.2f%%\n",
                    double(step) / double(per_epoch), static_cast<long long>(step), at, 100 * acc);
        std::fflush(stdout);
      }
      if (acc >= o.target) {
        reached = true;
        reached_at = at;
        break;
      }
    }
  }
  const double process_seconds = core::process_age_seconds();
  if (o.json) {
    nlohmann::json doc = {{"target", o.target},
                          {"reached", reached},
                          {"seconds_to_target", reached ? nlohmann::json(reached_at) : nullptr},
                          {"process_seconds", process_seconds},
                          {"best_test_accuracy", best},
                          {"spec", models::to_string(spec)},
                          {"batch_size", o.batch_size},
                          {"lr", o.lr},
                          {"epochs", o.epochs},
                          {"eval_from", o.eval_from},
                          {"augment", data::to_string(lo.augment)},
                          {"label_smoothing", o.label_smoothing},
                          {"tta", o.tta},
                          {"precision", precision.name},
                          {"device", device.str()},
                          {"threads", threads},
                          {"peak_rss_mib", core::peak_rss_mib()},
                          {"evaluations", evals}};
    std::cout << doc.dump(2) << "\n";
  } else if (reached) {
    std::printf("reached %.2f%% in %.2f s from the first step; %.2f s since the process started\n",
                100 * o.target, reached_at, process_seconds);
  } else {
    std::printf("target %.2f%% not reached: best %.2f%% (process %.2f s)\n", 100 * o.target,
                100 * best, process_seconds);
  }
  return reached ? 0 : 1;
}

}  // namespace digitlab::bench
