import Logging
import ServiceLifecycle

/// Picks up edits to the rules directory by polling its content hash (edits made by ops with any
/// editor, rsync or a config-management run all show up the same way).
public struct RulesReloader: Service {
    let store: RulesStore
    let interval: Duration

    public init(store: RulesStore, interval: Duration) {
        self.store = store
        self.interval = interval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                store.reload(trigger: "poll")
            }
        }
    }
}
