#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <new>
#include <set>

#include "core/buffer.h"
#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

// A failed growth throws and leaves the buffer as it was (it used to free first: a null buffer with the old
// capacity), and a size whose byte count overflows size_t is refused instead of wrapping to a tiny allocation.
TEST(AlignedBuffer, FailedGrowthThrowsAndKeepsTheOldAllocation) {
  AlignedBuffer<float> b(100);
  for (size_t i = 0; i < 100; ++i) b[i] = float(i);
  float* const before = b.data();
  for (size_t huge : {SIZE_MAX, SIZE_MAX / 4, size_t{1} << 62, size_t{1} << 60}) {
    EXPECT_THROW(b.resize(huge), std::bad_alloc) << huge;
    EXPECT_EQ(b.data(), before);
    EXPECT_EQ(b.size(), 100u);
    EXPECT_EQ(b.capacity(), 100u);
  }
  b.resize(50);  // within capacity: same memory, contents kept
  EXPECT_EQ(b.data(), before);
  EXPECT_EQ(b[99], 99.0f);
  b.resize(1000);
  EXPECT_NE(b.data(), nullptr);
  EXPECT_EQ(b.capacity(), 1000u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
}

// Buffers of 2 MiB and more start on a 2 MiB boundary (transparent huge pages for streamed weights), smaller ones
// on 64 bytes; both hold what is written to them.
TEST(AlignedBuffer, LargeBuffersStartOnAHugePageBoundary) {
  AlignedBuffer<uint16_t> small(1000), large(kHugePage / 2 + 7);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(large.data()) % kHugePage, 0u);
  for (size_t i = 0; i < large.size(); ++i) large[i] = uint16_t(i);
  EXPECT_EQ(large[large.size() - 1], uint16_t(large.size() - 1));
}

TEST(Rng, SameSeedSameStreamDifferentTagsDiffer) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
  Rng c = Rng(42).split(1), d = Rng(42).split(2);
  EXPECT_NE(c.next_u64(), d.next_u64());
}

TEST(Rng, NormalMomentsWithinConfidenceBounds) {
  Rng r(7);
  const int n = 200000;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    double x = r.normal();
    s += x;
    s2 += x * x;
  }
  double mean = s / n, var = s2 / n - mean * mean;
  EXPECT_LT(std::abs(mean), 5.0 / std::sqrt(n));             // 5 sigma of the sample mean
  EXPECT_LT(std::abs(var - 1.0), 5.0 * std::sqrt(2.0 / n));  // 5 sigma of the sample variance
}

TEST(AtomicFile, UncommittedWriteLeavesNoFile) {
  std::string dir = test::scratch_dir("atomic");
  std::string path = dir + "/out.bin";
  {
    AtomicFile f(path);
    f.write("partial");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  write_file_atomic(path, "whole");
  EXPECT_EQ(read_file(path), "whole");
}

TEST(MappedFile, MissingFileThrowsNamingPath) {
  try {
    MappedFile m("/nonexistent/file.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/file.bin"), std::string::npos);
  }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
