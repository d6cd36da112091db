#!/usr/bin/env bash
# Coverage-guided fuzzing of the safetensors header (its JSON reader and its tensor table), the zip reader of
# .pth checkpoints and the pickle VM with libFuzzer and AddressSanitizer (swiftc -sanitize=fuzzer,address),
# built from the engine's own source files.
#   bash tools/fuzz/libfuzzer.sh -max_total_time=600        # any libFuzzer flags
# The corpus lives in .build/libfuzzer/corpus; crashes are written to the current folder (crash-*).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.build/libfuzzer"
mkdir -p "$out/corpus"
engine="$root/Sources/ScalewiseEngine"
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name ParserFuzz \
  "$root/tools/fuzz/ParserHarness.swift" "$engine/Weights/JSON.swift" "$engine/Weights/Pickle.swift" \
  "$engine/Weights/WeightsError.swift" "$engine/Validation/InputError.swift" \
  "$engine/Weights/SafeTensorsHeader.swift" "$engine/Weights/DType.swift" "$engine/Weights/Zip.swift" \
  "$engine/Weights/MappedFile.swift" "$engine/IO/SafeOpen.swift" -o "$out/parsers"
# Seeds from the test fixtures, byte 0 picking the parser: a safetensors header's JSON (0), a torch.save
# pickle (1), a whole safetensors file (2) and a whole .pth zip (3).
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
# Small whole files (libFuzzer's inputs stay short): the header's first tensors with their bytes, and the zip's
# pickle beside two short storages.
import io, json
with open(src + "/var.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
meta = header.pop("__metadata__", {})
small, data = {"__metadata__": {"family": meta.get("family", "var")}}, b""
for k in sorted(header)[:3]:
    small[k] = {"dtype": "F32", "shape": [2], "data_offsets": [len(data), len(data) + 8]}
    data += bytes(8)
h = json.dumps(small).encode()
open(dst + "/safetensors", "wb").write(b"\x02" + struct.pack("<Q", len(h)) + h + data)
buf = io.BytesIO()
with zipfile.ZipFile(src + "/var.pth") as z, zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as out:
    pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
    out.writestr(pkl, z.read(pkl)[:512])
    for i in range(2):
        out.writestr(pkl.rsplit("/", 1)[0] + "/data/%d" % i, bytes(16))
open(dst + "/zip", "wb").write(b"\x03" + buf.getvalue())
PY
exec "$out/parsers" "$out/corpus" "$@"
