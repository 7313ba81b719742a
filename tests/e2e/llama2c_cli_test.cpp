// `gaincell convert llama2c` end to end: stories260K (../shared) converts into a Hugging Face Llama folder, a
// broken checkpoint fails with one line and leaves no folder, and the converted model's greedy tokens equal
// the golden ids of the independent llama2.c reference (tools/llama_reference/llama2c_ref.py ->
// tests/data/stories260k/greedy.json) and its teacher-forced NLL of the SOURCES.md sentence is 54.40415.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "model/attention.h"
#include "model/engine.h"
#include "model/gpt2.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

const std::string kCheckpoint = "data/DaveBben__esp32-llm/stories260K.bin";
const std::string kTokenizer = "data/DaveBben__esp32-llm/tok512.bin";

// Converts stories260K into <scratch>/out with the CLI; returns the folder ("" after a failed assertion).
std::string convert_stories(const std::string& scratch) {
  const std::string out = scratch + "/out";
  const test::Result r = test::gc("convert llama2c --checkpoint " + test::shared_path(kCheckpoint) + " --tokenizer " +
                                  test::shared_path(kTokenizer) + " --out " + out);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "wrote " + out + "\n");
  return r.rc == 0 ? out : "";
}

TEST(Llama2cCli, ConvertsStories260K) {
  GAINCELL_REQUIRE_FILE(test::shared_path(kCheckpoint));
  GAINCELL_REQUIRE_FILE(test::shared_path(kTokenizer));
  const std::string out = convert_stories(test::scratch_dir("llama2c_cli_convert"));
  ASSERT_FALSE(out.empty());
  const auto cfg = nlohmann::json::parse(read_file(out + "/config.json"));
  EXPECT_EQ(cfg["model_type"], "llama");
  EXPECT_EQ(cfg["hidden_size"], 64);
  EXPECT_EQ(cfg["intermediate_size"], 172);
  EXPECT_EQ(cfg["num_hidden_layers"], 5);
  EXPECT_EQ(cfg["num_attention_heads"], 8);
  EXPECT_EQ(cfg["num_key_value_heads"], 4);
  EXPECT_EQ(cfg["vocab_size"], 512);
  EXPECT_EQ(cfg["max_position_embeddings"], 512);
  EXPECT_EQ(cfg["tie_word_embeddings"], true);
  EXPECT_EQ(read_file(out + "/tokenizer.bin"), read_file(test::shared_path(kTokenizer)));
  // 260,032 float32 weights (the freq_cis tables are dropped) plus the JSON header.
  const uint64_t size = fs::file_size(out + "/model.safetensors");
  EXPECT_GT(size, 4u * 260032u);
  EXPECT_LT(size, 4u * 260032u + 8192u);
}

TEST(Llama2cCli, BadInputsFailWithOneLineAndNoFolder) {
  GAINCELL_REQUIRE_FILE(test::shared_path(kTokenizer));
  const std::string dir = test::scratch_dir("llama2c_cli_bad");
  write_file_atomic(dir + "/short.bin", std::string(20, '\1'));
  test::Result r = test::gc("convert llama2c --checkpoint " + dir + "/short.bin --tokenizer " +
                            test::shared_path(kTokenizer) + " --out " + dir + "/out");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("[llama2c] expected a 28-byte header"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/out"));
  r = test::gc("convert llama2c --checkpoint " + dir + "/short.bin --out " + dir + "/out");
  EXPECT_EQ(r.rc, 2);  // --tokenizer is required: a usage error
  EXPECT_NE(r.err.find("--tokenizer"), std::string::npos) << r.err;
  r = test::gc("convert gguf");
  EXPECT_EQ(r.rc, 2) << r.err;
}

int argmax(const float* v, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

TEST(Llama2cCli, Stories260KGreedyTokensEqualReference) {
  GAINCELL_REQUIRE_FILE(test::shared_path(kCheckpoint));
  GAINCELL_REQUIRE_FILE(test::shared_path(kTokenizer));
  const std::string out = convert_stories(test::scratch_dir("llama2c_cli_greedy"));
  ASSERT_FALSE(out.empty());
  const auto golden = nlohmann::json::parse(read_file(test::data_path("stories260k/greedy.json")));
  Gpt2 m = Gpt2::load(out);
  const int V = m.config().vocab_size;
  ASSERT_EQ(V, 512);
  register_digital_attention();
  auto attn = attention_registry().create("softmax", attention_context(m.config()));

  // Teacher-forced NLL of the SOURCES.md sentence (35 tokens with BOS): 54.40415 over 34 predictions.
  const auto fox = golden["fox_ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(fox.size(), 35u);
  Gpt2Engine full(m, *attn);
  const float* logits = full.forward(fox.data(), 1, static_cast<int>(fox.size()));
  double nll = 0;
  for (size_t t = 1; t < fox.size(); ++t) {
    const float* row = logits + (t - 1) * V;
    double mx = row[0], sum = 0;
    for (int i = 1; i < V; ++i) mx = std::max(mx, double(row[i]));
    for (int i = 0; i < V; ++i) sum += std::exp(double(row[i]) - mx);
    nll += mx + std::log(sum) - row[fox[t]];
  }
  EXPECT_TRUE(std::abs(nll - 54.40415) <= 2e-3) << nll;

  for (const auto& c : golden["cases"]) {
    const auto prompt = c["prompt_ids"].get<std::vector<int32_t>>();
    const auto want = c["generated_ids"].get<std::vector<int32_t>>();
    const bool stopped = c["stopped_at_bos"].get<bool>();
    const int steps = static_cast<int>(want.size()) + (stopped ? 1 : 0);
    Gpt2Engine dec(m, *attn);
    dec.decode_begin(1, static_cast<int64_t>(prompt.size()) + steps);
    const float* l = dec.decode_prefill(prompt.data(), static_cast<int>(prompt.size()));
    std::vector<int32_t> got;
    for (int s = 0; s < steps; ++s) {
      int32_t next = argmax(l, V);
      got.push_back(next);
      if (s + 1 < steps) l = dec.decode_step(&next);
    }
    std::vector<int32_t> expect = want;
    if (stopped) expect.push_back(1);  // llama2.c stops when the model emits BOS
    EXPECT_EQ(got, expect) << "prompt '" << c["prompt"].get<std::string>() << "'";
  }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
