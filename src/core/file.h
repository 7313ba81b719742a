// File helpers: read-only memory maps, whole-file reads, and atomic writes (temp file, fsync, rename),
// so no output file is ever left half-written.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gaincell {

// A read-only memory map of a whole file. Errors (missing, unreadable, a directory) throw gaincell::Error
// naming the path. An empty file maps to size 0 with data() == nullptr.
class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Drops the whole pages inside [p, p + n) of the map from the process's resident memory (madvise
  // MADV_DONTNEED): for bytes already copied or converted. They are read again from the file if touched.
  void release(const uint8_t* p, size_t n) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole file; throws Error("io", ...) naming the path on failure. max_bytes guards against
// accidentally slurping huge files.
std::string read_file(const std::string& path, size_t max_bytes = size_t{1} << 32);

// Writes a file atomically: data goes to "<path>.tmp.<pid>", is flushed with fsync and renamed over path.
// On any failure the temp file is removed and Error("io", ...) is thrown; path is never half-written.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();  // removes the temp file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  void commit();  // fsync + rename; the file becomes visible under its final name
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, std::string_view data);

// Creates a directory (and parents); throws Error("io", ...) if it exists as a file or cannot be made.
void make_dirs(const std::string& path);
bool file_exists(const std::string& path);

// The directory holding bundled data (tokenizer files, configs): $GAINCELL_DATA_DIR if set, else the
// build-time default.
std::string data_dir();

}  // namespace gaincell
