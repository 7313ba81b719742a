#!/usr/bin/env python3
"""Checks that src/CMakeLists.txt links each module with exactly what its sources include.

For every `gaincell_module(NAME DEPS ...)`: the gaincell modules named in DEPS must be the modules whose headers
NAME's .cpp/.h files include ("model/engine.h" -> model), and each third-party library in DEPS must be included
(and each included one listed). The CLI (src/cli, linked through gaincell_all) must link every module it
includes. Dependencies must point one way (no cycles). Prints one line per mismatch; exit 1 if any.
Usage: check_module_deps.py [REPO_ROOT]
"""
import pathlib
import re
import sys

# Third-party CMake target -> the include prefix that uses it.
THIRD_PARTY = {
    "OpenMP::OpenMP_CXX": "omp.h",
    "nlohmann_json::nlohmann_json": "nlohmann/",
    "tomlplusplus::tomlplusplus": "toml++/",
    "CLI11::CLI11": "CLI/",
}


def includes(folder):
    mods, system = set(), set()
    for f in sorted(folder.glob("*.[ch]*")):
        for line in f.read_text(encoding="utf-8").splitlines():
            m = re.match(r'\s*#\s*include\s*"([a-z_]+)/', line)
            if m:
                mods.add(m.group(1))
            m = re.match(r"\s*#\s*include\s*<([^>]+)>", line)
            if m:
                system.add(m.group(1))
    return mods, system


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[1])
    src = root / "src"
    text = re.sub(r"#[^\n]*", "", (src / "CMakeLists.txt").read_text(encoding="utf-8"))
    deps = {m.group(1): m.group(2).split() for m in re.finditer(r"gaincell_module\((\w+)\s+DEPS\s+([^)]*)\)", text)}
    all_m = re.search(r"target_link_libraries\(gaincell_all\s+INTERFACE\s+([^)]*)\)", text)
    cli_m = re.search(r"target_link_libraries\(gaincell\s+PRIVATE\s+([^)]*)\)", text)
    errors = []
    if not deps or not all_m or not cli_m:
        errors.append("src/CMakeLists.txt: gaincell_module / gaincell_all / gaincell lines not found")
    else:
        deps["cli"] = all_m.group(1).split() + [d for d in cli_m.group(1).split() if d != "gaincell_all"]
    for name, listed in sorted(deps.items()):
        mods, system = includes(src / name)
        mods.discard(name)
        linked = {d[len("gaincell_"):] for d in listed if d.startswith("gaincell_")}
        if name == "cli":  # gaincell_all is everything the CLI and the tests may use: a superset is fine
            missing, extra = mods - linked, set()
        else:
            missing, extra = mods - linked, linked - mods
        for m in sorted(missing):
            errors.append(f"{name}: includes {m}/ but does not link gaincell_{m}")
        for m in sorted(extra):
            errors.append(f"{name}: links gaincell_{m} but includes nothing from {m}/")
        for target, prefix in THIRD_PARTY.items():
            used = any(s == prefix or s.startswith(prefix) for s in system)
            if used and target not in listed:
                errors.append(f"{name}: includes <{prefix}...> but does not link {target}")
            if target in listed and not used:
                errors.append(f"{name}: links {target} but includes no <{prefix}...>")
    # One way: the module graph (cli excluded) has no cycle.
    graph = {n: {d[len("gaincell_"):] for d in l if d.startswith("gaincell_")} for n, l in deps.items() if n != "cli"}
    state = {}

    def visit(n, path):
        if state.get(n) == 1:
            errors.append("dependency cycle: " + " -> ".join(path + [n]))
            return
        if state.get(n) == 2:
            return
        state[n] = 1
        for d in sorted(graph.get(n, ())):
            visit(d, path + [n])
        state[n] = 2

    for n in sorted(graph):
        visit(n, [])
    for e in errors:
        print(e)
    print(f"check_module_deps: {len(deps)} targets, {len(errors)} mismatches")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
