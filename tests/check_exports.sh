#!/usr/bin/env bash
# The shared library exports exactly the functions its public headers
# declare (WV_EXTERN), nothing else, and carries a versioned soname; no
# public header declares an internal (wv__) name.
#   tests/check_exports.sh LIBRARY INCLUDE_DIR MAJOR
set -euo pipefail
lib=$1 inc=$2 major=$3

# Every function a header declares or defines at file scope (with or
# without WV_EXTERN: a declaration that forgot it is caught as missing),
# comments and macros stripped; static inline helpers are not symbols.
declared=$(python3 - "$inc" <<'PY'
import glob, re, sys
names = set()
for path in [sys.argv[1] + "/weave.h"] + glob.glob(sys.argv[1] + "/weave/*.h"):
    text = re.sub(r"/\*.*?\*/", " ", open(path).read(), flags=re.S)
    text = re.sub(r"^\s*#.*?(?<!\\)$", " ", text, flags=re.M | re.S)
    depth = 0
    for chunk in re.split(r"([{};])", text):
        if chunk == "{":
            depth += 1
        elif chunk == "}":
            depth -= 1
        elif depth == 0 or (depth == 1 and 'extern "C"' in text):
            m = re.search(r"\b(wv_[a-z0-9_]+)\s*\(", chunk)
            if m and not re.search(r"\b(static|typedef)\b", chunk) and \
               not re.search(r"\(\s*\*", chunk[:m.start()]):
                names.add(m.group(1))
print("\n".join(sorted(names)))
PY
)
# Defined dynamic symbols, less the ones the toolchain adds (__*, _init...).
exported=$(nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }' |
    grep -vE '^(_|__)' | sort -u)

status=0
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported"))
extra=$(comm -13 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported"))
if [ -n "$missing" ]; then
    echo "declared in a header but not exported:"; echo "$missing"; status=1
fi
if [ -n "$extra" ]; then
    echo "exported but declared in no public header:"; echo "$extra"; status=1
fi
internal=$(grep -nE '\bwv__[a-z0-9_]+\s*\(' "$inc"/weave.h "$inc"/weave/*.h || true)
if [ -n "$internal" ]; then
    echo "internal names declared in a public header:"; echo "$internal"; status=1
fi
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "libweave.so.$major" ]; then
    echo "soname is '$soname', not libweave.so.$major"; status=1
fi
n=$(printf '%s\n' "$declared" | wc -l)
echo "$n functions declared, $(printf '%s\n' "$exported" | wc -l) exported, soname $soname"
exit $status
