// Process start-up settings that must be in the environment before shared libraries load.
#pragma once

namespace digitlab::core {

// OpenBLAS reads its settings when it is loaded, before main, and Debian's libblas.so.3 is a
// second OpenBLAS copy that exports no setters. Two settings matter (measured, seed-002 CNN):
// - its own threads on top of torch's oversubscribe the cores: one BLAS thread;
// - on virtual CPUs it may not recognise the model and fall back to its SSE3 "Prescott" kernels
//   (2.4k instead of 3.6-4.1k images/s): name the core type from the CPU's actual features.
// Requires: called first thing in main with main's argv. Guarantees: re-executes the program once
// (via /proc/self/exe) with both set, leaving any value the user set; returns at once in the
// re-executed process or if exec fails.
void tune_blas_environment(char** argv);

}  // namespace digitlab::core
