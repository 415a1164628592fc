// Evaluation of a network over a split, and the `evaluate` command.
#include "train/evaluate.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "core/files.h"
#include "core/run_files.h"
#include "data/dataset.h"
#include "models/builder.h"
#include "train/checkpoint.h"
#include "train/precision.h"
#include "train/runtime.h"
#include "train/saliency.h"
#include "train/train_commands.h"

namespace digitlab::train {

torch::Tensor shift_images(const torch::Tensor& images_u8, int64_t dy, int64_t dx) {
  const int64_t h = images_u8.size(-2), w = images_u8.size(-1);
  const torch::Tensor padded =
      torch::constant_pad_nd(images_u8, {std::max<int64_t>(dx, 0), std::max<int64_t>(-dx, 0),
                                         std::max<int64_t>(dy, 0), std::max<int64_t>(-dy, 0)});
  return padded.narrow(-1, std::max<int64_t>(-dx, 0), w)
      .narrow(-2, std::max<int64_t>(-dy, 0), h)
      .contiguous();
}

SplitPredictions predict_split(torch::nn::Sequential& net, models::Head head,
                               const torch::Tensor& images_u8, const torch::Tensor& labels,
                               const data::Normalization& norm, int64_t batch_size, bool tta) {
  // The views test-time augmentation averages: the image and its one-pixel shifts.
  static const std::vector<std::pair<int64_t, int64_t>> kViews = {
      {0, 0}, {1, 0}, {-1, 0}, {0, 1}, {0, -1}};
  const bool was_training = net->is_training();
  net->eval();
  const int64_t n = images_u8.size(0);
  std::vector<torch::Tensor> probs;
  double loss_sum = 0;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t len = std::min(batch_size, n - start);
    const torch::Tensor images = images_u8.narrow(0, start, len);
    const torch::Tensor y = labels.narrow(0, start, len);
    if (!tta) {
      auto out = infer(net, data::to_input(images, norm));
      loss_sum += models::head_loss(head, out, y).item<double>() * double(len);
      probs.push_back(models::head_probabilities(head, out));
      continue;
    }
    torch::Tensor mean;
    for (const auto& [dy, dx] : kViews) {
      auto p = models::head_probabilities(
          head, infer(net, data::to_input(shift_images(images, dy, dx), norm)));
      mean = mean.defined() ? mean + p : p;
    }
    mean = mean / double(kViews.size());
    loss_sum += torch::nll_loss(mean.clamp_min(1e-12).log(), y).item<double>() * double(len);
    probs.push_back(mean);
  }
  if (was_training) net->train();
  SplitPredictions p;
  p.probabilities = n > 0 ? torch::cat(probs) : torch::empty({0, 0});
  p.predicted = n > 0 ? p.probabilities.argmax(1) : torch::empty({0}, torch::kInt64);
  p.loss = n > 0 ? loss_sum / double(n) : 0.0;
  p.accuracy = n > 0 ? p.predicted.eq(labels).sum().item<double>() / double(n) : 0.0;
  return p;
}

data::TensorSplit load_eval_split(const LoadedCheckpoint& ck, const std::string& split,
                                  const std::string& data_root, const data::DatasetInfo& info) {
  if (split == "test") {
    return data::to_tensors(data::load_raw_split(data_root, info, data::Split::kTest));
  }
  if (split != "val") {
    throw core::UsageError("--split: unknown split '" + split + "' (allowed: test, val)");
  }
  if (!ck.meta.members.is_null()) {
    throw core::UsageError("--split val: " + ck.path +
                           " is an ensemble, whose members each held out their own validation "
                           "images; evaluate it on the test split");
  }
  // Rebuild the run's own partition from the options stored in the checkpoint.
  const TrainOptions t = train_options_from_json(ck.meta.options);
  const data::TensorSplit all =
      data::to_tensors(data::load_raw_split(data_root, info, data::Split::kTrain), t.train_limit);
  const auto parts = data::partition(all, val_count_of(t.val_split, all.size()), split_seed_of(t),
                                     t.val_strategy, int(info.class_names.size()));
  if (parts.val.empty()) {
    throw core::UsageError("--split val: " + ck.path + " was trained without a validation split");
  }
  return data::subset(all, torch::tensor(torch::ArrayRef<int64_t>(parts.val), torch::kInt64));
}

namespace {

// The data set evaluate scores on: the run's own, or `o.dataset`, whose test split must hold
// 28x28 images of as many classes as the model has.
data::DatasetInfo eval_dataset(const LoadedCheckpoint& ck, const EvalOptions& o) {
  if (o.dataset.empty() || o.dataset == ck.meta.dataset) {
    return data::find_dataset(ck.meta.dataset, o.data_root);
  }
  if (o.split != "test") {
    throw core::UsageError("--split " + o.split +
                           ": only the run's own data set has it; --dataset " + o.dataset +
                           " is scored on its test split");
  }
  data::DatasetInfo info = data::find_dataset(o.dataset, o.data_root);
  if (info.class_names.size() != ck.meta.class_names.size()) {
    throw core::UsageError("--dataset " + o.dataset + ": has " +
                           std::to_string(info.class_names.size()) + " classes, the model " +
                           std::to_string(ck.meta.class_names.size()));
  }
  return info;
}

}  // namespace

SplitPredictions predict_checkpoint(LoadedCheckpoint& ck, const data::TensorSplit& split,
                                    int64_t batch_size, bool tta) {
  try {
    return predict_split(ck.net, ck.spec.head, split.images, split.labels, ck.meta.normalization,
                         batch_size, tta);
  } catch (const c10::Error& e) {
    throw core::RuntimeError(ck.path + ": evaluation failed (" +
                             core::one_line(e.what_without_backtrace()) + ")");
  }
}

namespace {

// The existing columns first, so readers of the four-column file keep working, then every
// class's probability.
std::string predictions_csv(const torch::Tensor& probs, const torch::Tensor& predicted,
                            const torch::Tensor& labels) {
  const int64_t k = probs.size(1);
  std::string out = "index,label,predicted,confidence";
  for (int64_t c = 0; c < k; ++c) out += ",p_" + std::to_string(c);
  out += "\n";
  auto l = labels.accessor<int64_t, 1>();
  auto pr = predicted.accessor<int64_t, 1>();
  auto p = probs.accessor<float, 2>();
  char buf[64];
  for (int64_t i = 0; i < labels.size(0); ++i) {
    std::snprintf(buf, sizeof(buf), "%lld,%lld,%lld,%.6f", static_cast<long long>(i),
                  static_cast<long long>(l[i]), static_cast<long long>(pr[i]), p[i][pr[i]]);
    out += buf;
    for (int64_t c = 0; c < k; ++c) {
      std::snprintf(buf, sizeof(buf), ",%.6g", p[i][c]);
      out += buf;
    }
    out += "\n";
  }
  return out;
}

// Which weights a checkpoint holds and why evaluate was given them, e.g. "best validation loss":
// after a long run the console shows the last epoch, while a run directory scores its best.
std::string checkpoint_choice(const LoadedCheckpoint& ck) {
  if (!ck.meta.members.is_null()) return "ensemble of " + std::to_string(ck.meta.members.size());
  // last.pt carries the resume state, except a k-NN's, which has none to carry.
  const std::string file = std::filesystem::path(ck.path).filename().string();
  if (!ck.meta.resume.is_null() || file == "last.pt") return "last epoch";
  try {
    const nlohmann::json& o = ck.meta.options;
    if (o.is_object() && o.value("val_split", 0.0) == 0.0) return "last epoch, no validation";
    const std::string monitor =
        o.is_object() ? o.value("/early_stopping/monitor"_json_pointer, std::string("val_loss"))
                      : std::string("val_loss");
    return monitor == "val_acc" ? "best validation accuracy" : "best validation loss";
  } catch (const nlohmann::json::exception&) {
    return "best validation loss";
  }
}

int planned_epochs(const LoadedCheckpoint& ck) {
  try {
    if (ck.meta.options.is_object()) return ck.meta.options.value("epochs", 0);
  } catch (const nlohmann::json::exception&) {
  }
  return 0;
}

nlohmann::json scores_json(const ClassScores& s) {
  return {{"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}, {"support", s.support}};
}

// The picked test images and their saliency as eval/<prefix>saliency.png. A network without
// gradients (k-NN, or one that fails inside torch) only loses the picture: one line on stderr.
void write_saliency(LoadedCheckpoint& ck, const data::TensorSplit& split, const SplitPredictions& p,
                    const std::string& path) {
  if (models::find_knn(ck.net)) return;
  const std::vector<int64_t> picks = saliency_picks(split.labels, p.predicted, 8);
  if (picks.empty()) return;
  const torch::Tensor idx = torch::tensor(torch::ArrayRef<int64_t>(picks), torch::kInt64);
  const torch::Tensor images = split.images.index_select(0, idx);
  const torch::Tensor predicted = p.predicted.index_select(0, idx);
  try {
    const torch::Tensor maps = saliency_maps(ck.net, images, predicted, ck.meta.normalization);
    std::vector<int64_t> labels(picks.size()), preds(picks.size());
    for (size_t i = 0; i < picks.size(); ++i) {
      labels[i] = split.labels[picks[i]].item<int64_t>();
      preds[i] = predicted[long(i)].item<int64_t>();
    }
    core::write_file_atomic(path, saliency_png(images, maps, labels, preds));
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "warning: %s: no saliency maps (%s)\n", ck.path.c_str(),
                 core::one_line(e.what_without_backtrace()).c_str());
  }
}

void print_report(const nlohmann::json& summary, const ConfusionMatrix& cm,
                  const data::DatasetInfo& info, const OneVsRest& curves) {
  const int k = cm.num_classes();
  std::printf("\nconfusion matrix (rows: true class, columns: predicted)\n      ");
  for (int j = 0; j < k; ++j) std::printf("%6d", j);
  std::printf("\n");
  for (int i = 0; i < k; ++i) {
    std::printf("  %2d  ", i);
    for (int j = 0; j < k; ++j) std::printf("%6lld", static_cast<long long>(cm.at(i, j)));
    std::printf("\n");
  }
  std::printf("\n  %-12s %9s %9s %9s %8s %9s %9s\n", "class", "precision", "recall", "f1",
              "support", "roc auc", "avg prec");
  for (int c = 0; c < k; ++c) {
    const ClassScores s = cm.scores(c);
    std::printf("  %-12s %9.4f %9.4f %9.4f %8lld %9.4f %9.4f\n",
                info.class_names[size_t(c)].c_str(), s.precision, s.recall, s.f1,
                static_cast<long long>(s.support), curves.roc[size_t(c)].auc,
                curves.pr[size_t(c)].average_precision);
  }
  const AveragedScores a = average_scores(cm);
  std::printf("\n  %-12s %9s %9s %9.4f %8lld\n", "accuracy", "", "", cm.accuracy(),
              static_cast<long long>(cm.total()));
  std::printf("  %-12s %9.4f %9.4f %9.4f %8lld %9.4f %9.4f\n", "macro avg", a.macro.precision,
              a.macro.recall, a.macro.f1, static_cast<long long>(a.macro.support),
              curves.macro_roc_auc, curves.macro_average_precision);
  std::printf("  %-12s %9.4f %9.4f %9.4f %8lld\n", "weighted avg", a.weighted.precision,
              a.weighted.recall, a.weighted.f1, static_cast<long long>(a.weighted.support));
  const std::string split = summary["split"].get<std::string>();
  std::printf("\n%s loss %.4f\n%s accuracy: %.2f%%\n", split.c_str(), summary["loss"].get<double>(),
              split.c_str(), 100 * cm.accuracy());
}

}  // namespace

int evaluate_command(const EvalOptions& o) {
  configure_threads(o.threads);
  LoadedCheckpoint ck = load_checkpoint(o.target);
  const torch::Device device = choose_device(o.device);
  const PrecisionChoice precision = choose_precision(o.precision, ck.spec, device);
  if (!models::find_knn(ck.net)) ck.net->to(device);
  prepare_for_inference(ck.net, precision.precision);
  const data::DatasetInfo info = eval_dataset(ck, o);
  const data::TensorSplit split = load_eval_split(ck, o.split, o.data_root, info);
  if (split.size() > 0 && (split.images.size(1) != 28 || split.images.size(2) != 28)) {
    throw core::UsageError("--dataset " + info.name + ": its images are " +
                           std::to_string(split.images.size(2)) + "x" +
                           std::to_string(split.images.size(1)) + " pixels; models take 28x28");
  }
  const SplitPredictions p = predict_checkpoint(ck, split, o.batch_size, o.tta);
  const int k = static_cast<int>(info.class_names.size());
  ConfusionMatrix cm(k);
  auto l = split.labels.accessor<int64_t, 1>();
  auto pr = p.predicted.accessor<int64_t, 1>();
  for (int64_t i = 0; i < split.size(); ++i) cm.add(int(l[i]), int(pr[i]));
  const torch::Tensor probs = split.size() > 0
                                  ? p.probabilities.to(torch::kCPU, torch::kFloat32).contiguous()
                                  : torch::zeros({0, k});
  std::vector<std::vector<double>> prob_rows(size_t(split.size()));
  std::vector<int> label_vec(size_t(split.size()));
  auto pa = probs.accessor<float, 2>();
  for (int64_t i = 0; i < split.size(); ++i) {
    prob_rows[size_t(i)].assign(pa[i].data(), pa[i].data() + k);
    label_vec[size_t(i)] = int(l[i]);
  }
  const OneVsRest curves = one_vs_rest(prob_rows, label_vec, k);

  nlohmann::json per_class = nlohmann::json::array();
  for (int c = 0; c < k; ++c) {
    nlohmann::json s = scores_json(cm.scores(c));
    s["class"] = c;
    s["name"] = info.class_names[size_t(c)];
    s["roc_auc"] = curves.roc[size_t(c)].auc;
    s["average_precision"] = curves.pr[size_t(c)].average_precision;
    per_class.push_back(s);
  }
  const AveragedScores avg = average_scores(cm);
  const std::string chosen = checkpoint_choice(ck);
  nlohmann::json summary = {{"checkpoint", ck.path},  {"model", ck.meta.model},
                            {"spec", ck.meta.spec},   {"epoch", ck.meta.epoch},
                            {"dataset", info.name},   {"split", o.split},
                            {"count", split.size()},  {"accuracy", cm.accuracy()},
                            {"loss", p.loss},         {"confusion", cm.to_json()},
                            {"per_class", per_class}, {"precision", precision.name},
                            {"device", device.str()}, {"tta", o.tta}};
  summary["epochs"] = planned_epochs(ck);
  summary["checkpoint_choice"] = chosen;
  summary["macro_avg"] = scores_json(avg.macro);
  summary["weighted_avg"] = scores_json(avg.weighted);
  summary["macro_roc_auc"] = curves.macro_roc_auc;
  summary["macro_average_precision"] = curves.macro_average_precision;

  if (o.write_files && core::dir_exists(o.target)) {
    const std::string dir = core::join_path(o.target, core::run_files::kEval);
    // Another data set's results sit beside the run's own, never over them.
    const std::string prefix = (info.name == ck.meta.dataset ? "" : info.name + "_") +
                               (o.split == "test" ? "" : o.split + "_");
    core::make_dirs(dir);
    core::write_file_atomic(core::join_path(dir, prefix + "summary.json"), summary.dump(2) + "\n");
    core::write_file_atomic(core::join_path(dir, prefix + "confusion.csv"),
                            cm.to_csv(info.class_names));
    core::write_file_atomic(core::join_path(dir, prefix + "predictions.csv"),
                            predictions_csv(probs, p.predicted, split.labels));
    write_saliency(ck, split, p, core::join_path(dir, prefix + "saliency.png"));
  }

  if (o.json) {
    std::cout << summary.dump(2) << "\n";
    return 0;
  }
  const std::string of = summary["epochs"].get<int>() > 0
                             ? " of " + std::to_string(summary["epochs"].get<int>())
                             : std::string();
  std::printf("scored %s (epoch %d%s, %s)\n", ck.path.c_str(), ck.meta.epoch, of.c_str(),
              chosen.c_str());
  std::printf("%s (%s) on the %s %s split: %lld images, %s %s (%s)\n", ck.meta.model.c_str(),
              ck.meta.spec.c_str(), info.name.c_str(), o.split.c_str(),
              static_cast<long long>(split.size()), device.str().c_str(), precision.name.c_str(),
              precision.reason.c_str());
  print_report(summary, cm, info, curves);
  return 0;
}

}  // namespace digitlab::train
