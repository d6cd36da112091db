// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Scalewise",
    products: [
        .executable(name: "scalewise", targets: ["scalewise"]),
        .library(name: "ScalewiseEngine", targets: ["ScalewiseEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
    ],
    targets: [
        // ncursesw: no pkgConfig, its -D flags are dropped by SwiftPM; the shim defines NCURSES_WIDECHAR.
        .systemLibrary(name: "CNCursesW", path: "Sources/CNCursesW", providers: [.apt(["libncursesw5-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // glibc's mallopt (the CLI fixes the mmap threshold; see ModelOptions.load).
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // oneDNN for the bf16 and int8 matrix products (no pkg-config file in Debian: the module map links dnnl).
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        // OpenSSL's libcrypto for the SHA-256 of weight files that PNG records keep.
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // Portable by default: the heavy arithmetic is in OpenBLAS and oneDNN, which choose their vector code at
        // run time, and our loops compile for the baseline of the architecture. SCALEWISE_CPU=native (or any
        // `swiftc -target-cpu` name) builds them for one CPU instead: a binary that runs only on such CPUs.
        // The loops between library calls, built for three x86 levels and chosen at run time.
        .target(name: "CKernels"),
        .target(name: "ScalewiseKernels", dependencies: ["COpenBLAS", "CDNNL", "CKernels"],
                swiftSettings: Context.environment["SCALEWISE_CPU"].map { [.unsafeFlags(["-target-cpu", $0])] } ?? []),
        .target(name: "ScalewiseEngine", dependencies: ["ScalewiseKernels", "CPNG", "CCrypto"]),
        .target(name: "ScalewiseTUI", dependencies: ["ScalewiseEngine", "CNCursesW"]),
        // Seeded mutation fuzzing of the binary (`swift run -c release scalewise-fuzz`; a short run is a test).
        .target(name: "ScalewiseFuzz"),
        .executableTarget(name: "scalewise-fuzz", dependencies: ["ScalewiseFuzz"]),
        .executableTarget(name: "scalewise", dependencies: [
            "ScalewiseEngine", "ScalewiseTUI", "CMalloc",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Portable/: a C program that checks the C kernels on another architecture (PortableKernelsTests).
        .testTarget(name: "KernelsTests", dependencies: ["ScalewiseKernels"], exclude: ["Portable"]),
        // Points XDG_CACHE_HOME at a folder of the test run, for the hashes of the weight files tests load.
        .target(name: "TestCache", path: "Tests/TestCache"),
        .testTarget(name: "EngineTests", dependencies: ["ScalewiseEngine", "TestCache"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "CLITests", dependencies: ["ScalewiseEngine", "ScalewiseFuzz", "TestCache"]),
        .testTarget(name: "FuzzTests", dependencies: ["ScalewiseFuzz", "scalewise"]),
        // Depends on the executable so that `swift test` builds the binary the tmux tests drive.
        .testTarget(name: "TUITests", dependencies: ["ScalewiseTUI", "ScalewiseEngine", "scalewise", "TestCache"]),
    ],
    swiftLanguageModes: [.v6]
)
