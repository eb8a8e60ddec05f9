#!/usr/bin/env python3
"""Lists C function definitions longer than N lines (default 120) in the given trees.

A definition starts at a column-0 line holding '(' (not a preprocessor line or an initialiser)
whose signature, possibly over several lines, ends with '{'; it ends at the first line that is
exactly '}' (the style of this tree).
Usage: scripts/long_functions.py [--max N] DIR...   (exit status 1 when any is found)
"""
import os
import re
import sys

def functions(path):
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line or line[0].isspace() or line[0] in "#/}" or "(" not in line or "=" in line.split("(")[0]:
            i += 1
            continue
        k = i  # the signature may span lines: it ends at '{' (a definition) or ';' (a declaration)
        while k < len(lines) and not lines[k].rstrip().endswith(("{", ";")) and k - i < 8:
            k += 1
        if k >= len(lines) or not lines[k].rstrip().endswith("{"):
            i = k + 1
            continue
        name = re.findall(r"([A-Za-z_]\w*)\s*\(", line)
        j = k + 1
        while j < len(lines) and lines[j] != "}":
            j += 1
        yield (name[0] if name else "?"), i + 1, j - i + 1
        i = j + 1

def main(argv):
    limit = 120
    if len(argv) > 1 and argv[0] == "--max":
        limit, argv = int(argv[1]), argv[2:]
    found = 0
    for root in argv or ["src", "sae", "probes"]:
        for d, _, files in os.walk(root):
            for f in sorted(files):
                if f.endswith(".c"):
                    p = os.path.join(d, f)
                    for name, line, n in functions(p):
                        if n > limit:
                            print(f"{p}:{line}: {name} {n} lines")
                            found += 1
    return 1 if found else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
