// Byte-pair merging of one pre-tokenized piece, as OpenAI's encoder.py `bpe()`: repeatedly take the
// lowest-rank adjacent pair and merge all its non-overlapping occurrences left to right.
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace gaincell {

// Merge rules keyed by the pair of token ids they join.
class MergeTable {
 public:
  struct Rule {
    int32_t rank;    // line number after the "#version" header, from 0
    int32_t result;  // id of the merged token
  };
  // Returns false if the pair already has a rule.
  bool add(int32_t left, int32_t right, Rule rule);
  const Rule* find(int32_t left, int32_t right) const {
    auto it = rules_.find(key(left, right));
    return it == rules_.end() ? nullptr : &it->second;
  }
  size_t size() const { return rules_.size(); }
  const std::unordered_map<uint64_t, Rule>& rules() const { return rules_; }

 private:
  static uint64_t key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }
  std::unordered_map<uint64_t, Rule> rules_;
};

// Merges ids (initially one byte token per byte) in place. O(n log n) with a heap; equal to
// bpe_merge_reference for every input.
void bpe_merge(const MergeTable& merges, std::vector<int32_t>& ids);

// The plain O(n^2) transcription of encoder.py's loop; kept as the reference for tests (style R8).
void bpe_merge_reference(const MergeTable& merges, std::vector<int32_t>& ids);

}  // namespace gaincell
