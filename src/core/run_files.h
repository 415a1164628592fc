// The names of a run directory's files, relative to the run directory; every module spells them
// from here.
#pragma once

namespace digitlab::core::run_files {

constexpr const char* kConfig = "config.json";       // options, spec, data, versions
constexpr const char* kMetrics = "metrics.jsonl";    // one JSON object per epoch (and step)
constexpr const char* kMetricsCsv = "metrics.csv";   // the same epochs as CSV rows
constexpr const char* kCheckpoints = "checkpoints";  // folder of the two checkpoints
constexpr const char* kBestCheckpoint = "checkpoints/best.pt";
constexpr const char* kLastCheckpoint = "checkpoints/last.pt";  // with the state to resume
constexpr const char* kTensorBoard = "tensorboard";             // event files, one folder per split
constexpr const char* kReport = "report";                       // report/index.html and PNG figures
constexpr const char* kEval = "eval";                           // what `evaluate` wrote
constexpr const char* kEvalSummary = "eval/summary.json";
constexpr const char* kEvalConfusion = "eval/confusion.csv";
constexpr const char* kEvalPredictions = "eval/predictions.csv";  // with p_0..p_K-1 columns
constexpr const char* kEvalSaliency = "eval/saliency.png";        // saliency of a few images

}  // namespace digitlab::core::run_files
