#!/usr/bin/env node
// Writes tests/data/tokenizer/hf_goldens.json: golden ids of Hugging Face tokenizer.json tokenizers from
// @lenml/tokenizers (a transformers.js port) with the real files of @lenml/tokenizer-{llama2,llama3,qwen3},
// and copies those files to tests/data/tokenizer/<name>/ for the C++ tests (tests/parity/hf_tokenizer_golden_test.cpp).
// Usage: node make_goldens.js [SHARED_DATA_DIR]   (run through make_goldens.sh, which installs the packages)
"use strict";
const fs = require("fs");
const path = require("path");
const { TokenizerLoader } = require("@lenml/tokenizers");

const root = path.resolve(__dirname, "..", "..");
const shared = process.argv[2] || path.resolve(root, "..", "shared", "data");
const outDir = path.join(root, "tests", "data", "tokenizer");

const CASES = {
  ascii: "Hello, world! This is a test.",
  leading_space: " Hello",
  two_leading_spaces: "  two leading spaces",
  trailing_spaces: "trailing spaces   ",
  whitespace_runs: "a  b   c    d\t\te\n\nf \n g\r\nh   \n\n  i",
  only_spaces: "     ",
  newlines: "line one\nline two\n\n\nline five\n",
  crlf: "windows\r\nline\r\n\r\nend",
  tabs: "\tindented\n\t\tmore\t",
  contractions: "I'm you're we've they'll she'd it's don't",
  contractions_upper: "I'M YOU'RE WE'VE THEY'LL SHE'D IT'S DON'T 'S 'T",
  apostrophes: "rock'n'roll 'quoted' o'clock ''",
  digits: "1 12 123 1234 12345 123456 3.14159 1,000,000 2026-12-07",
  unicode_digits: "٣٤٥ ௧௨௩ ¹²³ ½",
  code: "def f(x):\n    return x ** 2  # square\n\nif __name__ == \"__main__\":\n    print(f(3))\n",
  code_braces: "for (int i = 0; i < n; ++i) { a[i] += b[i] * 2; }",
  punctuation: "Wait... what?!? (yes) [no] {maybe} <tag> -- --- ***",
  url: "https://example.com/path?q=1&r=two#frag",
  accents: "café naïve résumé Ångström",
  combining: "cafe\u0301 e\u0301\u0323 A\u030A",
  cjk: "你好，世界！今天天气很好。",
  japanese: "こんにちは、世界。カタカナとひらがな。",
  korean: "안녕하세요 세계",
  emoji: "I love 🍕 and 🚀! 👍🏽 👨‍👩‍👧‍👦 ❤️",
  mixed_scripts: "Привет мир! Γειά σου κόσμε. مرحبا بالعالم",
  fullwidth: "ＡＢＣ１２３",
  nbsp: "a\u00a0b\u3000c",
  controls: "a\u0001b\u007fc",
  rare_bytes: "\u00ff\u00fe\u0100",
  special_llama2: "<s>Hello</s> and <unk> inside",
  special_llama3: "<|begin_of_text|>Hello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhi",
  special_qwen: "<|im_start|>user\nhi<|im_end|>\n<think>\nok\n</think>",
  special_adjacent: "x<|endoftext|>y <s> z</s>",
  long_word: "Pneumonoultramicroscopicsilicovolcanoconiosis",
  repeated: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  empty: "",
};

// Slices of the shared corpora, cut at line boundaries.
function slice(file, start, length) {
  const p = path.join(shared, file);
  if (!fs.existsSync(p)) throw new Error("missing corpus " + p);
  const text = fs.readFileSync(p, "utf8");
  let a = text.indexOf("\n", start) + 1;
  let b = text.indexOf("\n", a + length);
  return text.slice(a, b + 1);
}
CASES.tinyshakespeare = slice("NathanLeroux-git__GainCellAttention/input.txt", 50000, 1500);
CASES.wikitext = slice("MichaelZhouwang__Commonsense_Pretraining/wikitext-2-raw/wiki.test.raw", 20000, 2500);
CASES.tinystories = slice("yuninxia__moe-routing-bench/tinystories_val.txt", 10000, 1500);

// Whole corpus files: token count, FNV-1a 64 of the ids as little-endian int32, first and last 64 ids.
const FILES = ["NathanLeroux-git__GainCellAttention/input.txt", "yuninxia__moe-routing-bench/tinystories_val.txt"];
function fnv1a64(ids) {
  let h = 0xcbf29ce484222325n;
  for (const id of ids) {
    const u = BigInt(id >>> 0);
    for (let k = 0n; k < 4n; ++k) h = ((h ^ ((u >> (8n * k)) & 0xffn)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0");
}

const MODELS = ["llama2", "llama3", "qwen3"];
const result = { generator: "tools/hf_tokenizer_goldens/make_goldens.js", packages: {}, cases: CASES, models: {} };
for (const name of MODELS) {
  const pkg = "@lenml/tokenizer-" + name;
  const dir = path.join(__dirname, "node_modules", pkg);
  result.packages[pkg] = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).version;
  const tjson = fs.readFileSync(path.join(dir, "models", "tokenizer.json"), "utf8");
  const tconf = fs.readFileSync(path.join(dir, "models", "tokenizer_config.json"), "utf8");
  const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: JSON.parse(tjson), tokenizerConfig: JSON.parse(tconf) });
  const m = { ids: {}, ids_special: {}, decoded: {} };
  for (const [k, text] of Object.entries(CASES)) {
    const ids = tok.encode(text, { add_special_tokens: false });
    m.ids[k] = ids;
    m.ids_special[k] = tok.encode(text, { add_special_tokens: true });
    m.decoded[k] = ids.length ? tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "";
  }
  m.files = FILES.map((rel) => {
    const raw = fs.readFileSync(path.join(shared, rel));
    const ids = tok.encode(raw.toString("utf8"), { add_special_tokens: false });
    return { path: rel, bytes: raw.length, sha256: require("crypto").createHash("sha256").update(raw).digest("hex"),
             count: ids.length, fnv1a64_le_int32: fnv1a64(ids), first: ids.slice(0, 64), last: ids.slice(-64) };
  });
  result.models[name] = m;
  const dest = path.join(outDir, name);
  fs.mkdirSync(dest, { recursive: true });
  fs.writeFileSync(path.join(dest, "tokenizer.json"), tjson);
  fs.writeFileSync(path.join(dest, "tokenizer_config.json"), tconf);
}
result.packages["@lenml/tokenizers"] = JSON.parse(fs.readFileSync(path.join(__dirname, "node_modules/@lenml/tokenizers/package.json"), "utf8")).version;
// One case per line keeps the file diffable.
let out = JSON.stringify(result, null, 1);
fs.writeFileSync(path.join(outDir, "hf_goldens.json"), out + "\n");
console.log("wrote", path.join(outDir, "hf_goldens.json"), out.length, "bytes");
