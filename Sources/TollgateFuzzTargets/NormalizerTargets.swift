import TollgateCore
import TollgateOrders

/// One target per provider normalizer (`normalize-<provider>`): the input is a callback body (seeds:
/// the providers' real payloads in Tests/Fixtures), normalized as the edge does after verification.
///
/// Invariants on every event: it names the normalizer's tenant, source and provider and carries
/// the body unchanged; its event id is non-empty; a body not understood is kind `other`; an amount
/// is whole minor units within the documented bound; ids and references hold no control
/// characters (Postgres refuses NUL; U+001E/U+001F separate stored references).
enum NormalizerTargets {
    static let headers = ["webhook-id": "msg_fuzz", "content-type": "application/json"]

    static let all: [FuzzTarget] = Provider.allCases.map { provider in
        FuzzTarget("normalize-\(provider.rawValue)", "\(provider.rawValue) callback body -> payment events; event invariants") { bytes throws(FuzzInvariantViolation) in
            try normalize(provider, bytes)
        }
    }

    static func normalize(_ provider: Provider, _ body: [UInt8]) throws(FuzzInvariantViolation) {
        let normalizer = PaymentEventNormalizer(tenant: "fuzz", source: "fuzz-source", provider: provider)
        let events: [PaymentEvent]
        do {
            events = try normalizer.normalize(headers: headers, body: body)
        } catch {
            return  // noEventID: refused with 422, which is a decision, not a fault.
        }
        func violation(_ message: String) -> FuzzInvariantViolation {
            FuzzInvariantViolation(target: "normalize-\(provider.rawValue)", message: message)
        }
        for event in events {
            guard event.tenant == "fuzz", event.source == "fuzz-source", event.account == "fuzz-source", event.provider == provider else {
                throw violation("an event names another tenant, source, account or provider")
            }
            guard event.rawBody == body else { throw violation("an event's raw body differs from the callback body") }
            guard !event.providerEventID.isEmpty else { throw violation("an event has an empty event id") }
            guard event.understood || event.kind == .other else { throw violation("an event not understood has kind \(event.kind)") }
            if let amount = event.amountMinor, !(0...PaymentEventNormalizer.maximumAmountMinor).contains(amount) {
                throw violation("amount \(amount) is outside 0...\(PaymentEventNormalizer.maximumAmountMinor)")
            }
            if event.providerEventID.unicodeScalars.contains(where: { $0.value == 0 }) { throw violation("an event id holds NUL") }
            let references = [event.orderID, event.providerPaymentID].compactMap { $0 } + event.linkReferences
            if references.contains(where: { $0.isEmpty || $0.unicodeScalars.contains { $0.value < 0x20 } }) {
                throw violation("an order id or payment reference is empty or holds a control character")
            }
        }
    }
}
