// `gaincell device fit`: fits the cell characteristic I(y) to a measured I-V table (analog/device_fit.h),
// prints the fit report (rows used and dropped, coefficients, error figures, linear gain, checks), fails when
// a check fails (unless --force), and writes the result into a hardware TOML (atomically; an existing file
// keeps its other fields).
#include <cstdio>
#include <memory>

#include "analog/device_fit.h"
#include "analog/hw_toml.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/file.h"

namespace gaincell::cli {
namespace {

void register_device_fit(CLI::App& device) {
  struct Opts {
    std::string csv, out;
    DeviceFitOptions fit;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = device.add_subcommand("fit", "Fit I(y) to a measured I-V CSV (v_store_V, v_in_V, i_read_A)");
  cmd->add_option("--csv", o->csv, "Measured I-V table (CSV with header v_store_V,v_in_V,i_read_A)")->required();
  cmd->add_option("--v-in", o->fit.v_in_v, "Read voltage whose rows are fitted (V)")->capture_default_str();
  cmd->add_option("--v-in-tol", o->fit.v_in_tol_v, "Rows with |v_in_V - v_in| <= this are fitted (V)")
      ->capture_default_str();
  cmd->add_option("--v-offset", o->fit.v_offset_v, "Stored voltage of a zero weight, y = v_store - v_offset (V)")
      ->capture_default_str();
  cmd->add_option("--order", o->fit.order, "Polynomial order (1..7)")->check(CLI::Range(1, 7))->capture_default_str();
  cmd->add_option("--max-rel-rms", o->fit.max_rel_rms, "Fit-quality gate: largest ||residual|| / ||I||")
      ->capture_default_str();
  cmd->add_option("--min-r2", o->fit.min_r2, "Fit-quality gate: smallest R^2")->capture_default_str();
  cmd->add_option("--out", o->out,
                  "Hardware TOML to write or update (device.* keys); its array and converter "
                  "fields set the ranges the checks use");
  cmd->add_flag("--force", o->force, "Write the TOML even when a check fails (with a warning)");
  cmd->callback([o] {
    HardwareConfig hw = !o->out.empty() && file_exists(o->out) ? load_hardware_toml(o->out) : HardwareConfig{};
    DeviceFit fit = fit_device_csv(o->csv, o->fit, hw);
    std::fputs(fit.report(o->csv).c_str(), stdout);
    std::fflush(stdout);
    std::string failed = require_device_fit_ok(fit, o->force);
    if (!failed.empty())
      std::fprintf(stderr, "warning: device fit: --force: writing despite failed checks: %s\n", failed.c_str());
    if (!o->out.empty()) {
      write_device_fit_toml(o->out, fit);
      std::printf("wrote %s\n", o->out.c_str());
    }
  });
}

}  // namespace

void register_device(CLI::App& app) {
  CLI::App* device = app.add_subcommand("device", "Gain-cell device tools (fit a measured I-V table)");
  device->require_subcommand(1);
  register_device_fit(*device);
}

}  // namespace gaincell::cli
