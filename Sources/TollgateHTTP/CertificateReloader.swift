import Logging
import TollgateConfig
import TollgateRedisStores
import Metrics
import ServiceLifecycle
import UnixSignals

/// Reloads on SIGHUP: the edge certificate, the rate-limit rules and the product catalogs. A bad file on disk is
/// logged and counted, and what is in force stays: a typo during rotation must not take the edge down.
struct CertificateReloader: Service {
    let store: CertificateStore
    let rules: RulesStore?
    let catalog: CatalogStore?
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                rules?.reload(trigger: "SIGHUP")
                catalog?.reload(trigger: "SIGHUP")
                do {
                    try store.reload()
                    Counter(label: "tollgate_tls_reloads_total", dimensions: [("outcome", "ok")]).increment()
                    logger.notice("reloaded TLS certificate", metadata: ["chain": "\(store.chainPath)"])
                } catch {
                    Counter(label: "tollgate_tls_reloads_total", dimensions: [("outcome", "failed")]).increment()
                    logger.error("TLS certificate reload failed; keeping the one in force", metadata: [
                        "chain": "\(store.chainPath)", "key": "\(store.keyPath)", "error": "\(error)",
                    ])
                }
            }
        }
    }
}
