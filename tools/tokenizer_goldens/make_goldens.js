// Writes cases.json (edge-case strings with their ids) and files.json (count, FNV-1a 64 hash and the first
// and last 64 ids of whole corpus files) from the npm gpt-3-encoder@1.1.4. Run via make_goldens.sh.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { encode, decode } = require('./node_modules/gpt-3-encoder');

const [outDir, sharedDir] = process.argv.slice(2);

const CASES = [
  ['empty', ''],
  ['single_char', 'x'],
  ['single_space', ' '],
  ['single_newline', '\n'],
  ['hello_world', 'Hello world'],
  ['sentence', 'Hello, world! How are you today?'],
  ['leading_space', ' leading space'],
  ['trailing_space', 'trailing space '],
  ['trailing_spaces', 'trailing spaces   '],
  ['trailing_newline', 'trailing newline\n'],
  ['trailing_two_newlines', 'two newlines\n\n'],
  ['leading_newlines', '\n\n\nthree leading newlines'],
  ['blank_line_between', 'Hello\n\nWorld'],
  ['space_runs', 'a  b   c    d     e'],
  ['space_run_then_text', 'word          \n\n\n   end'],
  ['space_before_newline', 'a \nb  \n c'],
  ['only_spaces', '     '],
  ['only_mixed_whitespace', '\t \n \r\n \t\t'],
  ['tabs', 'tabs\tand\t\ttabs\t'],
  ['crlf', 'windows\r\nline\r\nendings\r\n'],
  ['indented_code', '    indented\n        more\n\tend\n'],
  ['contractions', "it's don't we're they've I'm we'll he'd"],
  ['contractions_upper', "IT'S DON'T WE'RE THEY'VE I'M WE'LL HE'D"],
  ['contractions_bare', "'s 't 're 've 'm 'll 'd 'x"],
  ['apostrophes', "rock 'n' roll, ''quoted'' and 'single' ' 's"],
  ['curly_apostrophe', 'it\u2019s don\u2019t'],
  ['accented_latin', 'café naïve résumé façade Ærøskøbing'],
  ['accented_upper', 'Ünïcödé ÀÉÎÕÜ ß ẞ œuvre'],
  ['combining_marks', 'e\u0301te\u0301 a\u0308 n\u0303'],
  ['japanese', '日本語のテキストです。カタカナとひらがな'],
  ['chinese', '中文文本，包含标点符号！还有数字１２３'],
  ['korean', '안녕하세요 세계'],
  ['emoji', 'I love 🍕 and 🎉!'],
  ['emoji_zwj', 'family: 👨‍👩‍👧‍👦 and 🏳️‍🌈 flags 🇺🇸🇯🇵'],
  ['emoji_skin_tone', '👍🏽👋🏿 ok'],
  ['digits', '12345 1 22 333 4444'],
  ['long_digits', '3.14159265358979323846264338327950288419716939937510'],
  ['digit_run', '1234567890123456789012345678901234567890'],
  ['numbers_mixed', 'Phone: +1 (555) 123-4567, $1,000.00, 50% off, 2nd 3rd'],
  ['unicode_numbers', 'Arabic-Indic ٠١٢٣ and superscript x² y³ ½ Ⅻ'],
  ['code_python', 'def foo(x):\n    return x**2  # square\n\nprint(foo(3))\n'],
  ['code_c', 'int main() {\n\tprintf("%d\\n", a[i++]);\n\treturn 0;\n}\n'],
  ['punctuation_runs', '!!!??? ... --- *** ///\\\\ @@@ ### ;;; ::'],
  ['url', 'https://example.com/path?query=1&b=2#frag'],
  ['email', 'email@example.com, user_name-123'],
  ['endoftext_alone', '<|endoftext|>'],
  ['endoftext_in_text', 'text<|endoftext|>more text'],
  ['mixed_scripts', 'English, Русский, Ελληνικά, العربية, עברית, हिन्दी'],
  ['mixed_no_spaces', 'Mixed日本English中文123abc'],
  ['fullwidth', 'Ｆｕｌｌｗｉｄｔｈ\u3000ｔｅｘｔ１２３'],
  ['unicode_spaces', 'a\u00a0b\u2003c\u3000d\u202fe \u00a0f'],
  ['zero_width_and_bom', 'zero\u200bwidth\ufeffbom \ufeff'],
  ['next_line_u0085', 'line\u0085next'],
  ['control_chars', 'a\u0000b\u0001c\u001f\u007fd'],
  ['long_word', 'antidisestablishmentarianism supercalifragilisticexpialidocious'],
  ['repeated_letters', 'a'.repeat(40) + ' ' + 'ab'.repeat(20)],
  ['repeated_spaces_long', 'x' + ' '.repeat(33) + 'y'],
];

// FNV-1a 64 of the ids as little-endian int32.
function fnv1a64(ids) {
  const buf = Buffer.alloc(ids.length * 4);
  ids.forEach((id, i) => buf.writeInt32LE(id, i * 4));
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n, mask = 0xffffffffffffffffn;
  for (const b of buf) h = ((h ^ BigInt(b)) * prime) & mask;
  return h.toString(16).padStart(16, '0');
}

// gpt-3-encoder is quadratic in the text length, so encode in chunks cut where a non-whitespace character is
// followed by a whitespace one: always a pre-tokenizer boundary (see shared/data/SOURCES.md, section 1).
function encodeLarge(text, chunk = 4000) {
  const ids = [];
  let start = 0;
  while (start < text.length) {
    let cut = Math.min(text.length, start + chunk);
    while (cut < text.length && !(/\S/.test(text[cut - 1]) && /\s/.test(text[cut]))) ++cut;
    for (const id of encode(text.slice(start, cut))) ids.push(id);
    start = cut;
  }
  return ids;
}

function writeJson(file, value) {
  // One line per id list keeps the files short and diffs readable.
  const text = JSON.stringify(value, null, 1).replace(/\[[\d,\s-]*\]/g, (m) => m.replace(/\s+/g, ''));
  fs.writeFileSync(file, text + '\n');
  console.log('wrote ' + file);
}

fs.mkdirSync(outDir, { recursive: true });
const cases = CASES.map(([name, text]) => {
  const ids = encode(text);
  if (decode(ids) !== text) throw new Error('reference does not round-trip case ' + name);
  return { name, text, ids };
});
writeJson(path.join(outDir, 'cases.json'),
          { generator: 'tools/tokenizer_goldens/make_goldens.sh', encoder: 'gpt-3-encoder@1.1.4',
            node_unicode: process.versions.unicode, cases });

const FILES = [
  ['NathanLeroux-git__GainCellAttention/input.txt', 338025],
  ['MichaelZhouwang__Commonsense_Pretraining/wikitext-2-raw/wiki.valid.raw', 249887],
];
if (!fs.existsSync(sharedDir)) {
  console.log('no shared data at ' + sharedDir + ': files.json left as it is');
  process.exit(0);
}
const files = FILES.map(([rel, expected]) => {
  const raw = fs.readFileSync(path.join(sharedDir, rel));
  const ids = encodeLarge(raw.toString('utf8'));
  if (ids.length !== expected) throw new Error(rel + ': ' + ids.length + ' tokens, SOURCES.md says ' + expected);
  return { path: rel, bytes: raw.length, sha256: crypto.createHash('sha256').update(raw).digest('hex'),
           count: ids.length, fnv1a64_le_int32: fnv1a64(ids), first: ids.slice(0, 64), last: ids.slice(-64) };
});
writeJson(path.join(outDir, 'files.json'),
          { generator: 'tools/tokenizer_goldens/make_goldens.sh', encoder: 'gpt-3-encoder@1.1.4', files });
