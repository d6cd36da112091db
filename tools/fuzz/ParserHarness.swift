// libFuzzer entry point for the two parsers that read untrusted bytes directly: the safetensors header's
// JSON reader and the pickle virtual machine of `.pth` checkpoints, compiled from the engine's own sources
// by tools/fuzz/libfuzzer.sh with AddressSanitizer. The first input byte picks the parser.

/// The checkpoint types a pickle value can carry; the harness never builds them (no storages, no tensors).
struct TorchStorage {}
struct TensorEntry {}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParsers(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let body = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    if data[0] & 1 == 0 {
        _ = try? JSON.parse(body)
    } else {
        var vm = Unpickler(data: body, path: "input", persistentLoad: { _ in .none },
                           reduce: { callable, _ in .opaque("\(callable)") })
        _ = try? vm.run()
    }
    return 0
}
