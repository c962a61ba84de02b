import Crypto
import Foundation
import TollgateCore

/// Adyen: standard notifications carry an HMAC per item in `additionalData.hmacSignature` over
/// `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`;
/// platform and management webhooks sign the raw body in the `HmacSignature` header. The key is hex.
/// Stricter than the SDK helper, which checks only the first item: every item must verify.
/// Adyen signs no timestamp; replay protection is deduplication.
public struct AdyenSignatureScheme: SignatureScheme {
    public let provider = Provider.adyen
    /// HMAC keys, hex-decoded from the configured secrets.
    let keys: [[UInt8]]

    public init(secrets: [Secret]) {
        self.keys = secrets.compactMap { Encoding.hexDecode($0.exposedValue) }.filter { !$0.isEmpty }
    }

    public func verify(_ request: SignedRequest, now: Date) async throws(VerificationFailure) {
        guard !keys.isEmpty else { throw .noUsableSecret }
        if let header = request.header("HmacSignature") {
            guard let signature = Base64.decode(header) else { throw .malformedHeader }
            guard matches(signature, over: request.body) else { throw .signatureMismatch }
            return
        }
        let items = try Self.notificationItems(in: request.body)
        for item in items {
            guard let additional = item["additionalData"] as? [String: Any],
                  let text = additional["hmacSignature"] as? String, !text.isEmpty
            else { throw .noSignature }
            guard let signature = Base64.decode(text), matches(signature, over: Array(Self.signingString(item).utf8)) else {
                throw .signatureMismatch
            }
        }
    }

    private func matches(_ signature: [UInt8], over bytes: [UInt8]) -> Bool {
        keys.contains { key in
            Encoding.constantTimeEquals(signature, Array(HMAC<SHA256>.authenticationCode(for: bytes, using: SymmetricKey(data: key))))
        }
    }

    /// The `NotificationRequestItem` objects of a standard notification body.
    static func notificationItems(in body: [UInt8]) throws(VerificationFailure) -> [[String: Any]] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let wrappers = object["notificationItems"] as? [Any], !wrappers.isEmpty
        else { throw .malformedBody }
        var items: [[String: Any]] = []
        for wrapper in wrappers {
            guard let item = (wrapper as? [String: Any])?["NotificationRequestItem"] as? [String: Any] else { throw .malformedBody }
            items.append(item)
        }
        return items
    }

    /// Adyen's signing string: fields joined by `:`, missing ones empty, no escaping.
    static func signingString(_ item: [String: Any]) -> String {
        let amount = item["amount"] as? [String: Any]
        let fields: [Any?] = [
            item["pspReference"], item["originalReference"], item["merchantAccountCode"], item["merchantReference"],
            amount?["value"], amount?["currency"], item["eventCode"], item["success"],
        ]
        return fields.map(render).joined(separator: ":")
    }

    private static func render(_ value: Any?) -> String {
        switch value {
        case nil: return ""
        case let text as String: return text
        case let number as NSNumber:
            // JSON booleans arrive as NSNumber too; Adyen sends `success` as "true"/"false" text,
            // but render a real boolean the same way. Amounts are integers in minor units.
            if String(cString: number.objCType) == "c" { return number.boolValue ? "true" : "false" }
            return number.stringValue
        default: return "\(value!)"
        }
    }
}

extension AdyenSignatureScheme {
    /// The HMAC of one Adyen notification item, base64, as `additionalData.hmacSignature` holds it.
    static func itemSignature(_ item: [String: Any], key: [UInt8]) -> String {
        Data(Encoding.hmacSHA256(key: key, Array(AdyenSignatureScheme.signingString(item).utf8))).base64EncodedString()
    }

    /// The mirror of ``verify(_:now:)``: an `hmacSignature` in every notification item of the body.
    static func sign(_ body: [UInt8], secret: Secret) -> [UInt8] {
        let key = Encoding.hexDecode(secret.exposedValue) ?? []
        guard var object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
              let wrappers = object["notificationItems"] as? [[String: Any]]
        else { return body }
        object["notificationItems"] = wrappers.map { wrapper -> [String: Any] in
            guard var item = wrapper["NotificationRequestItem"] as? [String: Any] else { return wrapper }
            var additional = item["additionalData"] as? [String: Any] ?? [:]
            additional["hmacSignature"] = itemSignature(item, key: key)
            item["additionalData"] = additional
            return ["NotificationRequestItem": item]
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(body))
    }
}
