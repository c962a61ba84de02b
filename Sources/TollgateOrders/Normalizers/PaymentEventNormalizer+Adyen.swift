import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Adyen: one event per notification item; identity pspReference:eventCode:success, plus
    // additionalData.disputeStatus where one is given (see ``adyenEventID``).
    // Modifications (REFUND, CANCELLATION, CHARGEBACK, ...) have their own pspReference and point
    // at the payment with originalReference; their merchantReference may be their own, so only a
    // payment's (and a dispute's, which repeats the payment's) is taken as our order reference.
    func adyen(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> [PaymentEvent] {
        guard let wrappers = json?["notificationItems"] as? [[String: Any]], !wrappers.isEmpty else {
            // Platform webhooks (HmacSignature header) carry their own id; keep them as `other`.
            // Read with `text` like every other id: an empty id would make every such webhook a
            // duplicate of the first (found by the normalize-adyen fuzzer), and NUL breaks Postgres.
            guard let id = Self.text((json?["data"] as? [String: Any])?["id"]) ?? Self.text(json?["id"]) else { throw .noEventID }
            return [event(id, nil, body, understood: true)]
        }
        var events: [PaymentEvent] = []
        for wrapper in wrappers {
            guard let item = wrapper["NotificationRequestItem"] as? [String: Any],
                  let psp = Self.text(item["pspReference"]), let code = Self.text(item["eventCode"])
            else { throw .noEventID }
            let success = Self.flag(item["success"])
            let additional = item["additionalData"] as? [String: Any]
            let disputeStatus = (additional?["disputeStatus"] as? String)?.trimmingCharacters(in: .whitespaces)
            let (kind, stage) = Self.adyenKind(code: code, success: success, disputeStatus: disputeStatus)
            var result = event(Self.adyenEventID(psp: psp, code: code, success: success, disputeStatus: disputeStatus), kind, body, understood: true)
            let original = Self.text(item["originalReference"])
            let merchantReference = Self.text(item["merchantReference"])
            switch kind {
            case .paymentSucceeded, .paymentFailed, .paymentAuthorized, .checkoutExpired:
                result.orderID = merchantReference
                result.linkReferences = [psp]
            case .paymentCanceled:
                result.orderID = original == nil ? merchantReference : nil
                result.linkReferences = [original ?? psp]
            case .refundSucceeded, .refundFailed:
                // REFUND_FAILED (success "true") and a rejected REFUND name the refund by its pspReference.
                result.facts.refundID = psp
                result.linkReferences = [original, psp].compactMap { $0 }
            case .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost:
                // A dispute keeps its pspReference through its stages; CHARGEBACK_REVERSED may carry
                // only that, so the dispute's own reference is linked to the order too.
                result.orderID = merchantReference
                result.facts.disputeID = psp
                result.facts.disputeStage = stage
                result.linkReferences = [original, psp].compactMap { $0 }
            default:
                result.linkReferences = [original ?? psp]
            }
            result.providerPaymentID = result.linkReferences.first
            let amount = item["amount"] as? [String: Any]
            result.currency = (amount?["currency"] as? String)?.uppercased()
            result.setMinorAmount(amount?["value"])
            if let date = item["eventDate"] as? String { result.occurredAt = ISO8601Timestamp.parse(date) }
            events.append(result)
        }
        return events
    }

    /// The stored identity of an Adyen notification item: `pspReference:eventCode:success`, and
    /// `:disputeStatus` after it when the item carries one. A dispute keeps one pspReference
    /// through all its notifications, and Adyen reports its outcome by sending CHARGEBACK again
    /// with a new `disputeStatus` (the real samples CHARGEBACK.json and CHARGEBACK.dispute-lost.json
    /// share pspReference, eventCode and success): without the status the "Lost" report was taken
    /// for a redelivery of the first chargeback and dropped as a duplicate. A redelivery repeats
    /// the same status, so it still deduplicates.
    public static func adyenEventID(psp: String, code: String, success: Bool, disputeStatus: String? = nil) -> String {
        let base = "\(psp):\(code):\(success)"
        guard let status = disputeStatus?.trimmingCharacters(in: .whitespaces), !status.isEmpty else { return base }
        return "\(base):\(status)"
    }

    /// The kind (and dispute stage) of an Adyen eventCode. `success` "false" on a payment is a
    /// failure; on a modification it means the modification did not happen.
    static func adyenKind(code: String, success: Bool, disputeStatus: String?) -> (PaymentEventKind?, Int?) {
        switch (code, success) {
        case ("AUTHORISATION", true): (.paymentSucceeded, nil)
        case ("AUTHORISATION", false): (.paymentFailed, nil)
        case ("CANCELLATION", true): (.paymentCanceled, nil)
        case ("OFFER_CLOSED", true): (.checkoutExpired, nil)
        case ("REFUND", true): (.refundSucceeded, nil)
        // A refund Adyen rejected, or one it accepted and then failed: it never counts.
        case ("REFUND", false), ("REFUND_FAILED", _): (.refundFailed, nil)
        case ("REQUEST_FOR_INFORMATION", _), ("NOTIFICATION_OF_CHARGEBACK", _): (.disputeOpened, nil)
        case ("CHARGEBACK", _):
            // Newer flows put the outcome in additionalData.disputeStatus; without one the funds
            // are gone and the outcome is still to come.
            switch disputeStatus?.lowercased() {
            case "lost", "accepted", "expired": (.disputeLost, nil)
            case "won": (.disputeWon, nil)
            default: (.disputeFundsWithdrawn, nil)
            }
        case ("CHARGEBACK_REVERSED", _): (.disputeWon, nil)
        case ("PREARBITRATION_WON", _): (.disputeWon, 4)
        case ("SECOND_CHARGEBACK", _), ("PREARBITRATION_LOST", _): (.disputeLost, 4)
        default: (nil, nil)
        }
    }
}
