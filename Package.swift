// swift-tools-version:6.1
import PackageDescription

/// Tollgate: the payment gateway proxy and webhook ingress edge.
///
/// Module map (see docs/ARCHITECTURE.md):
/// - `TollgateCore`: pure domain values (`Provider`, problem details, request ids, endpoints). No I/O.
/// - `TollgateSignatures`: each provider's callback signature scheme and its mirror signer, pure.
/// - `TollgateOrders`: the order state machine, the write planner, event normalization, pure.
/// - `TollgateRateLimits`: rules files, their checker, and the GCRA math, pure.
/// - `TollgateCheckout`: checkout order validation, idempotency decisions, the circuit breaker; pure.
/// - `TollgateCatalog`: each tenant's product catalog (SKUs, prices, limits), its file checker, and
///   the pricing of a checkout from it; pure. The edge prices every order; the page never does.
/// - `TollgateProviderEvents`: provider-shaped callback bodies for a payment event, pure (simulator, trigger, load).
/// - `TollgateProviderSim`: a Stripe-shaped provider on loopback that opens payments and sends signed callbacks.
/// - `TollgateLoad`: the load generator: scenarios, open/closed loop runner, HdrHistogram results, HTML report, verifier.
/// - `TollgateConfig`: the YAML configuration model, its validation and secret references.
/// - `CHiredis` + `TollgateRedis`: hiredis as the RESP codec, SwiftNIO for pipelined I/O.
/// - `TollgateRedisStores`: the Redis-backed stores (webhook dedup claims, checkout idempotency records,
///   rate-limit state with its in-process fallback, and the rules in force).
/// - `TollgatePostgres`: the PostgresNIO pool, versioned migrations, the event and order stores.
/// - `TollgatePayments`: the payment provider client (AsyncHTTPClient, retries, circuit breaker).
/// - `TollgateHTTP`: the Hummingbird edge (TLS, ALPN, middleware, routes over small protocols).
/// - `tollgate`: the command line (serve, migrate, config check, ...); bootstraps logging and metrics.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "tollgate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tollgate", targets: ["tollgate"]),
        // The pure domain, for the micro-benchmarks in Benchmarks/.
        .library(name: "TollgateDomain", targets: ["TollgateCore", "TollgateSignatures", "TollgateOrders", "TollgateRateLimits", "TollgateProviderEvents"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"6.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        .target(
            name: "TollgateCore",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateSignatures",
            dependencies: [
                "TollgateCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateOrders",
            dependencies: ["TollgateCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateRateLimits",
            dependencies: [
                "TollgateCore",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateCheckout",
            dependencies: [
                "TollgateCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateCatalog",
            dependencies: [
                "TollgateCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateProviderEvents",
            dependencies: ["TollgateCore", "TollgateOrders", "TollgateSignatures"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateFulfilment",
            dependencies: [
                "TollgateCore",
                "TollgateOrders",
                "TollgateSignatures",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateGameBackendSim",
            dependencies: [
                "TollgateCore", "TollgateSignatures", "TollgateOrders",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateConfig",
            dependencies: [
                "TollgateCore",
                "TollgateFulfilment",
                "TollgateOrders",
                "TollgateCatalog",
                "TollgateSignatures",
                .product(name: "Yams", package: "Yams"),
                // Fetches the key documents a source names by URL (Google's JWKS).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateTelemetry",
            dependencies: [
                "TollgateCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "TollgateRedis",
            dependencies: [
                "CHiredis",
                "TollgateCore",
                "TollgateTelemetry",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateRedisStores",
            dependencies: [
                "TollgateCore",
                "TollgateTelemetry",
                "TollgateRedis",
                "TollgateOrders",
                "TollgateCheckout",
                "TollgateRateLimits",
                "TollgateConfig",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgatePayments",
            dependencies: [
                "TollgateCore",
                "TollgateCheckout",
                "TollgateConfig",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgatePostgres",
            dependencies: [
                "TollgateCore",
                "TollgateTelemetry",
                "TollgateFulfilment",
                "TollgateCatalog",
                "TollgateOrders",
                "TollgateCheckout",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Migrations")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateHTTP",
            dependencies: [
                "TollgateCore",
                "TollgateFulfilment",
                "TollgateCatalog",
                "TollgateConfig",
                "TollgateRedis",
                "TollgateRedisStores",
                "TollgatePayments",
                "TollgatePostgres",
                "TollgateTelemetry",
                "TollgateSignatures",
                "TollgateOrders",
                "TollgateRateLimits",
                "TollgateCheckout",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateProviderSim",
            dependencies: [
                "TollgateCore", "TollgateCheckout", "TollgateOrders", "TollgateProviderEvents", "TollgateSignatures",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateLoad",
            dependencies: [
                "TollgateCore", "TollgateConfig", "TollgateOrders", "TollgateProviderEvents", "TollgateSignatures", "TollgateCheckout", "TollgateCatalog",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "tollgate",
            dependencies: [
                "TollgateCore",
                "TollgateRedisStores",
                "TollgateConfig",
                "TollgateRedis",
                "TollgatePostgres",
                "TollgateHTTP",
                "TollgateTelemetry",
                "TollgateSignatures",
                "TollgateOrders",
                "TollgateRateLimits",
                "TollgateCheckout",
                "TollgateProviderEvents",
                "TollgateProviderSim",
                "TollgateGameBackendSim",
                "TollgateFulfilment",
                "TollgateLoad",
                "TollgateCatalog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "tollgate-bench",
            dependencies: [
                "TollgateCore",
                "TollgateRedisStores",
                "TollgatePostgres",
                "TollgateOrders",
                "TollgateHTTP",
                "TollgateRateLimits",
                "TollgateRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Fuzzing (Fuzz/README.md): one function per libFuzzer target, the driver, and the corpus replay tests.
        .target(
            name: "TollgateFuzzTargets",
            dependencies: [
                "TollgateCore", "TollgateSignatures", "TollgateOrders", "TollgateRateLimits", "TollgateCatalog",
                "TollgateConfig", "TollgateRedis", "TollgateCheckout", "TollgateFulfilment",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "CLibFuzzer"),
        .executableTarget(
            name: "tollgate-fuzz",
            dependencies: ["TollgateFuzzTargets", "CLibFuzzer"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateTestSupport",
            dependencies: [
                "TollgateCore",
                "TollgateOrders",
                "TollgateSignatures",
                "TollgateGameBackendSim",
                "TollgateRedis",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/TollgateTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateCoreTests",
            dependencies: ["TollgateCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateSignaturesTests",
            dependencies: [
                "TollgateSignatures",
                "TollgateCore",
                "TollgateTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateOrdersTests",
            dependencies: ["TollgateOrders", "TollgateCore", "TollgateTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateRateLimitsTests",
            dependencies: ["TollgateRateLimits"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateCheckoutTests",
            dependencies: [
                "TollgateCheckout",
                "TollgateCore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateProviderEventsTests",
            dependencies: ["TollgateProviderEvents", "TollgateOrders", "TollgateSignatures", "TollgateCore", "TollgateTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateLoadTests",
            dependencies: ["TollgateLoad", "TollgateCore", "TollgateOrders", "TollgateSignatures", "TollgateTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateCatalogTests",
            dependencies: ["TollgateCatalog", "TollgateCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateConfigTests",
            dependencies: ["TollgateConfig", "TollgateCore", "TollgateSignatures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateRedisTests",
            dependencies: [
                "TollgateRedis", "TollgateCore", "TollgateTestSupport",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateFulfilmentTests",
            dependencies: ["TollgateFulfilment", "TollgateOrders", "TollgateGameBackendSim", "TollgateCore", "TollgateSignatures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgatePostgresTests",
            dependencies: ["TollgatePostgres", "TollgateOrders", "TollgateCheckout", "TollgateCatalog", "TollgateCore", "TollgateTestSupport",
                           "TollgateFulfilment", "TollgateGameBackendSim",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateFuzzTests",
            dependencies: ["TollgateFuzzTargets"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateHTTPTests",
            dependencies: [
                "TollgateFulfilment",
                "TollgateGameBackendSim",
                "TollgateHTTP", "TollgateCatalog", "TollgateTestSupport", "TollgateConfig", "TollgateCore", "TollgateCheckout", "TollgateRedis", "TollgateTelemetry",
                "TollgateRedisStores", "TollgatePayments",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                "TollgateProviderSim", "TollgateProviderEvents", "TollgateSignatures", "TollgateOrders", "TollgateLoad", "TollgatePostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
