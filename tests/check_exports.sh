#!/usr/bin/env bash
# The shared library exports exactly the functions its public headers
# declare (WV_EXTERN), nothing else, and carries a versioned soname; no
# public header declares an internal (wv__) name.
#   tests/check_exports.sh LIBRARY INCLUDE_DIR MAJOR
set -euo pipefail
lib=$1 inc=$2 major=$3

declared=$(cat "$inc"/weave.h "$inc"/weave/*.h | tr '\n' ' ' |
    grep -oE 'WV_EXTERN[^;{]*\bwv_[a-z0-9_]+\(' |
    grep -oE 'wv_[a-z0-9_]+\($' | tr -d '(' | sort -u)
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
