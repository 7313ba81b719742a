// What produced a result. Every JSON a command writes (reproduce's results.json, every --report file and every
// --json print) carries provenance_json(...) under the key "provenance": the command line, the gaincell
// version and git commit (captured at build time, "unknown" outside a git checkout), the CPU, the GEMM kernel
// that ran, the thread count, the seeds and the resolved hardware configuration (docs/reproduce.md,
// "Provenance").
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gaincell {

// The process's command line, recorded once by main() (the library never parses it).
void set_command_line(int argc, const char* const* argv);
// The recorded arguments, argv[0] first (empty until set_command_line).
const std::vector<std::string>& command_line_args();
// The arguments joined by spaces, each quoted for a POSIX shell where it needs it: "a b" -> 'a b'.
std::string command_line();

const char* gaincell_version();     // "0.1.0" (CMake's project version)
const char* gaincell_git_commit();  // 40 hex digits (+ "-dirty"), or "unknown" when built without git metadata
// "model name" (x86) or "Hardware"/"CPU part" line of /proc/cpuinfo; "unknown" when there is none.
std::string cpu_model();

// What the caller knows about its run; the rest provenance_json finds itself.
struct RunProvenance {
  std::string gemm;  // the GEMM kernel that ran (kernels/threads.h gemm_backend_name())
  int threads = 0;   // compute threads (core/parallel.h num_threads())
  nlohmann::ordered_json seeds = nlohmann::ordered_json::object();  // {"seed": 1, "chip_seed": ...}
  nlohmann::ordered_json hardware;  // the resolved hardware configuration (flat "section.key" object), or null
};

// {"gaincell_version", "git_commit", "command_line", "argv", "cpu", "gemm", "threads", "seeds", "hardware"}.
nlohmann::ordered_json provenance_json(const RunProvenance& run);

}  // namespace gaincell
