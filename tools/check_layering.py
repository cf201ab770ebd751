#!/usr/bin/env python3
"""Checks the component layering of src/phivault (doc/design.md, "Components").

Each component may include headers only from components in lower layers, and its CMake DEPS
may name only such components. Exits 1 and lists every violation otherwise.
"""
import pathlib
import re
import sys

LAYERS = [
    ["base"],
    ["crypto", "chunk", "storage", "pkcs11", "catalog"],
    ["keys", "s3", "recovery", "audit"],
    ["repo"],
    ["backup"],
    ["cli"],
]
LAYER_OF = {c: i for i, names in enumerate(LAYERS) for c in names}
INCLUDE = re.compile(r'^\s*#\s*include\s+"phivault/([a-z0-9_]+)/')
DEPS = re.compile(r"phivault_([a-z0-9_]+)")


def allowed(src: str, dst: str) -> bool:
    return src == dst or LAYER_OF[dst] < LAYER_OF[src]


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent / "src" / "phivault"
    problems = []
    for comp_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        comp = comp_dir.name
        if comp not in LAYER_OF:
            problems.append(f"{comp_dir}: component '{comp}' has no layer in check_layering.py")
            continue
        for f in sorted(comp_dir.rglob("*")):
            if f.suffix not in (".h", ".cc"):
                continue
            for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                dst = m.group(1)
                if dst not in LAYER_OF:
                    problems.append(f"{f}:{n}: includes unknown component '{dst}'")
                elif not allowed(comp, dst):
                    problems.append(f"{f}:{n}: '{comp}' (layer {LAYER_OF[comp]}) may not include "
                                    f"'{dst}' (layer {LAYER_OF[dst]})")
        cmake = comp_dir / "CMakeLists.txt"
        text = cmake.read_text() if cmake.exists() else ""
        for block in re.findall(r"phivault_library\((.*?)\)", text, re.S):
            deps = block.split("DEPS", 1)[1] if "DEPS" in block else ""
            for dst in DEPS.findall(deps):
                if dst in LAYER_OF and not allowed(comp, dst):
                    problems.append(f"{cmake}: '{comp}' may not depend on 'phivault_{dst}'")
    for p in problems:
        print(p)
    print(f"layering: {len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
