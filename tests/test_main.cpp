// GoogleTest entry point with the same BLAS start-up settings as the program.
#include <gtest/gtest.h>

#include "core/process.h"

int main(int argc, char** argv) {
  digitlab::core::tune_compute_environment(argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
