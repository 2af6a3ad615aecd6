#!/usr/bin/env python3
"""Holds bench/optkern_structs.py to the C layout: runs tests/ctypes_layout.c's program and
compares each structure's size and each field's offset, and that every C field printed has a
ctypes field of that name (and the other way round). Exit status 1 on any difference."""
import ctypes
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from optkern_structs import STRUCTS  # noqa: E402


def main():
    lines = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout
    sizes, offsets = {}, {}
    for line in lines.splitlines():
        kind, name, value = line.split()
        (sizes if kind == "struct" else offsets)[name] = int(value)
    problems = []
    for c_name, cls in STRUCTS.items():
        if c_name not in sizes:
            problems.append(f"{c_name}: not printed by the C side")
            continue
        if sizes[c_name] != ctypes.sizeof(cls):
            problems.append(f"{c_name}: C size {sizes[c_name]}, ctypes {ctypes.sizeof(cls)}")
        c_fields = {k.split(".", 1)[1]: v for k, v in offsets.items() if k.startswith(c_name + ".")}
        py_fields = {name: getattr(cls, name).offset for name, _ in cls._fields_}
        for name in sorted(set(c_fields) | set(py_fields)):
            if name not in py_fields:
                problems.append(f"{c_name}.{name}: missing in ctypes")
            elif name not in c_fields:
                problems.append(f"{c_name}.{name}: no such C field")
            elif c_fields[name] != py_fields[name]:
                problems.append(f"{c_name}.{name}: C offset {c_fields[name]}, "
                                f"ctypes {py_fields[name]}")
    for p in problems:
        print(p)
    print(f"{len(STRUCTS)} structures checked, {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
