#!/usr/bin/env bash
# Coverage-guided fuzzing of the safetensors header JSON reader and the pickle VM with libFuzzer and
# AddressSanitizer (swiftc -sanitize=fuzzer,address), built from the engine's own source files.
#   bash tools/fuzz/libfuzzer.sh -max_total_time=600        # any libFuzzer flags
# The corpus lives in .build/libfuzzer/corpus; crashes are written to the current folder (crash-*).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.build/libfuzzer"
mkdir -p "$out/corpus"
engine="$root/Sources/ScalewiseEngine"
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name ParserFuzz \
  "$root/tools/fuzz/ParserHarness.swift" "$engine/Weights/JSON.swift" "$engine/Weights/Pickle.swift" \
  "$engine/Weights/WeightsError.swift" "$engine/Validation/InputError.swift" -o "$out/parsers"
# Seeds: a safetensors header (byte 0 even) and a torch.save pickle (byte 0 odd) from the test fixtures.
fixtures="$root/Tests/EngineTests/Fixtures/var_tiny"
python3 - "$fixtures" "$out/corpus" <<'PY' || true
import struct, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with open(src + "/var.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    open(dst + "/header", "wb").write(b"\x00" + f.read(n))
with zipfile.ZipFile(src + "/var.pth") as z:
    name = next(n for n in z.namelist() if n.endswith("data.pkl"))
    open(dst + "/pickle", "wb").write(b"\x01" + z.read(name))
PY
exec "$out/parsers" "$out/corpus" "$@"
