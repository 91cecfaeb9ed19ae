"""Writes the installed system config: config/duro.ini followed by a [class presence] section
whose path is relative to the config file's directory (duro resolves it there), so that the
installed tree works wherever it is staged (DESTDIR) or moved.

usage: system_ini.py DURO_INI OUTPUT CONFIG_DIR CLASS_DIR"""
import os
import sys


def main():
    src, out, config_dir, class_dir = sys.argv[1:5]
    rel = os.path.relpath(os.path.join(class_dir, "presence.so"), config_dir)
    with open(src, encoding="utf-8") as f:
        text = f.read()
    text += (
        "\n; Installed by `meson install`: the example class examples/presence (a room that\n"
        "; announces who joins and leaves), at ws://127.0.0.1:8787/presence/ROOM?user=NAME.\n"
        "; The path is relative to this file's directory. Remove both sections to drop it.\n"
        "[class presence]\n"
        "path = %s\n"
        "\n"
        "[route presence]\n"
        "match = path /presence/{name}\n"
        "class = presence\n"
        "object = {name}\n" % rel)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
