"""duro-worker exports the class API (include/duro/class.h) and nothing else.

Classes loaded with dlopen resolve duro_* against the executable; any other exported symbol would
let a class bind to the worker's internals (and collide with its own names). Also checks that
every function the public header declares is exported, so a class built against the header links.
"""
import os
import re
import subprocess
import sys

worker = os.environ["DURO_WORKER"]
header = os.environ["DURO_CLASS_H"]

out = subprocess.run(["nm", "-D", "--defined-only", worker], check=True, capture_output=True,
                     text=True).stdout
exported = {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}
# A sanitizer build's runtime exports its own interface (__asan_*, __ubsan_*, ...): not ours.
SANITIZER_PREFIXES = ("__asan", "__ubsan", "__lsan", "__sanitizer", "__interceptor")
stray = sorted(s for s in exported
               if not s.startswith("duro_") and not s.startswith(SANITIZER_PREFIXES))

text = open(header, encoding="utf-8").read()
text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
declared = set(re.findall(r"\b(duro_[a-z0-9_]+)\s*\(", text)) - set(re.findall(r"typedef[^;]*?\b(duro_[a-z0-9_]+)\s*\(", text))
missing = sorted(declared - exported)

failed = 0
if stray:
    print("exported symbols outside the class API: %s" % ", ".join(stray))
    failed = 1
if missing:
    print("declared in class.h but not exported: %s" % ", ".join(missing))
    failed = 1
if len(declared) < 20:
    print("found only %d declarations in %s: the parser is broken" % (len(declared), header))
    failed = 1
print("%d duro_* symbols exported, %d declared" % (len(exported), len(declared)))
sys.exit(failed)
