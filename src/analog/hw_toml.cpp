// Hardware TOML load/save: the field list (for_each_hw_field) drives the shared field reader and writer
// (io/toml_fields.h), which report every problem of one file together and reject keys no field consumed.
#include "analog/hw_toml.h"

#include "core/error.h"
#include "core/file.h"
#include "io/toml_fields.h"

namespace gaincell {

HardwareConfig hardware_from_toml(const std::string& text, const std::string& where) {
  TomlFieldReader r(text, where, "hw");
  HardwareConfig c;
  for_each_hw_field(c, [&](const std::string& path, auto& field, const std::string&) { r.read(path, field); });
  r.finish();
  c.check(where);
  return c;
}

HardwareConfig load_hardware_toml(const std::string& path) {
  return hardware_from_toml(read_file(path, 1u << 20), path);
}

std::string hardware_to_toml(const HardwareConfig& c) {
  TomlFieldWriter w("# gaincell hardware description (docs/hardware-toml.md). Units are in the key names.\n");
  for_each_hw_field(
      c, [&](const std::string& path, const auto& field, const std::string& help) { w.field(path, field, help); });
  return w.text();
}

void save_hardware_toml(const std::string& path, const HardwareConfig& c) {
  c.check(path);
  write_file_atomic(path, hardware_to_toml(c));
}

}  // namespace gaincell
