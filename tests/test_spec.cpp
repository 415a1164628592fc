// Architecture spec language: every token kind, round trips, every error message, parameter counts.
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/spec.h"
#include "models/zoo.h"

namespace digitlab::models {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_spec(text);
  } catch (const core::UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(Spec, EveryTokenKind) {
  ArchSpec s = parse_spec("C32-C16k5v-BN-P-P3-tanh-D0.25-100-BN-sigmoid-10-logsoftmax");
  ASSERT_EQ(s.layers.size(), 11u);
  EXPECT_EQ(s.layers[0].kind, LayerKind::kConv);
  EXPECT_EQ(s.layers[0].units, 32);
  EXPECT_EQ(s.layers[0].kernel, 3);
  EXPECT_TRUE(s.layers[0].same);
  EXPECT_EQ(s.layers[1].kernel, 5);
  EXPECT_FALSE(s.layers[1].same);
  EXPECT_EQ(s.layers[2].kind, LayerKind::kBatchNorm);
  EXPECT_EQ(s.layers[3].kind, LayerKind::kPool);
  EXPECT_EQ(s.layers[3].kernel, 2);
  EXPECT_EQ(s.layers[4].kernel, 3);
  EXPECT_EQ(s.layers[5].kind, LayerKind::kActivation);
  EXPECT_EQ(s.layers[5].activation, Activation::kTanh);
  EXPECT_EQ(s.layers[6].kind, LayerKind::kDropout);
  EXPECT_DOUBLE_EQ(s.layers[6].rate, 0.25);
  EXPECT_EQ(s.layers[7].kind, LayerKind::kDense);
  EXPECT_EQ(s.layers[7].units, 100);
  EXPECT_EQ(s.layers[8].kind, LayerKind::kBatchNorm);
  EXPECT_EQ(s.layers[9].activation, Activation::kSigmoid);  // mid-spec sigmoid: an activation
  EXPECT_EQ(s.layers[10].units, 10);
  EXPECT_EQ(s.head, Head::kLogSoftmax);
  EXPECT_EQ(parse_spec("100-10-sigmoid").head, Head::kSigmoid);  // last: the head
  EXPECT_EQ(parse_spec("100-10-softmax").head, Head::kSoftmax);
  EXPECT_EQ(parse_spec("10-svm").head, Head::kSvm);
  ArchSpec knn = parse_spec("knn5");
  EXPECT_TRUE(knn.is_knn());
  EXPECT_EQ(knn.layers[0].units, 5);
  EXPECT_EQ(count_parameters(knn), 0);
  EXPECT_EQ(to_string(knn), "knn5");
}

TEST(Spec, PrintParseRoundTrip) {
  for (const std::string text :
       {"C32-P-C64-P-128-10-logsoftmax", "C32v-P-D0.25-C64v-P-D0.25-128-D0.5-10", "100-10-sigmoid",
        "C6k5-P-C16k5v-P-120-84-10", "relu-C8-BN-P4-tanh-20-10", "10", "10-svm"}) {
    EXPECT_EQ(to_string(parse_spec(text)), text);
    EXPECT_EQ(parse_spec(to_string(parse_spec(text))), parse_spec(text));
  }
  // Defaults are dropped when printing.
  EXPECT_EQ(to_string(parse_spec("C32k3s-P2-128-10-softmax")), "C32-P-128-10");
  // Dropout rates print with as many digits as they need to read back exactly, and never with an
  // exponent, whose '-' would split the token (six significant digits would print D0.1234567 as
  // D0.123457, and D0.00001 as the unparsable D1e-05; fuzz_spec's regress-dropout-rate-*).
  EXPECT_EQ(to_string(parse_spec("100-D0.1234567-10")), "100-D0.1234567-10");
  EXPECT_EQ(to_string(parse_spec("100-D0.00001-D0.1-10")), "100-D0.00001-D0.1-10");
  EXPECT_EQ(to_string(parse_spec("100-D0.00000000592130311-10")), "100-D0.00000000592130311-10");
  const ArchSpec tiny = parse_spec("100-D0.0000000000000000000000000000001234-10");
  EXPECT_EQ(parse_spec(to_string(tiny)), tiny);
}

TEST(Spec, ErrorsPointAtTheToken) {
  EXPECT_EQ(error_of(""), "arch spec is empty");
  EXPECT_EQ(error_of("C32--10"),
            "arch spec 'C32--10': token 2 '': empty token (two '-' in a row, or one at an end)");
  EXPECT_NE(error_of("C32-X-10").find("token 2 'X': unknown token"), std::string::npos);
  EXPECT_NE(error_of("Cx-10").find("token 1 'Cx': conv wants C<filters>"), std::string::npos);
  EXPECT_NE(error_of("C0-10").find("token 1 'C0': conv wants"), std::string::npos);
  EXPECT_NE(error_of("C32k0-10").find("conv kernel size must be 1 to 31"), std::string::npos);
  EXPECT_NE(error_of("C32k4-10").find("'same' padding needs an odd kernel"), std::string::npos);
  EXPECT_NE(error_of("C32-Px-10").find("token 2 'Px': pool wants P or P<size>"), std::string::npos);
  EXPECT_NE(error_of("100-D1.5-10").find("token 2 'D1.5': dropout wants D<rate>"),
            std::string::npos);
  EXPECT_NE(error_of("100-Dx-10").find("dropout wants"), std::string::npos);
  EXPECT_NE(error_of("0-10").find("dense units must be 1 to 999999"), std::string::npos);
  EXPECT_NE(error_of("softmax-10").find("an output head must be the last token"),
            std::string::npos);
  EXPECT_NE(error_of("C32-softmax").find("must follow the dense output layer"), std::string::npos);
  EXPECT_NE(error_of("knn3-10").find("token 1 'knn3': knn<K> must be the whole spec"),
            std::string::npos);
  EXPECT_NE(error_of("knn0").find("knn<K> with K from 1 to 1000"), std::string::npos);
  EXPECT_NE(error_of("C32-P").find("token 2 'P': the spec must end with a dense output layer"),
            std::string::npos);
}

TEST(Spec, ParameterCounts) {
  EXPECT_EQ(count_parameters(parse_spec("C32-P-C64-P-128-10-logsoftmax")), 421642);
  EXPECT_EQ(count_parameters(parse_spec("C32v-P-C64v-P-128-10")), 225034);
  EXPECT_EQ(count_parameters(parse_spec("100-10")), 784 * 100 + 100 + 1010);
  EXPECT_EQ(count_parameters(parse_spec("C4-BN-P-10")), 40 + 8 + 4 * 14 * 14 * 10 + 10);
}

TEST(Spec, ShapeErrors) {
  auto shape_error = [](const std::string& text) {
    try {
      count_parameters(parse_spec(text));
    } catch (const core::UsageError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(shape_error("100-C8-10").find("layer 2: a conv layer cannot follow a dense layer"),
            std::string::npos);
  EXPECT_NE(shape_error("100-P-10").find("a pool layer cannot follow"), std::string::npos);
  EXPECT_NE(shape_error("P-P-P-P-P-10").find("pooling shrinks the image below 1x1"),
            std::string::npos);
  EXPECT_NE(shape_error("C8k29v-10").find("the 'valid' conv shrinks"), std::string::npos);
  EXPECT_NE(shape_error("100-12").find("output layer has 12 units but there are 10 classes"),
            std::string::npos);
  // ~9.6e14 parameters per layer: 9700 of them overflow int64 (undefined behaviour before).
  std::string huge;
  for (int i = 0; i < 9700; ++i) huge += "C999999k31-";
  EXPECT_NE(shape_error(huge + "10").find("the parameter count overflows 64 bits"),
            std::string::npos);
}

TEST(Zoo, EveryEntryParsesAndIsFound) {
  for (const auto& e : zoo()) {
    EXPECT_NO_THROW(count_parameters(parse_spec(e.spec))) << e.name;
    EXPECT_EQ(&find_model(e.name), &e);
  }
  EXPECT_EQ(find_model(kDefaultModel).spec, "C32-P-C64-P-128-10-logsoftmax");
  EXPECT_THROW(find_model("nope"), core::UsageError);
}

}  // namespace
}  // namespace digitlab::models
