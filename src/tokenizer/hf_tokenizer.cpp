// Loading a Hugging Face tokenizer.json: the pipeline description (normalizer, pre-tokenizer, BPE model,
// decoder, added tokens) into HfBpeTokenizer (hf_bpe.h), with every check of docs/tokenizer.md.
#include "tokenizer/hf_tokenizer.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/hf_bpe.h"
#include "tokenizer/vocab_files.h"

namespace gaincell {
namespace {

using json = nlohmann::json;

// The split patterns of the tokenizer.json files in use, as written there (JSON-unescaped).
constexpr std::string_view kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class Loader {
 public:
  Loader(const std::string& path) : path_(path) {}

  [[noreturn]] void bad(const std::string& expected, const std::string& got, const std::string& where) const {
    fail_expected("tokenizer", expected, got, where + " in '" + path_ + "'");
  }

  static std::string short_dump(const json& j) {
    std::string s = j.dump();
    return s.size() > 60 ? s.substr(0, 57) + "..." : s;
  }

  const json& field(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object() || !obj.contains(key)) bad("a field \"" + std::string(key) + "\"", "none", where);
    return obj[key];
  }
  std::string string_field(const json& obj, const char* key, const std::string& where) const {
    const json& v = field(obj, key, where);
    if (!v.is_string()) bad("a string \"" + std::string(key) + "\"", short_dump(v), where);
    return v.get<std::string>();
  }
  bool bool_field(const json& obj, const char* key, bool fallback, const std::string& where) const {
    if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return fallback;
    if (!obj[key].is_boolean()) bad("a boolean \"" + std::string(key) + "\"", short_dump(obj[key]), where);
    return obj[key].get<bool>();
  }
  // The items of a {"type": "Sequence", key: [...]} or the single object itself.
  std::vector<const json*> steps(const json& obj, const char* list_key, const std::string& where) const {
    std::vector<const json*> out;
    if (obj.is_null()) return out;
    if (!obj.is_object()) bad("an object or null", short_dump(obj), where);
    if (string_field(obj, "type", where) == "Sequence") {
      const json& list = field(obj, list_key, where);
      if (!list.is_array()) bad("an array \"" + std::string(list_key) + "\"", short_dump(list), where);
      for (const json& s : list) {
        if (!s.is_object() || string_field(s, "type", where) == "Sequence")
          bad("a step object (not a nested Sequence)", short_dump(s), where);
        out.push_back(&s);
      }
    } else {
      out.push_back(&obj);
    }
    return out;
  }
  std::string string_pattern(const json& step, const std::string& where) const {
    const json& p = field(step, "pattern", where);
    if (!p.is_object() || !p.contains("String") || !p["String"].is_string())
      bad("a pattern {\"String\": ...} (regex patterns are not supported here)", short_dump(p), where);
    return p["String"].get<std::string>();
  }

  void normalizer(const json& j, HfBpeTokenizer& t) const {
    const std::string where = "in \"normalizer\"";
    for (const json* s : steps(j, "normalizers", where)) {
      const std::string type = string_field(*s, "type", where);
      if (type == "Prepend") {
        t.normalizer.push_back({HfNormStep::kPrepend, string_field(*s, "prepend", where), ""});
      } else if (type == "Replace") {
        const std::string from = string_pattern(*s, where);
        if (from.empty()) bad("a non-empty Replace pattern", "\"\"", where);
        t.normalizer.push_back({HfNormStep::kReplace, from, string_field(*s, "content", where)});
      } else if (type == "NFC") {
        t.normalizer.push_back({HfNormStep::kNfc, "", ""});
      } else {
        bad("a normalizer Prepend, Replace, NFC or Sequence of them", "'" + type + "'", where);
      }
    }
  }

  void pre_tokenizer(const json& j, HfBpeTokenizer& t) const {
    const std::string where = "in \"pre_tokenizer\"";
    for (const json* s : steps(j, "pretokenizers", where)) {
      const std::string type = string_field(*s, "type", where);
      if (type == "Split") {
        const json& p = field(*s, "pattern", where);
        if (!p.is_object() || !p.contains("Regex") || !p["Regex"].is_string())
          bad("a Split pattern {\"Regex\": ...}", short_dump(p), where);
        const std::string re = p["Regex"].get<std::string>();
        SplitPattern pattern;
        if (re == kLlama3Regex)
          pattern = SplitPattern::kLlama3;
        else if (re == kQwen2Regex)
          pattern = SplitPattern::kQwen2;
        else if (re == kGpt2Regex)
          pattern = SplitPattern::kGpt2;
        else
          bad("the GPT-2, Llama 3 or Qwen2 split pattern", "'" + re.substr(0, 60) + "'", where);
        const std::string behavior = string_field(*s, "behavior", where);
        if (behavior != "Isolated") bad("Split behavior 'Isolated'", "'" + behavior + "'", where);
        if (bool_field(*s, "invert", false, where)) bad("Split invert false", "true", where);
        t.pre_tokenizer.push_back({HfPreStep::kSplit, pattern, false});
      } else if (type == "ByteLevel") {
        t.byte_level = true;
        const bool prefix = bool_field(*s, "add_prefix_space", false, where);
        if (bool_field(*s, "use_regex", true, where))
          t.pre_tokenizer.push_back({HfPreStep::kSplit, SplitPattern::kGpt2, prefix});
        else if (prefix)
          t.pre_tokenizer.push_back({HfPreStep::kPrefixSpace, SplitPattern::kGpt2, true});
      } else if (type == "Digits") {
        const bool individual = bool_field(*s, "individual_digits", false, where);
        t.pre_tokenizer.push_back(
            {HfPreStep::kSplit, individual ? SplitPattern::kDigits : SplitPattern::kDigitRuns, false});
      } else {
        bad("a pre_tokenizer Split, ByteLevel, Digits or Sequence of them", "'" + type + "'", where);
      }
    }
  }

  void decoder(const json& j, HfBpeTokenizer& t) const {
    const std::string where = "in \"decoder\"";
    bool byte_level = false;
    for (const json* s : steps(j, "decoders", where)) {
      const std::string type = string_field(*s, "type", where);
      if (type == "ByteLevel") {
        byte_level = true;
      } else if (type == "Replace") {
        t.decode_replace.emplace_back(string_pattern(*s, where), string_field(*s, "content", where));
      } else if (type == "ByteFallback") {
        t.decode_byte_fallback = true;
      } else if (type == "Fuse") {
      } else if (type == "Strip") {
        const std::string content = string_field(*s, "content", where);
        const json& start = field(*s, "start", where);
        const json& stop = field(*s, "stop", where);
        if (!start.is_number_unsigned() || !stop.is_number_unsigned() || start.get<uint64_t>() > 16 ||
            stop.get<uint64_t>() > 16)
          bad("Strip start and stop in [0, 16]", short_dump(start) + ", " + short_dump(stop), where);
        t.strip_content = content;
        t.strip_start = start.get<int>(), t.strip_stop = stop.get<int>();
      } else {
        bad("a decoder ByteLevel, Replace, ByteFallback, Fuse, Strip or Sequence of them", "'" + type + "'", where);
      }
    }
    if (byte_level != t.byte_level)
      bad("a ByteLevel decoder exactly when the pre_tokenizer is ByteLevel",
          byte_level ? "a ByteLevel decoder only" : "a ByteLevel pre_tokenizer only", where);
  }

  // A vocabulary token as the bytes it stands for.
  std::string token_bytes(const std::string& s, bool byte_level, const std::string& where) const {
    if (!byte_level) {
      if (s.empty()) bad("a non-empty token", "\"\"", where);
      return s;
    }
    std::string bytes;
    if (!unicode_token_to_bytes(s, &bytes)) bad("a token in GPT-2 byte-to-unicode form", "'" + s + "'", where);
    return bytes;
  }

  void model(const json& m, HfBpeTokenizer& t, size_t n_added) const {
    const std::string where = "in \"model\"";
    if (!m.is_object()) bad("an object \"model\"", short_dump(m), where);
    const std::string type = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : "BPE";
    if (type != "BPE") bad("model type 'BPE'", "'" + type + "'", where);
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (m.contains(key) && !m[key].is_null() && !(m[key].is_string() && m[key].get<std::string>().empty()))
        bad(std::string("no ") + key, short_dump(m[key]), where);
    if (m.contains("dropout") && !m["dropout"].is_null() && !(m["dropout"].is_number() && m["dropout"] == 0))
      bad("no BPE dropout", short_dump(m["dropout"]), where);
    const json& vocab = field(m, "vocab", where);
    if (!vocab.is_object() || vocab.empty()) bad("a non-empty object \"vocab\"", short_dump(vocab), where);
    const size_t n = vocab.size();
    t.token.assign(n + n_added, std::string());
    t.present.assign(n + n_added, 0);
    for (const auto& [key, value] : vocab.items()) {
      const std::string w = "for vocab token '" + key + "'";
      if (!value.is_number_integer()) bad("an integer id", short_dump(value), w);
      const int64_t id = value.get<int64_t>();
      if (id < 0 || id >= static_cast<int64_t>(n))
        bad("an id in [0, " + std::to_string(n) + ")", std::to_string(id), w);
      if (t.present[id]) bad("unique ids", "id " + std::to_string(id) + " twice", w);
      std::string bytes = token_bytes(key, t.byte_level, w);
      if (!t.id_of.emplace(bytes, static_cast<int32_t>(id)).second) bad("unique tokens", "a duplicate", w);
      t.token[id] = std::move(bytes);
      t.present[id] = 1;
    }
    t.byte_fallback = bool_field(m, "byte_fallback", false, where);
    t.ignore_merges = bool_field(m, "ignore_merges", false, where);
    t.fuse_unk = bool_field(m, "fuse_unk", false, where);
    if (m.contains("unk_token") && !m["unk_token"].is_null()) {
      const std::string unk = string_field(m, "unk_token", where);
      auto it = t.id_of.find(token_bytes(unk, t.byte_level, where));
      if (it == t.id_of.end()) bad("an unk_token of the vocabulary", "'" + unk + "'", where);
      t.unk_id = it->second;
    }
    for (int b = 0; b < 256; ++b) {
      static const char* hex = "0123456789ABCDEF";
      const std::string name = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
      auto it = t.id_of.find(t.byte_level ? std::string(1, char(b)) : name);
      (t.byte_level ? t.byte_id : t.fallback_id)[b] = it == t.id_of.end() ? -1 : it->second;
    }
    merges(field(m, "merges", where), t);
  }

  int32_t merge_part(const HfBpeTokenizer& t, const std::string& part, const std::string& where) const {
    auto it = t.id_of.find(token_bytes(part, t.byte_level, where));
    if (it == t.id_of.end()) bad("merge parts that are vocabulary tokens", "'" + part + "'", where);
    return it->second;
  }

  void merges(const json& list, HfBpeTokenizer& t) const {
    if (!list.is_array()) bad("an array \"merges\"", short_dump(list), "in \"model\"");
    int32_t rank = 0;
    for (const json& m : list) {
      const std::string where = "at merge " + std::to_string(rank);
      std::string a, b;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() || s.find(' ', sp + 1) != std::string::npos)
          bad("a merge \"A B\" (two parts, one space)", "'" + s + "'", where);
        a = s.substr(0, sp), b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>(), b = m[1].get<std::string>();
      } else {
        bad("a merge \"A B\" or [\"A\", \"B\"]", short_dump(m), where);
      }
      const int32_t ia = merge_part(t, a, where), ib = merge_part(t, b, where);
      auto it = t.id_of.find(t.token[ia] + t.token[ib]);
      if (it == t.id_of.end()) bad("a merge result in the vocabulary", "'" + a + b + "' absent", where);
      if (!t.merges.add(ia, ib, {rank, it->second})) bad("each merge once", "'" + a + " " + b + "' again", where);
      ++rank;
    }
  }

  void added_tokens(const json& list, HfBpeTokenizer& t, size_t n_vocab) const {
    if (list.is_null()) return;
    if (!list.is_array()) bad("an array \"added_tokens\"", short_dump(list), "");
    for (const json& a : list) {
      const std::string where = "in \"added_tokens\"";
      const std::string content = string_field(a, "content", where);
      const json& idj = field(a, "id", where);
      const std::string w = "for added token '" + content + "'";
      if (content.empty()) bad("a non-empty content", "\"\"", w);
      if (!idj.is_number_integer()) bad("an integer id", short_dump(idj), w);
      const int64_t id = idj.get<int64_t>();
      if (id < 0 || id >= static_cast<int64_t>(t.token.size()))
        bad("an id in [0, " + std::to_string(t.token.size()) + ")", std::to_string(id), w);
      if (t.present[id] && !(id < static_cast<int64_t>(n_vocab) && t.token[id] == token_bytes_or_raw(content, t)))
        bad("an id not used by another token", "id " + std::to_string(id) + " taken", w);
      for (const HfAddedToken& other : t.added)
        if (other.content == content) bad("each added token once", "'" + content + "' again", w);
      if (id >= static_cast<int64_t>(n_vocab)) t.token[id] = content;
      t.present[id] = 1;
      t.added.push_back({content, static_cast<int32_t>(id), bool_field(a, "special", false, w),
                         bool_field(a, "lstrip", false, w), bool_field(a, "rstrip", false, w)});
    }
  }

  // An added token's content as a vocabulary token's bytes (for the check that it is the same token).
  std::string token_bytes_or_raw(const std::string& content, const HfBpeTokenizer& t) const {
    if (!t.byte_level) return content;
    std::string bytes;
    return unicode_token_to_bytes(content, &bytes) ? bytes : content;
  }

 private:
  std::string path_;
};

int32_t token_id(const HfBpeTokenizer& t, const std::string& content) {
  if (content.empty()) return -1;
  for (const HfAddedToken& a : t.added)
    if (a.content == content) return a.id;
  std::string bytes = content;
  if (t.byte_level && !unicode_token_to_bytes(content, &bytes)) return -1;
  auto it = t.id_of.find(bytes);
  return it == t.id_of.end() ? -1 : it->second;
}

// The special token a TemplateProcessing "single" template starts (front) or ends with, "" if none.
std::string template_special(const json& post, bool front) {
  if (!post.is_object() || !post.contains("type") || post["type"] != "TemplateProcessing") return "";
  if (!post.contains("single") || !post["single"].is_array() || post["single"].empty()) return "";
  const json& item = front ? post["single"].front() : post["single"].back();
  if (!item.is_object() || !item.contains("SpecialToken")) return "";
  const json& st = item["SpecialToken"];
  return st.is_object() && st.contains("id") && st["id"].is_string() ? st["id"].get<std::string>() : "";
}

}  // namespace

ConfigTokens parse_tokenizer_config(std::string_view config_text, const std::string& config_path,
                                    SpecialTokens* specials) {
  ConfigTokens out;
  if (config_text.empty()) return out;
  const json j = json::parse(config_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    fail_expected("tokenizer", "a JSON object", j.is_discarded() ? "text that is not JSON" : j.type_name(),
                  "in '" + config_path + "'");
  for (auto [key, flag, has] : {std::tuple{"add_bos_token", &specials->add_bos, &out.has_add_bos},
                                std::tuple{"add_eos_token", &specials->add_eos, &out.has_add_eos}}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    if (!j[key].is_boolean())
      fail_expected("tokenizer", std::string("a boolean \"") + key + "\"", j[key].dump(), "in '" + config_path + "'");
    *flag = j[key].get<bool>(), *has = true;
  }
  for (auto [key, dest] : {std::pair{"bos_token", &out.bos}, std::pair{"eos_token", &out.eos}}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    const json& v = j[key];
    if (v.is_string())
      *dest = v.get<std::string>();
    else if (v.is_object() && v.contains("content") && v["content"].is_string())
      *dest = v["content"].get<std::string>();
    else
      fail_expected("tokenizer", std::string("a string or {\"content\": ...} \"") + key + "\"", v.dump(),
                    "in '" + config_path + "'");
  }
  return out;
}

std::unique_ptr<TokenizerBackend> parse_hf_tokenizer(std::string_view json_text, std::string_view config_text,
                                                     const std::string& json_path, const std::string& config_path) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail_expected("tokenizer", "JSON", "text that is not JSON", "in '" + json_path + "'");
  return parse_hf_tokenizer(j, config_text, json_path, config_path);
}

std::unique_ptr<TokenizerBackend> parse_hf_tokenizer(const json& j, std::string_view config_text,
                                                     const std::string& json_path, const std::string& config_path) {
  if (!j.is_object()) fail_expected("tokenizer", "a JSON object", j.type_name(), "in '" + json_path + "'");
  const Loader load(json_path);
  auto t = std::make_unique<HfBpeTokenizer>();
  const json null_json;
  auto get = [&](const char* key) -> const json& { return j.contains(key) ? j[key] : null_json; };
  load.normalizer(get("normalizer"), *t);
  load.pre_tokenizer(get("pre_tokenizer"), *t);
  load.decoder(get("decoder"), *t);
  const json& added = get("added_tokens");
  size_t n_added = added.is_array() ? added.size() : 0;
  load.model(load.field(j, "model", ""), *t, n_added);
  const size_t n_vocab = t->token.size() - n_added;
  load.added_tokens(added, *t, n_vocab);
  // Ids must be dense: [0, vocab + added tokens beyond it).
  size_t size = t->token.size();
  while (size > n_vocab && !t->present[size - 1]) --size;
  for (size_t id = 0; id < size; ++id)
    if (!t->present[id]) load.bad("dense token ids", "no token for id " + std::to_string(id), "");
  t->token.resize(size), t->present.resize(size);
  t->is_added.assign(size, 0);
  for (const HfAddedToken& a : t->added) t->is_added[a.id] = 1;
  t->index_added_tokens();

  const ConfigTokens ct = parse_tokenizer_config(config_text, config_path, &t->specials);
  const json& post = get("post_processor");
  const std::string bos = ct.bos.empty() ? template_special(post, true) : ct.bos;
  const std::string eos = ct.eos.empty() ? template_special(post, false) : ct.eos;
  t->specials.bos_id = token_id(*t, bos);
  t->specials.eos_id = token_id(*t, eos);
  if (!ct.has_add_bos) t->specials.add_bos = !template_special(post, true).empty();
  if (!ct.has_add_eos) t->specials.add_eos = !template_special(post, false).empty();
  if (t->specials.add_bos && t->specials.bos_id < 0)
    fail_expected("tokenizer", "a bos_token of the vocabulary when add_bos_token is true", "'" + bos + "'",
                  "in '" + config_path + "'");
  if (t->specials.add_eos && t->specials.eos_id < 0)
    fail_expected("tokenizer", "an eos_token of the vocabulary when add_eos_token is true", "'" + eos + "'",
                  "in '" + config_path + "'");
  return t;
}

}  // namespace gaincell
