// Counter-based, splittable random numbers (style R12). A stream is (key, counter); values depend only on
// the key and the draw index, never on threads or timing. Derive independent streams with split(tag).
#pragma once
#include <cstdint>

namespace gaincell {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : key_(mix(seed ^ 0x9E3779B97F4A7C15ull)) {}
  // A new independent stream for `tag` (for example a layer index or a purpose code).
  Rng split(uint64_t tag) const {
    Rng r;
    r.key_ = mix(key_ ^ mix(tag + 0xD1B54A32D192ED03ull));
    return r;
  }
  uint64_t next_u64() { return mix(key_ + 0x9E3779B97F4A7C15ull * (++counter_)); }
  // Uniform in [0, 1) with 24 random bits (exactly representable in float).
  float uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform_double() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  // Standard normal (Box-Muller, one value per call; deterministic).
  double normal();
  uint64_t counter() const { return counter_; }
  uint64_t key() const { return key_; }
  // Restores a saved stream position (for checkpoints).
  void restore(uint64_t key, uint64_t counter) {
    key_ = key;
    counter_ = counter;
  }

  static uint64_t mix(uint64_t z) {  // splitmix64 finaliser
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t key_ = 0;
  uint64_t counter_ = 0;
};

}  // namespace gaincell
