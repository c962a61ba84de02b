import Hummingbird
import NIOConcurrencyHelpers
import TollgateGameBackendSim

/// The game-backend simulator on a free loopback port for the length of `body`, which gets its
/// `POST /tollgate` URL.
public enum GameBackendFixture {
    public static func withSimulator<T: Sendable>(_ simulator: GameBackendSimulator, _ body: (String) async throws -> T) async throws -> T {
        let port = NIOLockedValueBox<Int?>(nil)
        let app = simulator.application(host: "127.0.0.1", port: 0) { channel in port.withLockedValue { $0 = channel.localAddress?.port } }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await app.runService(); return nil }
            defer { group.cancelAll() }
            try await TestEnvironment.waitUntil { port.withLockedValue { $0 } != nil }
            return try await body("http://127.0.0.1:\(port.withLockedValue { $0 }!)/tollgate")
        }
    }
}
