#!/usr/bin/env bash
# Build the portable Linux wheel (manylinux2014: glibc >= 2.17) and check it, or only check wheels
# built elsewhere. docs/wheels.md explains why and what the output means.
#
#   scripts/build_wheel.sh [OUT_DIR]         build with zig as the linker into OUT_DIR (default
#                                            dist), then check the new wheel
#   scripts/build_wheel.sh --check WHEEL...  check wheels only (CI does this after maturin-action)
#
# Needs: maturin (build only), and in the interpreter $PYTHON (default python3): auditwheel, which
# brings pyelftools, and ziglang (build only):  python3 -m pip install ziglang auditwheel
#
# A wheel passes when auditwheel finds it consistent with manylinux_2_17 (or older) for its
# architecture AND no symbol version its extension modules need is newer than GLIBC_2.17.
# Exit status 1 otherwise.
set -euo pipefail

PYTHON=${PYTHON:-python3}
MAX_GLIBC_MINOR=17 # manylinux2014 = glibc 2.17

# Prints the highest GLIBC_2.N version that any ELF file given needs (from .gnu.version_r, the
# same list `objdump -T` shows), e.g. "2.17".
highest_glibc() {
  "$PYTHON" - "$@" <<'EOF'
import re
import sys

from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

best = (0, 0)
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        for section in ELFFile(f).iter_sections():
            if not isinstance(section, GNUVerNeedSection):
                continue
            for _, auxiliaries in section.iter_versions():
                for aux in auxiliaries:
                    m = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", aux.name)
                    if m:
                        best = max(best, (int(m[1]), int(m[2])))
print(f"{best[0]}.{best[1]}")
EOF
}

check_wheel() {
  local wheel=$1 arch report tag minor tmp sos glibc
  arch=$(basename "$wheel" .whl | sed -E 's/.*_(x86_64|aarch64|i686|ppc64le|s390x|armv7l)$/\1/')
  echo "== $wheel ($(du -h "$wheel" | cut -f1))"

  report=$("$PYTHON" -m auditwheel show "$wheel")
  echo "$report"
  # auditwheel wraps its lines; join them before looking for the tag.
  tag=$(echo "$report" | tr '\n' ' ' |
    sed -nE 's/.*consistent with the following platform tag: *"([^"]+)".*/\1/p')
  if [[ ! $tag =~ ^manylinux_2_([0-9]+)_${arch}$ ]]; then
    echo "FAIL: auditwheel finds $wheel consistent with '${tag:-nothing}', not manylinux_2_17_${arch}" >&2
    return 1
  fi
  minor=${BASH_REMATCH[1]}
  if ((minor > MAX_GLIBC_MINOR)); then
    echo "FAIL: $wheel needs $tag, newer than manylinux2014 (glibc 2.${MAX_GLIBC_MINOR})" >&2
    return 1
  fi

  tmp=$(mktemp -d)
  "$PYTHON" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$wheel" "$tmp"
  mapfile -t sos < <(find "$tmp" -name '*.so*' -type f)
  if ((${#sos[@]} == 0)); then
    rm -rf "$tmp"
    echo "FAIL: $wheel holds no shared object" >&2
    return 1
  fi
  glibc=$(highest_glibc "${sos[@]}")
  rm -rf "$tmp"
  echo "highest GLIBC symbol version needed: GLIBC_${glibc}"
  if ((${glibc#2.} > MAX_GLIBC_MINOR)); then
    echo "FAIL: $wheel needs GLIBC_${glibc} > 2.${MAX_GLIBC_MINOR}" >&2
    return 1
  fi
  echo "OK: $wheel is manylinux2014 ($tag)"
}

if [[ ${1:-} == --check ]]; then
  shift
  (($# > 0)) || {
    echo "usage: $0 --check WHEEL..." >&2
    exit 2
  }
  status=0
  for wheel in "$@"; do
    check_wheel "$wheel" || status=1
  done
  exit "$status"
fi

out=$(realpath -m "${1:-$(dirname "$0")/../dist}")
cd "$(dirname "$0")/.."
# maturin looks for `zig` on PATH; the ziglang package ships it inside its own directory.
if ! command -v zig >/dev/null; then
  zig_dir=$("$PYTHON" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')
  PATH="$zig_dir:$PATH"
fi
built_after=$(mktemp)
trap 'rm -f "$built_after"' EXIT
# --zig links against glibc 2.17's symbol versions whatever glibc this machine has; no
# RUSTFLAGS/target-cpu: the wheel must run on any x86_64 (the SIMD kernels are picked at run time).
maturin build --release --locked --zig --compatibility manylinux2014 -o "$out"
mapfile -t wheels < <(find "$out" -maxdepth 1 -name 'undertow-*manylinux*.whl' -newer "$built_after")
(("${#wheels[@]}" > 0)) || {
  echo "FAIL: maturin wrote no manylinux wheel to $out" >&2
  exit 1
}
for wheel in "${wheels[@]}"; do
  check_wheel "$wheel"
done
