// Process start-up settings that must be in the environment before shared libraries load.
#pragma once

namespace digitlab::core {

// OpenBLAS and ATen read their settings when they are loaded, before main, and Debian's
// libblas.so.3 is a second OpenBLAS copy that exports no setters. Three settings matter
// (measured, seed-002 CNN on 2 cores):
// - OpenBLAS's own threads on top of torch's oversubscribe the cores: one BLAS thread;
// - on virtual CPUs OpenBLAS may not recognise the model and fall back to its SSE3 "Prescott"
//   kernels (2.4k instead of 3.6-4.1k images/s): name the core type from the CPU's features;
// - Debian's LibTorch ships AVX-512 kernels but dispatches its AVX2 ones unless
//   ATEN_CPU_CAPABILITY=avx512 (with channels_last: 4.0-4.2k against 3.4-3.6k images/s).
// Requires: called first thing in main with main's argv. Guarantees: re-executes the program once
// (via /proc/self/exe) with all three set, leaving any value the user set; returns at once in
// the re-executed process or if exec fails.
void tune_compute_environment(char** argv);

}  // namespace digitlab::core
