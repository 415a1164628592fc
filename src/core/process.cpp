// Start-up environment for OpenBLAS and ATen.
#include "core/process.h"

#include <unistd.h>

#include <cstdlib>

namespace digitlab::core {

void tune_compute_environment(char** argv) {
  if (std::getenv("DIGITLAB_BLAS_TUNED")) return;
  setenv("DIGITLAB_BLAS_TUNED", "1", 1);
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
    setenv("ATEN_CPU_CAPABILITY", "avx512", 0);
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    setenv("OPENBLAS_CORETYPE", "Haswell", 0);
  }
  execv("/proc/self/exe", argv);
}

}  // namespace digitlab::core
