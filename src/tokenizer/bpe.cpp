#include "tokenizer/bpe.h"

#include <algorithm>
#include <queue>

namespace gaincell {

bool MergeTable::add(int32_t left, int32_t right, Rule rule) {
  return rules_.emplace(key(left, right), rule).second;
}

namespace {

// A candidate merge of the symbol at `pos` with its right neighbour, valid while both still hold a / b.
struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t a, b;
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

// Symbols as a linked list over the original positions; a merged symbol keeps its left position.
struct SymbolList {
  std::vector<int32_t> id, next, prev;
  std::vector<char> alive;
};

using CandidateHeap = std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>>;

void push_pair(const MergeTable& merges, const SymbolList& s, int32_t pos, CandidateHeap& heap) {
  if (pos < 0) return;
  const int32_t right = s.next[pos];
  if (right < 0) return;
  if (const MergeTable::Rule* r = merges.find(s.id[pos], s.id[right]))
    heap.push({r->rank, pos, s.id[pos], s.id[right]});
}

// Applies one candidate if it still holds; returns whether it merged.
bool apply(const MergeTable& merges, SymbolList& s, const Candidate& c) {
  if (!s.alive[c.pos] || s.id[c.pos] != c.a) return false;
  const int32_t right = s.next[c.pos];
  if (right < 0 || s.id[right] != c.b) return false;
  s.id[c.pos] = merges.find(c.a, c.b)->result;
  s.next[c.pos] = s.next[right];
  if (s.next[right] >= 0) s.prev[s.next[right]] = c.pos;
  s.alive[right] = 0;
  return true;
}

}  // namespace

void bpe_merge(const MergeTable& merges, std::vector<int32_t>& ids) {
  const int32_t n = static_cast<int32_t>(ids.size());
  if (n < 2) return;
  SymbolList s{ids, std::vector<int32_t>(n), std::vector<int32_t>(n), std::vector<char>(n, 1)};
  for (int32_t i = 0; i < n; ++i) s.next[i] = i + 1 < n ? i + 1 : -1, s.prev[i] = i - 1;
  CandidateHeap heap;
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(merges, s, i, heap);
  std::vector<int32_t> merged;
  while (!heap.empty()) {
    // All occurrences of the lowest-rank pair, left to right; pairs they create wait for the next round.
    const int32_t rank = heap.top().rank;
    merged.clear();
    while (!heap.empty() && heap.top().rank == rank) {
      const Candidate c = heap.top();
      heap.pop();
      if (apply(merges, s, c)) merged.push_back(c.pos);
    }
    for (int32_t pos : merged) {
      push_pair(merges, s, s.prev[pos], heap);
      push_pair(merges, s, pos, heap);
    }
  }
  ids.clear();
  for (int32_t i = 0; i >= 0; i = s.next[i]) ids.push_back(s.id[i]);
}

void bpe_merge_reference(const MergeTable& merges, std::vector<int32_t>& ids) {
  while (ids.size() >= 2) {
    const MergeTable::Rule* best = nullptr;
    int32_t first = 0, second = 0;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const MergeTable::Rule* r = merges.find(ids[i], ids[i + 1]);
      if (r && (!best || r->rank < best->rank)) best = r, first = ids[i], second = ids[i + 1];
    }
    if (!best) break;
    std::vector<int32_t> out;
    for (size_t i = 0; i < ids.size();) {
      if (i + 1 < ids.size() && ids[i] == first && ids[i + 1] == second) {
        out.push_back(best->result);
        i += 2;
      } else {
        out.push_back(ids[i++]);
      }
    }
    ids.swap(out);
  }
}

}  // namespace gaincell
