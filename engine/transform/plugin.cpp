#include <dlfcn.h>

#include "engine/transform/functions.hpp"

namespace backfill {

Status load_plugin(const std::string& path, FunctionRegistry* registry) {
  // The library stays loaded for the life of the process: its functions are called until
  // the end, so it is never closed.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return Status::invalid("--plugin " + path + ": " + dlerror());
  auto abi = reinterpret_cast<int (*)()>(dlsym(handle, "backfill_plugin_abi"));
  auto reg =
      reinterpret_cast<int (*)(FunctionRegistry*)>(dlsym(handle, "backfill_plugin_register"));
  if (!abi || !reg) {
    return Status::invalid("--plugin " + path +
                           ": not a backfill plugin (it must export backfill_plugin_abi and "
                           "backfill_plugin_register; see engine/transform/functions.hpp)");
  }
  if (abi() != kPluginAbi) {
    return Status::invalid("--plugin " + path + ": built for plugin ABI " + std::to_string(abi()) +
                           ", this backfill has " + std::to_string(kPluginAbi) + "; rebuild it");
  }
  FunctionRegistry added;
  if (reg(&added) != 0) return Status::invalid("--plugin " + path + ": its registration failed");
  for (auto& [name, d] : added.all()) {
    Status st = registry->add(d);
    if (!st.is_ok()) return st.with_context("--plugin " + path);
  }
  return Status::ok();
}

}  // namespace backfill
