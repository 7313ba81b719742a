// TOML files driven by a field list (used by the hardware TOML, analog/hw_toml.h, and the cost table,
// cost/cost_table.h): a reader that consumes one "section.key" field at a time and reports every problem of a
// file at once (wrong type, unknown key), and a writer that prints each field with a help comment. Supported
// field types: bool, int, uint64_t, double, std::string, std::vector<double>.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gaincell {

class TomlFieldReader {
 public:
  // Parses `text`; a syntax error throws Error(component, ...) naming `where` and the line.
  TomlFieldReader(const std::string& text, const std::string& where, const std::string& component);
  ~TomlFieldReader();
  TomlFieldReader(const TomlFieldReader&) = delete;
  TomlFieldReader& operator=(const TomlFieldReader&) = delete;

  // Reads the value at `path` into `field` when the file has it (else the field keeps its default); a value of
  // the wrong type is recorded as an error. Integers are accepted where a float is expected.
  void read(const std::string& path, bool& field);
  void read(const std::string& path, int& field);
  void read(const std::string& path, uint64_t& field);
  void read(const std::string& path, double& field);
  void read(const std::string& path, std::string& field);
  void read(const std::string& path, std::vector<double>& field);
  // A problem found by the caller (e.g. validation), reported with the others.
  void add_error(const std::string& line);
  // Throws Error(component, "<problem>; <problem> in '<where>'") listing every error and every key of the
  // file that no read() consumed; returns when there is none.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Shortest round-trip text of a double that stays a TOML float ("1.0", "1e-06", "inf", "nan").
std::string toml_double(double v);

// Text of a whole file: call field() in list order; a "[section]" line starts whenever the section changes.
class TomlFieldWriter {
 public:
  explicit TomlFieldWriter(std::string header) : out_(std::move(header)) {}
  void field(const std::string& path, bool v, const std::string& help) { line(path, v ? "true" : "false", help); }
  void field(const std::string& path, int v, const std::string& help) { line(path, std::to_string(v), help); }
  void field(const std::string& path, uint64_t v, const std::string& help) { line(path, std::to_string(v), help); }
  void field(const std::string& path, double v, const std::string& help) { line(path, toml_double(v), help); }
  void field(const std::string& path, const std::string& v, const std::string& help);
  void field(const std::string& path, const std::vector<double>& v, const std::string& help);
  const std::string& text() const { return out_; }

 private:
  void line(const std::string& path, const std::string& value, const std::string& help);
  std::string out_, section_;
};

}  // namespace gaincell
