#include "io/provenance.h"

#include <fstream>

#include "gaincell_version.h"  // generated at build time (cmake/version_header.cmake)

namespace gaincell {
namespace {

std::vector<std::string>& args() {
  static std::vector<std::string> a;
  return a;
}

std::string shell_quote(const std::string& s) {
  if (s.empty()) return "''";
  bool plain = true;
  for (char c : s)
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string("-_./=:,+@%").find(c) != std::string::npos);
  if (plain) return s;
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

}  // namespace

void set_command_line(int argc, const char* const* argv) {
  args().assign(argv, argv + argc);
}

const std::vector<std::string>& command_line_args() {
  return args();
}

std::string command_line() {
  std::string s;
  for (const std::string& a : args()) s += (s.empty() ? "" : " ") + shell_quote(a);
  return s;
}

const char* gaincell_version() {
  return GAINCELL_VERSION;
}

const char* gaincell_git_commit() {
  return GAINCELL_GIT_COMMIT;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, fallback;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (value.empty()) continue;
    if (key == "model name") return value;
    if (fallback.empty() && (key == "Hardware" || key == "CPU part" || key == "cpu model"))
      fallback = key + " " + value;
  }
  return fallback.empty() ? "unknown" : fallback;
}

nlohmann::ordered_json provenance_json(const RunProvenance& run) {
  nlohmann::ordered_json j;
  j["gaincell_version"] = gaincell_version();
  j["git_commit"] = gaincell_git_commit();
  j["command_line"] = command_line();
  j["argv"] = command_line_args();
  j["cpu"] = cpu_model();
  j["gemm"] = run.gemm;
  j["threads"] = run.threads;
  j["seeds"] = run.seeds.is_null() ? nlohmann::ordered_json::object() : run.seeds;
  j["hardware"] = run.hardware;
  return j;
}

}  // namespace gaincell
