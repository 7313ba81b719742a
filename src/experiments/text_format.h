// printf-style formatting of one number, shared by the experiment drivers and their reports.
#pragma once
#include <cstdio>
#include <string>

namespace gaincell {

// fmt("%.4f", 1.5) == "1.5000"; f must consume exactly one double.
inline std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace gaincell
