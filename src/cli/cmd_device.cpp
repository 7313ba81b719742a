// `gaincell device fit`: fits the cell characteristic I(y) to a measured I-V table (analog/device_fit.h),
// prints the coefficients with the RMS and max residual, and writes them into a hardware TOML (atomically;
// an existing file keeps its other fields).
#include <cstdio>
#include <memory>

#include "analog/device_fit.h"
#include "cli/commands.h"
#include "cli/common.h"

namespace gaincell::cli {
namespace {

void register_device_fit(CLI::App& device) {
  struct Opts {
    std::string csv, out;
    double v_in_v = 0.9;
    double v_offset_v = 0.45;
    int order = 3;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = device.add_subcommand("fit", "Fit I(y) to a measured I-V CSV (v_store_V, v_in_V, i_read_A)");
  cmd->add_option("--csv", o->csv, "Measured I-V table (CSV with header v_store_V,v_in_V,i_read_A)")->required();
  cmd->add_option("--v-in", o->v_in_v, "Read voltage whose rows are fitted (V)");
  cmd->add_option("--v-offset", o->v_offset_v, "Stored voltage of a zero weight, y = v_store - v_offset (V)");
  cmd->add_option("--order", o->order, "Polynomial order (1..7)")->check(CLI::Range(1, 7));
  cmd->add_option("--out", o->out, "Hardware TOML to write or update (device.* keys)");
  cmd->callback([o] {
    DeviceFit fit = fit_device_csv(o->csv, o->v_in_v, o->order, o->v_offset_v);
    std::printf("fit of %s: %d points at v_in = %g V, y = v_store - %g V, order %d\n", o->csv.c_str(), fit.n_points,
                fit.v_in_v, fit.v_offset_v, o->order);
    std::printf("coeffs_ua = [");
    for (size_t p = 0; p < fit.coeffs_ua.size(); ++p) std::printf("%s%.12g", p ? ", " : "", fit.coeffs_ua[p]);
    std::printf("]\n");
    std::printf("rms_error_ua = %.6g\nmax_error_ua = %.6g\n", fit.rms_error_ua, fit.max_error_ua);
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
