// Evaluation: log-likelihood scoring against a brute-force computation on a tiny random model, strided
// perplexity, acc vs acc_norm, lm-eval's pair encoding and HellaSwag preprocessing, schema detection and
// hostile JSONL lines.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "eval/loglik.h"
#include "eval/perplexity.h"
#include "eval/task_data.h"
#include "eval/tasks.h"
#include "expect_close.h"
#include "io/json.h"
#include "model/attention.h"
#include "model/engine.h"
#include "model/gpt2.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

template <typename F>
void expect_error(F&& fn, const std::string& fragment) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing '" << fragment << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(fragment), std::string::npos) << "message: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
  }
}

// A tiny random model (vocab 40, 24 positions) with softmax attention.
class EvalModel : public ::testing::Test {
 protected:
  EvalModel() : model_(Gpt2::random(config(), 11)) {
    register_digital_attention();
    AttentionContext ctx = attention_context(config());
    attention_ = attention_registry().create("softmax", ctx);
    engine_ = std::make_unique<Gpt2Engine>(model_, *attention_);
  }
  static Gpt2Config config() {
    Gpt2Config c;
    c.n_layer = 2, c.n_head = 2, c.n_embd = 16, c.vocab_size = 40, c.n_positions = 24;
    return c;
  }
  std::vector<int32_t> random_tokens(int n, uint32_t seed) {
    std::vector<int32_t> t(n);
    for (int i = 0; i < n; ++i) t[i] = static_cast<int32_t>((seed * 2654435761u + i * 40503u) % 40u);
    return t;
  }
  // log p(tokens[i] | tokens[0..i)) from a forward over the prefix alone, in double.
  double brute_logprob(const std::vector<int32_t>& tokens, int i, bool* argmax) {
    const float* logits = engine_->forward(tokens.data(), 1, i, 1);
    *argmax = std::max_element(logits, logits + 40) - logits == tokens[i];
    return -token_nll(logits, 40, tokens[i]);
  }
  Gpt2 model_;
  std::unique_ptr<Attention> attention_;
  std::unique_ptr<Gpt2Engine> engine_;
};

TEST_F(EvalModel, BatchedScoringMatchesOnePrefixAtATime) {
  // Lengths 6, 6, 6, 9, 9, 25: equal lengths share a forward; n_target varies within a batch.
  std::vector<LoglikRequest> reqs;
  const int lens[] = {6, 6, 6, 9, 9, 25}, targets[] = {1, 3, 5, 2, 4, 24};
  for (int k = 0; k < 6; ++k) reqs.push_back({random_tokens(lens[k], 3 + k), targets[k]});
  std::vector<int64_t> progress;
  auto got = score_requests(*engine_, reqs, {4 * 8, 6}, [&](int64_t n) { progress.push_back(n); });
  ASSERT_EQ(got.size(), reqs.size());
  EXPECT_EQ(progress.back(), 6);
  EXPECT_GE(progress.size(), 3u);  // the limits split the batches
  int n_greedy = 0;
  for (size_t k = 0; k < reqs.size(); ++k) {
    const auto& t = reqs[k].tokens;
    double want = 0;
    bool greedy = true;
    for (int i = static_cast<int>(t.size()) - reqs[k].n_target; i < static_cast<int>(t.size()); ++i) {
      bool am = false;
      want += brute_logprob(t, i, &am);
      greedy = greedy && am;
    }
    EXPECT_NEAR(got[k].logprob, want, 1e-4 * (1 + std::abs(want))) << "request " << k;
    EXPECT_EQ(got[k].greedy, greedy) << "request " << k;
    EXPECT_EQ(got[k].n_target, reqs[k].n_target);
    EXPECT_LT(got[k].logprob, 0);
    n_greedy += got[k].greedy;
  }
  // Make one request whose single target is the argmax: it must count as greedy.
  std::vector<int32_t> t = random_tokens(7, 99);
  const float* logits = engine_->forward(t.data(), 1, 6, 1);
  t[6] = static_cast<int32_t>(std::max_element(logits, logits + 40) - logits);
  EXPECT_TRUE(score_requests(*engine_, {{t, 1}})[0].greedy);
  t[6] = (t[6] + 1) % 40;
  EXPECT_FALSE(score_requests(*engine_, {{t, 1}})[0].greedy);
}

TEST_F(EvalModel, LeftTruncationKeepsTheLastWindowAndTheTargets) {
  LoglikRequest r{random_tokens(40, 5), 3};
  const std::vector<int32_t> tail(r.tokens.end() - 25, r.tokens.end());
  EXPECT_TRUE(truncate_left(r, 24));
  EXPECT_EQ(r.tokens, tail);  // n_positions + 1 tokens: the input is all but the last
  EXPECT_EQ(r.n_target, 3);
  EXPECT_FALSE(truncate_left(r, 24));  // already fits
  EXPECT_EQ(r.tokens, tail);
}

// A continuation longer than the window (HellaSwag endings on a 128-byte model) is cut with its context, as
// lm-eval does, and the targets that remain are scored: one forward over the window, every position a target.
TEST_F(EvalModel, ContinuationLongerThanTheWindowScoresTheTargetsThatRemain) {
  LoglikRequest r{random_tokens(40, 5), 30};
  const std::vector<int32_t> tail(r.tokens.end() - 25, r.tokens.end());
  EXPECT_TRUE(truncate_left(r, 24));
  EXPECT_EQ(r.tokens, tail);
  EXPECT_EQ(r.n_target, 24);
  const LoglikResult got = score_requests(*engine_, {r})[0];
  EXPECT_EQ(got.n_target, 24);
  double want = 0;
  bool greedy = true;
  for (int j = 1; j <= 24; ++j) {  // target tail[j] given tail[0 .. j)
    bool am = false;
    want += brute_logprob(std::vector<int32_t>(tail.begin(), tail.begin() + j + 1), j, &am);
    greedy = greedy && am;
  }
  EXPECT_NEAR(got.logprob, want, 1e-4 * std::fabs(want));
  EXPECT_EQ(got.greedy, greedy);
}

TEST_F(EvalModel, FixedWindowsNllIsTheMeanOverEvenlySpacedWindows) {
  const std::vector<int32_t> ids = random_tokens(30, 8);
  const int T = 6;
  // Windows of T + 1 tokens starting at 0, (30 - 7) / 2 = 11 and 23; each scored alone by strided_perplexity
  // (one window of T + 1 tokens: every position given all before it).
  double want = 0;
  for (int start : {0, 11, 23})
    want +=
        strided_perplexity(*engine_, std::vector<int32_t>(ids.begin() + start, ids.begin() + start + T + 1), {T + 1, 0})
            .nll_sum;
  want /= 3.0 * T;
  EXPECT_NEAR(fixed_windows_nll(*engine_, ids, T, 3), want, 1e-6 * want);
  const double first =
      strided_perplexity(*engine_, std::vector<int32_t>(ids.begin(), ids.begin() + T + 1), {T + 1, 0}).mean_nll;
  EXPECT_NEAR(fixed_windows_nll(*engine_, ids, T, 1), first, 1e-6 * first);
  expect_error([&] { fixed_windows_nll(*engine_, std::vector<int32_t>(ids.begin(), ids.begin() + T), T, 2); },
               "at least 7 tokens");
  expect_error([&] { fixed_windows_nll(*engine_, ids, T, 0); }, "0 windows");
}

// forward_each hands out the same logit rows as forward, in order, in pieces of at most max_rows and never one
// row alone (the last piece keeps two).
TEST_F(EvalModel, ForwardEachGivesForwardsRowsInBoundedPieces) {
  const std::vector<int32_t> ids = random_tokens(2 * 11, 9);
  const std::vector<float> want = [&] {
    const float* l = engine_->forward(ids.data(), 2, 11, 9);
    return std::vector<float>(l, l + 2 * 9 * 40);
  }();
  for (int64_t max_rows : {2, 5, 17, 100}) {
    std::vector<float> got;
    std::vector<int64_t> sizes;
    engine_->forward_each(ids.data(), 2, 11, 9, max_rows, [&](int64_t first, int64_t n, const float* l) {
      EXPECT_EQ(first, int64_t(got.size()) / 40);
      sizes.push_back(n);
      got.insert(got.end(), l, l + n * 40);
    });
    ASSERT_EQ(got.size(), want.size()) << max_rows;
    EXPECT_TRUE(test::all_close(got, want, 1e-5, 1e-5)) << max_rows;
    for (int64_t n : sizes) {
      EXPECT_LE(n, max_rows);
      EXPECT_GE(n, 2);
    }
  }
  expect_error([&] { engine_->forward_each(ids.data(), 1, 11, 9, 1, [](int64_t, int64_t, const float*) {}); },
               "at least 2 logit rows");
}

TEST_F(EvalModel, StridedPerplexityWithStrideOneIsASlidingWindow) {
  const std::vector<int32_t> ids = random_tokens(30, 8);
  const int L = 6;
  PerplexityResult r = strided_perplexity(*engine_, ids, {L, 1});
  double want = 0;
  for (int i = 1; i < 30; ++i) {  // token i given the L - 1 tokens before it (fewer at the start)
    const int begin = std::max(0, i - (L - 1));
    std::vector<int32_t> window(ids.begin() + begin, ids.begin() + i + 1);
    bool am = false;
    want -= brute_logprob(window, i - begin, &am);
  }
  EXPECT_EQ(r.scored_tokens, 29);
  EXPECT_NEAR(r.nll_sum, want, 1e-4 * want);
  EXPECT_NEAR(std::log(r.perplexity), r.mean_nll, 1e-12);
  // One window covering everything equals a single full forward.
  PerplexityResult whole = strided_perplexity(*engine_, std::vector<int32_t>(ids.begin(), ids.begin() + 24), {});
  double full = 0;
  const float* logits = engine_->forward(ids.data(), 1, 24);
  for (int t = 1; t < 24; ++t) full += token_nll(logits + (t - 1) * 40, 40, ids[t]);
  EXPECT_NEAR(whole.nll_sum, full, 1e-6 * full);
  EXPECT_EQ(whole.context, 24);
  EXPECT_EQ(whole.stride, 12);
  expect_error([&] { strided_perplexity(*engine_, {1}, {}); }, "at least 2 tokens");
  expect_error([&] { strided_perplexity(*engine_, ids, {25, 0}); }, "n_positions = 24");
  expect_error([&] { strided_perplexity(*engine_, ids, {8, 9}); }, "stride");
  EXPECT_NEAR(bits_per_byte(std::log(2.0) * 10, 5), 2.0, 1e-12);
}

TEST(EvalMc, AccAndAccNormDisagreeOnAHandMadeTask) {
  // Choice 0 is short and likelier in total; choice 1 is long and likelier per character.
  std::vector<ScoredPair> pairs = {{"Q", " no", 2}, {"Q", " a much longer answer", 20}, {"Q", " maybe", 5}};
  const std::vector<double> lls = {-3.0, -10.0, -4.0};
  EXPECT_EQ(mc_argmax(lls), 0);
  EXPECT_EQ(mc_argmax_norm(lls, pairs), 1);  // -0.5 per character beats -1.5 and -0.8
  EXPECT_EQ(mc_argmax({-1.0, -1.0}), 0);     // ties go to the first
}

TEST(EvalMc, ScoresSeparateFromChoiceLengthInUnicodeCodePoints) {
  EXPECT_EQ(utf8_length("abc"), 3);
  EXPECT_EQ(utf8_length("caf\xc3\xa9"), 4);  // lm-eval divides by len(str), not bytes
  TaskItem item = parse_task_line(R"({"query": "Q:", "choices": ["caf\u00e9", "b"], "gold": 1})", "f:1");
  ASSERT_EQ(item.pairs.size(), 2u);
  EXPECT_EQ(item.pairs[0].continuation, " caf\xc3\xa9");
  EXPECT_EQ(item.pairs[0].norm_length, 4);
  EXPECT_EQ(item.pairs[1].context, "Q:");
  EXPECT_EQ(item.gold, 1);
}

TEST(EvalEncode, PairEncodingFollowsLmEval) {
  const Tokenizer tok = Tokenizer::from_dir(data_dir() + "/tokenizer/gpt2");
  LoglikRequest a = encode_pair(tok, "The cat sat on the", " mat", "f:1");
  EXPECT_EQ(a.tokens, tok.encode("The cat sat on the mat"));
  EXPECT_EQ(a.n_target, 1);
  // Trailing spaces of the context move to the continuation.
  LoglikRequest b = encode_pair(tok, "The cat sat on the ", "mat", "f:1");
  EXPECT_EQ(b.tokens, a.tokens);
  EXPECT_EQ(b.n_target, 1);
  // An empty context becomes the end-of-text token.
  LoglikRequest c = encode_pair(tok, "", "Hello world", "f:1");
  EXPECT_EQ(c.tokens.front(), Tokenizer::kEndOfText);
  EXPECT_EQ(c.n_target, static_cast<int>(tok.encode("Hello world").size()));
  expect_error([&] { encode_pair(tok, "abc", "", "f:9"); }, "in 'f:9'");
}

TEST(EvalData, HellaSwagPreprocessingMatchesLmEval) {
  // Expected strings from lm-eval's preprocess() run in Python.
  EXPECT_EQ(hellaswag_preprocess("[header] How to bowl [title] To bowl a googly. [step] As you bowl"),
            " How to bowl. To bowl a googly. As you bowl");
  EXPECT_EQ(hellaswag_preprocess("  a  b   c "), "a b  c");
  EXPECT_EQ(hellaswag_preprocess("x [y\nz] w"), "x [y\nz] w");
  EXPECT_EQ(hellaswag_preprocess("open [bracket"), "open [bracket");
  EXPECT_EQ(hellaswag_preprocess("Caf\xc3\xa9 [a]] b"), "Caf\xc3\xa9 ] b");
  EXPECT_EQ(capitalize_ascii("a few WOMEN"), "A few women");
  TaskItem item = parse_task_line(
      R"({"activity_label": "Pole vault", "ctx_a": "A man runs.", "ctx_b": "the MAN", "label": "1",
          "endings": ["jumps  high.", "falls [title] down"]})",
      "h:1");
  EXPECT_EQ(item.schema, TaskSchema::kHellaSwag);
  EXPECT_EQ(item.pairs[0].context, "Pole vault: A man runs. The man");
  EXPECT_EQ(item.pairs[0].continuation, " jumps high.");
  EXPECT_EQ(item.pairs[1].continuation, " falls. down");
  EXPECT_EQ(item.pairs[1].norm_length, 11);
  EXPECT_EQ(item.gold, 1);
}

TEST(EvalData, DetectsEachSchemaAndRejectsUnknownOnes) {
  EXPECT_EQ(detect_task_schema(R"({"context": "a", "continuation": "b"})", "f:1"), TaskSchema::kLambada);
  EXPECT_EQ(detect_task_schema(R"({"query": "a", "choices": ["b", "c"], "gold": 0})", "f:1"),
            TaskSchema::kQueryChoices);
  EXPECT_EQ(detect_task_schema(R"({"context_options": ["a", "b"], "continuation": "c", "gold": 0})", "f:1"),
            TaskSchema::kContextOptions);
  EXPECT_EQ(detect_task_schema(R"({"ctx_a": "", "endings": ["a", "b"], "label": 0})", "f:1"), TaskSchema::kHellaSwag);
  expect_error([] { detect_task_schema(R"({"question": "a", "answer": "b"})", "f:4"); }, "keys {answer,question}");
  TaskItem w =
      parse_task_line(R"({"context_options": ["A so A", "A so B"], "continuation": "won.", "gold": 1})", "f:1");
  ASSERT_EQ(w.pairs.size(), 2u);
  EXPECT_EQ(w.pairs[1].context, "A so B");
  EXPECT_EQ(w.pairs[1].continuation, " won.");
  TaskItem l = parse_task_line(R"({"context": "He said", "continuation": "hello"})", "f:1");
  EXPECT_EQ(l.pairs.size(), 1u);
  EXPECT_EQ(l.pairs[0].continuation, " hello");
}

TEST(EvalData, HostileLinesGiveOneErrorNamingFileAndLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"query": "a", "choices": ["b", "c"], "gold": 0)", "valid JSON"},
      {R"(["a", "b"])", "a JSON object per line"},
      {R"("just a string")", "a JSON object per line"},
      {R"({"query": "a", "choices": ["b", "c"]})", "key 'gold'"},
      {R"({"choices": ["b", "c"], "gold": 0})", "key 'query'"},
      {R"({"query": 3, "choices": ["b", "c"], "gold": 0})", "'query' to be a string"},
      {R"({"query": "a", "choices": "b", "gold": 0})", "'choices' to be an array"},
      {R"({"query": "a", "choices": [], "gold": 0})", "at least 2 entries"},
      {R"({"query": "a", "choices": ["b"], "gold": 0})", "at least 2 entries"},
      {R"({"query": "a", "choices": ["b", 7], "gold": 0})", "non-empty strings"},
      {R"({"query": "a", "choices": ["b", ""], "gold": 0})", "non-empty strings"},
      {R"({"query": "a", "choices": ["b", "c"], "gold": 2})", "'gold' in [0, 2)"},
      {R"({"query": "a", "choices": ["b", "c"], "gold": -1})", "'gold' in [0, 2)"},
      {R"({"query": "a", "choices": ["b", "c"], "gold": 1.0})", "'gold' to be an integer"},
      {R"({"query": "a", "choices": ["b", "c"], "gold": "1"})", "'gold' to be an integer"},
      {R"({"query": "a", "choices": ["b", "c"], "gold": true})", "'gold' to be an integer"},
      {R"({"query": "a", "query": "b", "choices": ["b", "c"], "gold": 0})", "duplicate key"},
      {R"({"context_options": ["a", "b"], "continuation": "", "gold": 0})", "'continuation' to be non-empty"},
      {R"({"context_options": "ab", "continuation": "c", "gold": 0})", "'context_options' to be an array"},
      {R"({"context": "a", "continuation": null})", "'continuation' to be a string"},
      {R"({"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": ["d", "e"], "label": "7"})",
       "'label' in [0, 2)"},
      {R"({"activity_label": "a", "ctx_b": "c", "endings": ["d", "e"], "label": 0})", "key 'ctx_a'"},
      {R"({"x": [[[[[[1]]]]]]})", "nested"},
  };
  for (const auto& [line, fragment] : cases) {
    SCOPED_TRACE(line);
    expect_error([&] { parse_task_line(line, "tasks.jsonl:5"); }, fragment);
    expect_error([&] { parse_task_line(line, "tasks.jsonl:5"); }, "in 'tasks.jsonl:5'");
  }
}

TEST(EvalData, ReadTaskFileCountsLinesSkipsBlanksAndHonoursTheLimit) {
  const std::string dir = test::scratch_dir("eval_read");
  const std::string good = R"({"context": "a", "continuation": "b"})";
  write_file_atomic(dir + "/ok.jsonl", good + "\n\n" + good + "\r\n" + good + "\n");
  auto items = read_task_file(dir + "/ok.jsonl");
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[1].line, 3);
  EXPECT_EQ(read_task_file(dir + "/ok.jsonl", 2).size(), 2u);
  write_file_atomic(dir + "/bad.jsonl", good + "\n" + good + "\n{\"context\": \"a\"}\n");
  expect_error([&] { read_task_file(dir + "/bad.jsonl"); }, "bad.jsonl:3");
  EXPECT_EQ(read_task_file(dir + "/bad.jsonl", 2).size(), 2u);  // a limit stops before the bad line
  write_file_atomic(dir + "/empty.jsonl", "\n \n");
  expect_error([&] { read_task_file(dir + "/empty.jsonl"); }, "at least one item");
  expect_error([&] { read_task_file(dir + "/missing.jsonl"); }, "missing.jsonl");
  for (const char* f : {"lambada", "arc_easy", "piqa", "winogrande", "hellaswag", "copa", "mixed"})
    EXPECT_GE(read_task_file(test::data_path(std::string("eval/") + f + ".jsonl")).size(), 4u) << f;
}

// Parity with lm-eval's prompt construction: tools/eval_goldens/make_requests_golden.py builds the pairs in
// Python (its hellaswag preprocess, str.capitalize, the " " delimiter, len() for acc_norm).
TEST(EvalData, PairsMatchThePythonReference) {
  const nlohmann::json golden = load_json_file(test::data_path("eval/requests_golden.json"), "test");
  int checked = 0;
  for (const auto& [name, items] : golden.items()) {
    const auto parsed = read_task_file(test::data_path("eval/" + name + ".jsonl"));
    ASSERT_EQ(parsed.size(), items.size()) << name;
    for (size_t i = 0; i < parsed.size(); ++i) {
      const auto& want = items[i]["pairs"];
      ASSERT_EQ(parsed[i].pairs.size(), want.size()) << name << " item " << i;
      EXPECT_EQ(parsed[i].gold, items[i]["gold"].get<int>()) << name << " item " << i;
      for (size_t k = 0; k < want.size(); ++k) {
        const ScoredPair& p = parsed[i].pairs[k];
        EXPECT_EQ(p.context, want[k][0].get<std::string>()) << name << " item " << i << " pair " << k;
        EXPECT_EQ(p.continuation, want[k][1].get<std::string>()) << name << " item " << i << " pair " << k;
        EXPECT_EQ(p.norm_length, want[k][2].get<int64_t>()) << name << " item " << i << " pair " << k;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 8 + 24 + 8 + 8 + 8 + 24 + 20);
}

TEST_F(EvalModel, TaskRunnersRejectTheWrongSchema) {
  const Tokenizer tok = Tokenizer::from_dir(data_dir() + "/tokenizer/gpt2");
  auto lambada = read_task_file(test::data_path("eval/lambada.jsonl"), 1);
  auto mc = read_task_file(test::data_path("eval/arc_easy.jsonl"), 1);
  expect_error([&] { evaluate_lambada(*engine_, tok, mc, "arc.jsonl"); }, "arc.jsonl:1");
  expect_error([&] { evaluate_multiple_choice(*engine_, tok, lambada, "l.jsonl"); }, "l.jsonl:1");
  expect_error([&] { evaluate_multiple_choice(*engine_, tok, {}, "e.jsonl"); }, "at least one item");
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
