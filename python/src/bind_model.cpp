// gaincell.Model: a model folder, its tokenizer and one attention backend, run by the same Engine, registry and
// option structs as the CLI (so logits are the same bits as `gaincell logits`). Computation releases the GIL; one
// mutex per Model serialises calls on the same object (its engine reuses its buffers).
#include <pybind11/stl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "analog/gaincell_attention.h"
#include "analog/hw_toml.h"
#include "common.h"
#include "core/error.h"
#include "eval/perplexity.h"
#include "kernels/bf16.h"
#include "kernels/threads.h"
#include "model/engine.h"
#include "model/model.h"
#include "model/sampler.h"
#include "tokenizer/tokenizer.h"

namespace gaincell::py {
namespace {

// A hardware TOML written for the backend factory (which reads AttentionOptions::hw_path), removed again
// once the backend has read it.
class TempToml {
 public:
  explicit TempToml(const HardwareConfig& hw) {
    std::string dir = std::filesystem::temp_directory_path().string();
    std::string tmpl = dir + "/gaincell-hw-XXXXXX";
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    int fd = mkstemp(name.data());
    if (fd < 0) fail_expected("python", "a writable temporary directory for the hardware TOML", dir);
    path_ = name.data();
    std::string text = hardware_to_toml(hw);
    const char* p = text.data();
    size_t left = text.size();
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n <= 0) {
        ::close(fd);
        std::remove(path_.c_str());
        fail_expected("python", "to write the temporary hardware TOML", std::strerror(errno));
      }
      p += n, left -= size_t(n);
    }
    ::close(fd);
  }
  ~TempToml() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

AttentionActivity minus(AttentionActivity a, const AttentionActivity& b) {
  a.tokens -= b.tokens, a.macs -= b.macs, a.cell_writes -= b.cell_writes, a.query_pulses -= b.query_pulses;
  a.cell_reads -= b.cell_reads, a.charge_to_pulse -= b.charge_to_pulse, a.adc_conversions -= b.adc_conversions;
  a.digital_adds -= b.digital_adds;
  return a;
}

pyb::str utf8(const std::string& bytes) {
  return pyb::reinterpret_steal<pyb::str>(PyUnicode_DecodeUTF8(bytes.data(), Py_ssize_t(bytes.size()), "replace"));
}

class PyModel {
 public:
  PyModel(const std::string& path, const std::string& attention, pyb::object hw, std::optional<int> window, int threads,
          uint64_t seed, const std::string& precision)
      : dir_(path), threads_(threads), precision_(parse_matmul_precision(precision)) {
    if (threads < 0) fail_expected("python", "threads >= 0 (0 = all cores)", std::to_string(threads));
    if (window && *window < 1) fail_expected("python", "window >= 1 or None", std::to_string(*window));
    AttentionOptions o;
    o.window = window.value_or(0);
    o.seed = seed;
    std::unique_ptr<TempToml> tmp;
    if (!hw.is_none()) {
      if (pyb::isinstance<HardwareConfig>(hw)) {
        tmp = std::make_unique<TempToml>(hw.cast<const HardwareConfig&>());
        o.hw_path = tmp->path();
      } else if (pyb::isinstance<pyb::str>(hw) || pyb::hasattr(hw, "__fspath__")) {
        o.hw_path = pyb::str(pyb::module_::import("os").attr("fspath")(hw)).cast<std::string>();
      } else {
        throw pyb::type_error("hw: expected None, a gaincell.HardwareConfig or a path to a hardware TOML, got " +
                              std::string(pyb::str(pyb::type::handle_of(hw).attr("__name__"))));
      }
    }
    pyb::gil_scoped_release nogil;
    set_compute_threads(threads_);
    // bf16: the projection weights held in bf16 (as `--precision bf16`); their GEMMs then run in bf16 whatever the
    // process-wide precision is, so Models of both precisions can live side by side.
    model_ = std::make_unique<Model>(Model::load(
        path, precision_ == MatmulPrecision::kBf16 ? WeightStorage::kBf16Projections : WeightStorage::kF32));
    attention_ = create_attention(attention, *model_, o);
    engine_ = std::make_unique<Engine>(*model_, *attention_);
  }

  pyb::object config() const { return json_loads(config_to_json(model_->config())); }
  std::string attention_name() const { return attention_->name(); }
  std::string precision() const { return matmul_precision_name(precision_); }
  const std::string& path() const { return dir_; }

  const Tokenizer& tokenizer() {
    if (!tok_) tok_.emplace(Tokenizer::from_dir(dir_));
    return *tok_;
  }

  std::vector<int32_t> tokenize(const std::string& text, bool add_special) {
    std::lock_guard<std::mutex> lock(mu_);
    const Tokenizer& t = tokenizer();
    return add_special ? t.encode(text, t.specials()) : t.encode(text);
  }

  pyb::str detokenize(pyb::handle ids) {
    std::vector<int32_t> v = token_list(ids, "ids");
    std::lock_guard<std::mutex> lock(mu_);
    return utf8(tokenizer().decode(v));
  }

  pyb::array_t<float> logits(pyb::handle tokens) {
    std::vector<int32_t> ids = token_list(tokens, "tokens");
    const ModelConfig& c = model_->config();
    if (ids.empty()) fail_expected("python", "at least one token", "an empty token list");
    if (int64_t(ids.size()) > c.n_positions)
      fail_expected("python", "at most n_positions = " + std::to_string(c.n_positions) + " tokens",
                    std::to_string(ids.size()) + " tokens");
    const int T = int(ids.size());
    pyb::array_t<float> out = new_f32({T, c.vocab_size});
    float* dst = out.mutable_data();
    {
      pyb::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      Run run(*this);
      const float* l = engine_->forward(ids.data(), 1, T);
      std::memcpy(dst, l, sizeof(float) * size_t(T) * size_t(c.vocab_size));
    }
    return out;
  }

  pyb::dict perplexity(const std::string& text, std::optional<int> context, std::optional<int> stride) {
    const ModelConfig& c = model_->config();
    PerplexityResult r;
    {
      pyb::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      const int L = context.value_or(c.n_positions);
      if (L < 2 || L > c.n_positions)
        fail_expected("python", "context in [2, n_positions = " + std::to_string(c.n_positions) + "]",
                      std::to_string(L));
      const int S = stride.value_or(std::max(1, L / 2));
      if (S < 1 || S > L)
        fail_expected("python", "stride in [1, context = " + std::to_string(L) + "]", std::to_string(S));
      const Tokenizer& t = tokenizer();
      std::vector<int32_t> ids = t.encode(text, {t.add_bos(), false});  // as `gaincell perplexity`
      Run run(*this);
      r = strided_perplexity(*engine_, ids, {L, S});
    }
    pyb::dict d;
    d["attention"] = attention_->name();
    d["context"] = r.context;
    d["stride"] = r.stride;
    d["tokens"] = r.tokens;
    d["scored_tokens"] = r.scored_tokens;
    d["bytes"] = text.size();
    d["nll_sum"] = r.nll_sum;
    d["mean_nll"] = r.mean_nll;
    d["perplexity"] = r.perplexity;
    d["bits_per_byte"] = bits_per_byte(r.nll_sum, int64_t(text.size()));
    return d;
  }

  pyb::str generate(const std::string& prompt, int n, float temperature, int top_k, float top_p, uint64_t seed) {
    SamplerConfig sc;
    sc.temperature = temperature, sc.top_k = top_k, sc.top_p = top_p;
    std::vector<std::string> problems = sc.validate();
    if (!problems.empty()) fail("python", problems[0]);
    if (n < 1) fail_expected("python", "n >= 1 tokens to generate", std::to_string(n));
    std::string text;
    {
      pyb::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      const ModelConfig& c = model_->config();
      const Tokenizer& t = tokenizer();
      std::vector<int32_t> ids = t.encode(prompt, {t.add_bos(), false});  // as `gaincell generate`
      if (ids.empty()) ids.push_back(t.start_id());
      if (int64_t(ids.size()) + n > c.n_positions)
        fail_expected("python", "prompt + generated tokens of at most n_positions = " + std::to_string(c.n_positions),
                      std::to_string(int64_t(ids.size()) + n) + " tokens");
      Run run(*this);
      engine_->decode_begin(1, int64_t(ids.size()) + n);
      Sampler sampler(sc, seed);
      const float* logits = engine_->decode_prefill(ids.data(), int(ids.size()));
      for (int i = 0; i < n; ++i) {
        int32_t next = sampler.sample(logits, c.vocab_size);
        text += t.decode_one(next);
        if (i + 1 < n) logits = engine_->decode_step(&next);
      }
    }
    return utf8(text);
  }

  pyb::list activity() const {
    std::lock_guard<std::mutex> lock(mu_);
    pyb::list out;
    for (const AttentionActivity& a : last_) {
      pyb::dict d;
      d["tokens"] = a.tokens, d["macs"] = a.macs, d["cell_writes"] = a.cell_writes;
      d["query_pulses"] = a.query_pulses, d["cell_reads"] = a.cell_reads, d["charge_to_pulse"] = a.charge_to_pulse;
      d["adc_conversions"] = a.adc_conversions, d["digital_adds"] = a.digital_adds;
      out.append(d);
    }
    return out;
  }

 private:
  // One run: sets the thread count, and records the activity counters the run added (activity()).
  struct Run {
    explicit Run(PyModel& m) : m_(m), before_(m.attention_->activity()) { set_compute_threads(m.threads_); }
    ~Run() {
      std::vector<AttentionActivity> after = m_.attention_->activity();
      m_.last_.assign(after.size(), {});
      for (size_t l = 0; l < after.size(); ++l)
        m_.last_[l] = l < before_.size() ? minus(after[l], before_[l]) : after[l];
    }
    PyModel& m_;
    std::vector<AttentionActivity> before_;
  };

  std::string dir_;
  int threads_;
  MatmulPrecision precision_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Attention> attention_;
  std::unique_ptr<Engine> engine_;
  std::optional<Tokenizer> tok_;
  std::vector<AttentionActivity> last_;
  mutable std::mutex mu_;
};

}  // namespace

void bind_model(pyb::module_& m) {
  pyb::class_<PyModel>(m, "_Model", "The C++ model runner; use gaincell.Model.")
      .def(pyb::init<const std::string&, const std::string&, pyb::object, std::optional<int>, int, uint64_t,
                     const std::string&>(),
           pyb::arg("path"), pyb::arg("attention") = "softmax", pyb::arg("hw") = pyb::none(),
           pyb::arg("window") = pyb::none(), pyb::arg("threads") = 0, pyb::arg("seed") = 0,
           pyb::arg("precision") = "f32")
      .def_property_readonly("precision", &PyModel::precision)
      .def_property_readonly("config", &PyModel::config)
      .def_property_readonly("attention", &PyModel::attention_name)
      .def_property_readonly("path", &PyModel::path)
      .def("tokenize", &PyModel::tokenize, pyb::arg("text"), pyb::arg("add_special") = false)
      .def("detokenize", &PyModel::detokenize, pyb::arg("ids"))
      .def("logits", &PyModel::logits, pyb::arg("tokens"))
      .def("perplexity", &PyModel::perplexity, pyb::arg("text"), pyb::arg("context") = pyb::none(),
           pyb::arg("stride") = pyb::none())
      .def("generate", &PyModel::generate, pyb::arg("prompt"), pyb::arg("n") = 64, pyb::arg("temperature") = 0.0f,
           pyb::arg("top_k") = 0, pyb::arg("top_p") = 1.0f, pyb::arg("seed") = 0)
      .def("activity", &PyModel::activity);
}

}  // namespace gaincell::py
