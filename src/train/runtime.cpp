// Thread configuration for torch and OpenBLAS, process-wide and for the calling thread.
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

namespace {

// OpenMP's setters, looked up rather than linked as OpenBLAS's is above: the first runtime in load
// order, which is torch's (libgomp on Debian) unless a second OpenMP runtime is loaded.
struct OpenMp {
  using Get = int (*)();
  using Set = void (*)(int);
  Get max_threads = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  Set set_threads = reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
};

const OpenMp& open_mp() {
  static const OpenMp fns;
  return fns;
}

}  // namespace

SingleThreadScope::SingleThreadScope(bool enabled) {
  const OpenMp& omp = open_mp();
  if (!enabled || !omp.max_threads || !omp.set_threads) return;
  // First: torch sets a thread's team size on its first parallel call, which would undo ours.
  torch::get_num_threads();
  const int was = omp.max_threads();
  if (was <= 1) return;
  omp.set_threads(1);
  was_ = was;
}

SingleThreadScope::~SingleThreadScope() {
  if (was_ > 0) open_mp().set_threads(was_);
}

}  // namespace digitlab::train
