// Error channels (style R15). User and input errors throw gaincell::Error with a message of the form
// "[component] expected ..., got ..."; the CLI prints it as one line and exits non-zero.
// Programmer errors use GAINCELL_ASSERT, which also throws (library code never aborts or exits).
#pragma once
#include <stdexcept>
#include <string>

namespace gaincell {

class Error : public std::runtime_error {
 public:
  Error(const std::string& component, const std::string& message)
      : std::runtime_error("[" + component + "] " + message), component_(component) {}
  const std::string& component() const { return component_; }

 private:
  std::string component_;
};

// Throws Error(component, message). Kept out of line so call sites stay small.
[[noreturn]] void fail(const std::string& component, const std::string& message);

// Throws Error(component, "expected <expected>, got <got>" + context).
[[noreturn]] void fail_expected(const std::string& component, const std::string& expected, const std::string& got,
                                const std::string& context = "");

[[noreturn]] void assert_failed(const char* expr, const char* file, int line);

}  // namespace gaincell

#define GAINCELL_ASSERT(cond)                                          \
  do {                                                                 \
    if (!(cond)) ::gaincell::assert_failed(#cond, __FILE__, __LINE__); \
  } while (0)
