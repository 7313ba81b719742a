// The CLI on a Llama-family model: a random llama-tiny folder written by `init` (byte tokenizer) runs through
// info, logits, generate (KV cache), perplexity and eval; the logits of the last token equal the greedy
// decoder's first step input, and a sharded copy of the folder gives the same logits bit for bit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

using test::gc;
using test::Result;

class LlamaCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::scratch_dir("llama_cli_" + std::to_string(::getpid())));
    model_ = new std::string(
        test::shared_init_model("llama_cli_model_seed3", "--preset llama-tiny --tokenizer bytes --seed 3"));
  }
  static std::string model() { return *model_; }
  static std::string path(const std::string& f) { return *dir_ + "/" + f; }
  static std::string* dir_;
  static std::string* model_;
};
std::string* LlamaCli::dir_ = nullptr;
std::string* LlamaCli::model_ = nullptr;

TEST_F(LlamaCli, InfoNamesTheFamilyAndItsParts) {
  Result r = gc("info --model " + model());
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* s : {"family:      llama", "n_kv_head:   2", "head_dim:    32", "norm:        RMSNorm",
                        "position:    rotary (theta 10000, half-split pairs)", "mlp:         swiglu (256)",
                        "lm_head:     separate tensor", "parameters:  361088"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST_F(LlamaCli, CommandsRunAndShardedFolderGivesTheSameLogits) {
  Result r = gc("logits --model " + model() + " --tokens 5,9,100,33,7 --out " + path("a.npy"));
  ASSERT_EQ(r.rc, 0) << r.err;
  NpyArray a = read_npy(path("a.npy"));
  ASSERT_EQ(a.shape, (std::vector<int64_t>{5, 256}));

  // The same weights in two shards with an index.
  const std::string sh = path("sharded");
  fs::create_directories(sh);
  fs::copy_file(model() + "/config.json", sh + "/config.json");
  fs::copy_file(model() + "/tokenizer.json", sh + "/tokenizer.json");
  SafeTensorsFile f(model() + "/model.safetensors");
  SafeTensorsWriter w1, w2;
  std::string map;
  int i = 0;
  for (const TensorInfo& t : f.tensors()) {
    SafeTensorsWriter& w = (i++ % 2) ? w2 : w1;
    w.add_f32(t.name, t.shape, f.f32_data(t));
    map += std::string(map.empty() ? "" : ",") + "\"" + t.name + "\":\"model-0000" + ((i % 2) ? "1" : "2") +
           "-of-00002.safetensors\"";
  }
  w1.write(sh + "/model-00001-of-00002.safetensors");
  w2.write(sh + "/model-00002-of-00002.safetensors");
  write_file_atomic(sh + "/model.safetensors.index.json", "{\"weight_map\":{" + map + "}}");
  r = gc("logits --model " + sh + " --tokens 5,9,100,33,7 --out " + path("b.npy"));
  ASSERT_EQ(r.rc, 0) << r.err;
  NpyArray b = read_npy(path("b.npy"));
  ASSERT_EQ(a.data.size(), b.data.size());
  EXPECT_EQ(std::memcmp(a.data.data(), b.data.data(), a.data.size() * sizeof(a.data[0])), 0);

  r = gc("generate --model " + model() + " --prompt Hello -n 12 --temperature 0 --seed 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Hello", 0), 0u) << r.out;
  EXPECT_GE(r.out.size(), 5u + 1u);

  write_file_atomic(path("text.txt"), "the quick brown fox jumps over the lazy dog, again and again. ");
  r = gc("perplexity --model " + model() + " --text " + path("text.txt") + " --context 32 --stride 16 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const double nll = j["mean_nll"].get<double>();
  EXPECT_TRUE(nll > 4.0 && nll < 7.0) << nll;  // a random byte model: near ln 256 = 5.55

  r = gc("eval --model " + model() + " --task lambada --data " + test::data_path("eval/lambada.jsonl") +
         " --limit 3 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["task"], "lambada");
}

TEST_F(LlamaCli, AnalogBackendsRunOnLlama) {
  for (const char* a : {"sliding --window 8", "hardsigmoid", "gaincell-linear", "gaincell"}) {
    Result r =
        gc("logits --model " + model() + " --tokens 1,2,3,4,5,6,7,8,9,10 --attention " + a + " --out " + path("g.npy"));
    EXPECT_EQ(r.rc, 0) << a << "\n" << r.err;
  }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
