// The cascade rewrites never change results: every examples/*.attn kernel is
// interpreted (float64 reference) before and after attn-fuse-elementwise and
// attn-reorder-contractions, on random inputs of odd sizes (not multiples of
// the chunk size), queries both fewer and more than keys.
#include "test/unit/CascadePassesHarness.h"

#include <gtest/gtest.h>

using namespace attn_test;

namespace {

/// The pipelines under test, on each function.
const char *const kPipelines[] = {
    "attn-fuse-elementwise",
    "attn-fuse-elementwise{allow-recompute=true}",
    "attn-reorder-contractions",
    "attn-reorder-contractions{chunk-size=16}",
    "attn-fuse-elementwise{allow-recompute=true},"
    "attn-reorder-contractions{chunk-size=16}",
};

TEST(CascadePasses, EveryExampleKeepsItsResults) {
  std::vector<std::string> files = allExamples();
  ASSERT_GE(files.size(), 17u);
  std::map<std::string, int> changed;
  for (const Sizes &sizes : {queriesBeforeKeys(), queriesPastKeys()})
    for (const std::string &file : files)
      for (const char *pipeline : kPipelines) {
        SCOPED_TRACE(file + " | " + pipeline +
                     " | P=" + std::to_string(sizes.at("P")) +
                     " M=" + std::to_string(sizes.at("M")));
        Outcome o = runBeforeAndAfter(file, pipeline, sizes, 2024);
        ASSERT_TRUE(o.ok) << o.error;
        for (size_t r = 0; r < o.before.size(); ++r)
          EXPECT_LE(relativeError(o.after[r], o.before[r]), 1e-9)
              << "output " << r;
        changed[file + " " + pipeline] += o.changed;
      }
  // The rewrites apply where they should (so this test can fail).
  EXPECT_EQ(changed["linear.attn attn-reorder-contractions"], 2);
  EXPECT_EQ(changed["linear_causal.attn attn-reorder-contractions"], 2);
  EXPECT_EQ(changed["linear_causal.attn attn-reorder-contractions{chunk-size="
                    "16}"],
            2);
  EXPECT_EQ(changed["linear_causal.attn "
                    "attn-fuse-elementwise{allow-recompute=true}"],
            2);
  EXPECT_EQ(changed["relu.attn attn-fuse-elementwise{allow-recompute=true}"],
            2);
  // ... and not where they should not: two consumers, softmax.
  EXPECT_EQ(changed["softcap.attn attn-fuse-elementwise"], 0);
  EXPECT_EQ(changed["linear_causal.attn attn-fuse-elementwise"], 0);
  EXPECT_EQ(changed["mha.attn attn-reorder-contractions"], 0);
}

} // namespace
