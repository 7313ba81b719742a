// An owning, 64-byte aligned float buffer. Allocate once and reuse: touching fresh memory is expensive on
// these machines (docs/performance.md), so hot paths resize() only when a larger size is needed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace gaincell {

constexpr size_t kHugePage = size_t{2} << 20;
// madvise(MADV_HUGEPAGE) on [p, p + bytes) where the system supports it (advice only: a failure changes nothing).
void advise_huge_pages(void* p, size_t bytes);

template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), cap_(std::exchange(o.cap_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      cap_ = std::exchange(o.cap_, 0);
    }
    return *this;
  }

  // Grows capacity if needed (contents are not preserved on growth); never shrinks the allocation. Allocates
  // before it frees: when the allocation fails (or n * sizeof(T) overflows) it throws std::bad_alloc and the
  // buffer keeps its old allocation, size and capacity.
  void resize(size_t n) {
    if (n > cap_) {
      if (n > (SIZE_MAX - 63) / sizeof(T)) throw std::bad_alloc();
      // Large buffers (weights, activations) start on a 2 MiB boundary and ask for transparent huge pages: a
      // decoding step streams every weight once, and with 4 KiB pages each page costs a TLB miss. The size is
      // not rounded up to whole huge pages (their tail stays in small pages: no resident memory added).
      const size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
      const bool huge = bytes >= kHugePage;
      void* fresh = nullptr;
      if (posix_memalign(&fresh, huge ? kHugePage : 64, bytes == 0 ? 64 : bytes) != 0 || !fresh) throw std::bad_alloc();
      if (huge) advise_huge_pages(fresh, bytes);
      std::free(data_);
      data_ = static_cast<T*>(fresh);
      cap_ = n;
    }
    size_ = n;
  }
  size_t capacity() const { return cap_; }
  void zero() {
    if (size_) std::memset(data_, 0, size_ * sizeof(T));
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

}  // namespace gaincell
