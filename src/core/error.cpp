#include "core/error.h"

namespace gaincell {

void fail(const std::string& component, const std::string& message) {
  throw Error(component, message);
}

void fail_expected(const std::string& component, const std::string& expected, const std::string& got,
                   const std::string& context) {
  std::string msg = "expected ";
  msg.append(expected).append(", got ").append(got);
  if (!context.empty()) msg.append(" ").append(context);
  throw Error(component, msg);
}

void assert_failed(const char* expr, const char* file, int line) {
  throw Error("internal", std::string("assertion '") + expr + "' failed at " + file + ":" + std::to_string(line));
}

}  // namespace gaincell
