// libFuzzer entry point for the parsers that read untrusted bytes directly: the safetensors header's JSON
// reader, the safetensors header table (names, dtypes, shapes, offsets against the file's length), the zip
// reader of `.pth` checkpoints (central directory, ZIP64, local headers) and the pickle virtual machine,
// compiled from the engine's own sources by tools/fuzz/libfuzzer.sh with AddressSanitizer. The first input
// byte picks the parser (its value modulo 4).

/// The checkpoint types a pickle value can carry; the harness never builds them (no storages, no tensors).
struct TorchStorage {}
struct TensorEntry {}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParsers(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let body = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    switch data[0] % 4 {
    case 0:
        _ = try? JSON.parse(body)
    case 1:
        var vm = Unpickler(data: body, path: "input", persistentLoad: { _ in .none },
                           reduce: { callable, _ in .opaque("\(callable)") })
        _ = try? vm.run()
    case 2:
        guard let file = try? MappedFile(copying: body, path: "input.safetensors") else { return 0 }
        _ = try? SafeTensorsHeader(file: file, path: file.path)
    default:
        // Every entry's stored range, as PthFile asks for them.
        guard let file = try? MappedFile(copying: body, path: "input.pth"), let zip = try? ZipArchive(file: file) else { return 0 }
        for e in zip.entries { _ = try? zip.storedRange(of: e) }
        _ = zip.entry(named: "archive/data.pkl")
    }
    return 0
}
