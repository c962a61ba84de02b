// swift-tools-version:6.1
import PackageDescription

/// Micro-benchmarks of the edge's hot pure paths (ordo-one/benchmark). A package of its own so
/// that `make test` and CI never build the benchmark harness.
///
///   cd Benchmarks && swift package benchmark
let package = Package(
    name: "tollgate-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "tollgate", path: ".."),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"6.0.0"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TollgateDomain", package: "tollgate"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
