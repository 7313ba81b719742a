// Diffs the pre-tokenizer classes of src/tokenizer/unicode_tables.cpp (Python unicodedata) against the
// classes node's own regex engine uses for \p{L}, \p{N} and \s (its ICU Unicode version), i.e. what the
// reference encoder sees. Usage:
//   python3 tools/gen_unicode_tables.py --dump-classes /tmp/classes.bin
//   node tools/tokenizer_goldens/compare_unicode.js /tmp/classes.bin
'use strict';
const table = require('fs').readFileSync(process.argv[2]);
const L = /^\p{L}$/u, N = /^\p{N}$/u, S = /^\s$/u;
const names = ['other', 'L', 'N', 'space'];
const diff = {}, examples = {};
for (let cp = 0; cp < 0x110000; ++cp) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;  // not characters; never produced from valid UTF-8
  const ch = String.fromCodePoint(cp);
  const node = S.test(ch) ? 3 : L.test(ch) ? 1 : N.test(ch) ? 2 : 0;
  if (node === table[cp]) continue;
  const key = names[table[cp]] + ' -> ' + names[node];
  diff[key] = (diff[key] || 0) + 1;
  (examples[key] = examples[key] || []).length < 5 && examples[key].push('U+' + cp.toString(16).toUpperCase());
}
console.log('node Unicode ' + process.versions.unicode + '; code points classed differently (tables -> node):');
for (const k of Object.keys(diff)) console.log('  ' + k + ': ' + diff[k] + ' (e.g. ' + examples[k].join(' ') + ')');
if (!Object.keys(diff).length) console.log('  none');
