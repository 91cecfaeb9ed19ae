#!/usr/bin/env python3
"""Writes a C file defining `const char NAME[]` with the bytes of INPUT (build-time embedding)."""
import sys


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: embed.py INPUT OUTPUT SYMBOL", file=sys.stderr)
        return 2
    src, dst, symbol = sys.argv[1:]
    data = open(src, "rb").read()
    lines = []
    for i in range(0, len(data), 16):
        lines.append("    " + " ".join("0x%02x," % b for b in data[i:i + 16]))
    with open(dst, "w", encoding="ascii") as out:
        out.write("/* generated from %s by tools/embed.py: do not edit */\n" % src.split("/")[-1])
        out.write("const char %s[] = {\n%s\n    0x00\n};\n" % (symbol, "\n".join(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
