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

TEST(Spec, ResidualBlocksParsePrintAndNest) {
  const ArchSpec s = parse_spec("C8-R(C8-BN-C8)-P-R(C16-D0.1)-P-10");
  ASSERT_EQ(s.layers.size(), 6u);
  EXPECT_EQ(s.layers[1].kind, LayerKind::kResidual);
  ASSERT_EQ(s.layers[1].body.size(), 3u);
  EXPECT_EQ(s.layers[1].body[1].kind, LayerKind::kBatchNorm);
  EXPECT_EQ(s.layers[3].body[1].kind, LayerKind::kDropout);
  EXPECT_FALSE(parse_spec("C8-R(C8)-10") == parse_spec("C8-R(C16)-10"));
  const ArchSpec nested = parse_spec("R(C4-R(C8k5-BN))-tanh-R(R(R(R(C8))))-10-logsoftmax");
  EXPECT_EQ(nested.layers[0].body[1].kind, LayerKind::kResidual);
  EXPECT_EQ(nested.layers[0].body[1].body[0].kernel, 5);
  for (const std::string text :
       {"C8-R(C8-BN-C8)-P-R(C16-D0.1)-P-10", "R(C4-R(C8k5-BN))-tanh-R(R(R(R(C8))))-10-logsoftmax",
        "R(C8)-R(C8)-10"}) {
    EXPECT_EQ(to_string(parse_spec(text)), text);
    EXPECT_EQ(parse_spec(to_string(parse_spec(text))), parse_spec(text));
  }
  EXPECT_EQ(to_string(parse_spec("R(C8k3s-D0.50)-10-softmax")), "R(C8-D0.5)-10");
}

TEST(Spec, ResidualErrorsNameTheTokenByItsPath) {
  EXPECT_EQ(error_of("R(C8-C8-10"),
            "arch spec 'R(C8-C8-10': token 1 'R(C8-C8-10': unclosed '(' of a residual block");
  EXPECT_EQ(error_of("C8-R()-10"), "arch spec 'C8-R()-10': token 2 'R()': empty residual block");
  EXPECT_NE(error_of("C8-R(C8-P)-10").find("token 2.2 'P': a pool cannot go inside a residual"),
            std::string::npos);
  EXPECT_NE(error_of("C8-R(C8-R(C8-P2))-10").find("token 2.2.2 'P2': a pool cannot go inside"),
            std::string::npos);
  EXPECT_NE(error_of("R(R(R(R(R(C8)))))-10")
                .find("token 1.1.1.1.1 'R(C8)': residual blocks nest "
                      "at most 4 deep"),
            std::string::npos);
  EXPECT_NE(error_of("C8-R(C8v)-10").find("token 2.1 'C8v': a 'valid' conv cannot go inside"),
            std::string::npos);
  EXPECT_NE(error_of("C8-R(C8-10)-10").find("token 2.2 '10': a dense layer cannot go inside"),
            std::string::npos);
  EXPECT_NE(error_of("C8-R(tanh-C8)-10").find("token 2.1 'tanh': an activation token cannot"),
            std::string::npos);
  EXPECT_NE(error_of("C8-R(C8-softmax)-10").find("an output head cannot go inside"),
            std::string::npos);
  EXPECT_NE(
      error_of("C8-R(BN-D0.5)-10").find("token 2 'R(BN-D0.5)': a residual block needs a conv"),
      std::string::npos);
  EXPECT_NE(error_of("C8-R(C8--C8)-10").find("token 2.2 '': empty token"), std::string::npos);
  EXPECT_NE(error_of("C8-R(C8))-10").find("token 2 'R(C8))': text after the residual block's ')'"),
            std::string::npos);
  EXPECT_NE(error_of("C8)-10").find("token 1 'C8)': parentheses only enclose"), std::string::npos);
  EXPECT_NE(error_of("(C8)-10").find("parentheses only enclose"), std::string::npos);
  EXPECT_NE(error_of("R-10").find("token 1 'R': a residual block wants R(<layers>)"),
            std::string::npos);
  EXPECT_NE(error_of("C8-R(C8)").find("token 2 'R(C8)': the spec must end with a dense output"),
            std::string::npos);
  try {
    count_parameters(parse_spec("100-R(C8)-10"));
    ADD_FAILURE() << "a block after a dense layer passed the shape check";
  } catch (const core::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 2: a residual block cannot follow a dense layer"),
              std::string::npos)
        << e.what();
  }
}

TEST(Spec, ResidualParameterCounts) {
  // C8: 9*8+8 = 80. Block 1 keeps 8 channels (no projection): 584 + BN 16 + 584. Block 2 goes to
  // 16: conv 9*8*16+16 = 1168 and the 1x1 projection 8*16+16 = 144. Dense: 16*7*7*10+10 = 7850.
  EXPECT_EQ(count_parameters(parse_spec("C8-R(C8-BN-C8)-P-R(C16)-P-10")), 80 + 1184 + 1312 + 7850);
  // Outer block 1 -> 8 channels: C4 40, inner block 4 -> 8 (296 + projection 40), projection 16.
  EXPECT_EQ(count_parameters(parse_spec("R(C4-R(C8))-10")), 40 + 296 + 40 + 16 + 62730);
}

TEST(Summary, RowsShapesAndCountsOfASmallNet) {
  const ModelSummary s = summarize(parse_spec("C32-P-10"));
  ASSERT_EQ(s.rows.size(), 4u);
  EXPECT_EQ(s.rows[0].name, "conv2d_1");
  EXPECT_EQ(s.rows[0].type, "Conv2D");
  EXPECT_EQ(s.rows[0].shape, (std::vector<int64_t>{32, 28, 28}));
  EXPECT_EQ(s.rows[0].parameters, 320);
  EXPECT_EQ(s.rows[1].name, "max_pooling2d_1");
  EXPECT_EQ(s.rows[1].shape, (std::vector<int64_t>{32, 14, 14}));
  EXPECT_EQ(s.rows[1].parameters, 0);
  EXPECT_EQ(s.rows[2].name, "flatten_1");
  EXPECT_EQ(s.rows[2].shape, (std::vector<int64_t>{6272}));
  EXPECT_EQ(s.rows[3].name, "dense_1");
  EXPECT_EQ(s.rows[3].shape, (std::vector<int64_t>{10}));
  EXPECT_EQ(s.rows[3].parameters, 62730);
  EXPECT_EQ(s.total, 63050);
  EXPECT_EQ(s.trainable, 63050);
  EXPECT_EQ(s.non_trainable, 0);
  EXPECT_EQ(s.multiply_adds, 28 * 28 * 9 * 32 + 6272 * 10);  // the conv's outputs, the dense's
  const std::string text = format_summary(s);
  EXPECT_NE(text.find("conv2d_1 (Conv2D)"), std::string::npos) << text;
  EXPECT_NE(text.find("(32, 14, 14)"), std::string::npos) << text;
  EXPECT_NE(text.find("62,730\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Total params: 63,050\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Non-trainable params: 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Multiply-adds per image (forward): 288,512\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Input shape: (1, 28, 28); output head: softmax"), std::string::npos);
  EXPECT_NE(text.find("(0 values) are buffers, not parameters"), std::string::npos) << text;
}

TEST(Summary, BlocksBatchNormAndNumbering) {
  const ModelSummary s = summarize(parse_spec("C8-R(C8-BN-C8)-P-R(C16)-P-D0.5-10-logsoftmax"));
  std::vector<std::string> names;
  for (const auto& r : s.rows) names.push_back(std::string(size_t(r.depth), '>') + r.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "conv2d_1", "residual_1", ">conv2d_2", ">batch_normalization_1", ">conv2d_3",
                       "max_pooling2d_1", "residual_2", ">conv2d_4", ">conv2d_5", "max_pooling2d_2",
                       "dropout_1", "flatten_1", "dense_1"}));
  EXPECT_EQ(s.rows[1].parameters, 1184);
  EXPECT_EQ(s.rows[1].shape, (std::vector<int64_t>{8, 28, 28}));
  EXPECT_EQ(s.rows[8].type, "Conv2D 1x1 shortcut");
  EXPECT_EQ(s.rows[8].parameters, 144);
  EXPECT_EQ(s.rows[6].parameters, 1312);
  EXPECT_EQ(s.rows[6].shape, (std::vector<int64_t>{16, 14, 14}));
  EXPECT_EQ(s.total, 80 + 1184 + 1312 + 7850);
  EXPECT_EQ(s.bn_statistics, 16);
  // Shortcut (8 -> 16 channels, 1x1 at 14x14) and every 3x3 conv at its image size.
  EXPECT_EQ(s.multiply_adds,
            28 * 28 * 9 * (1 * 8 + 8 * 8 + 8 * 8) + 14 * 14 * (9 * 8 * 16 + 8 * 16) + 784 * 10);
  EXPECT_EQ(s.head, Head::kLogSoftmax);
  const std::string text = format_summary(s);
  EXPECT_NE(text.find("\n  conv2d_2 (Conv2D)"), std::string::npos) << text;
  EXPECT_NE(text.find("(16 values) are buffers"), std::string::npos) << text;
  EXPECT_NE(text.find("Total params: 10,426\n"), std::string::npos) << text;
  EXPECT_THROW(summarize(parse_spec("100-12")), core::UsageError);
}

TEST(Summary, TotalsEqualTheParameterCountOfEveryZooModel) {
  for (const auto& e : zoo()) {
    const ArchSpec spec = parse_spec(e.spec);
    const ModelSummary s = summarize(spec);
    EXPECT_EQ(s.total, count_parameters(spec)) << e.name;
    int64_t top = 0;
    for (const auto& r : s.rows) top += r.depth == 0 ? r.parameters : 0;
    EXPECT_EQ(top, s.total) << e.name;
  }
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
