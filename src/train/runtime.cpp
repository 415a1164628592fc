// Thread configuration for torch and OpenBLAS.
#include "train/runtime.h"

#include <dlfcn.h>
#include <malloc.h>

#include <thread>

#include <torch/torch.h>

namespace digitlab::train {

int configure_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  // OpenBLAS is whichever libblas the system selected; look its setter up rather than link it.
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    fn(1);
  }
  // Large tensors freed and allocated every batch would otherwise be mmap'ed afresh each time and
  // spend the run in page faults; keep them on the heap for reuse.
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return threads;
}

}  // namespace digitlab::train
