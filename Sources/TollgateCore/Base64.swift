import Foundation

/// Base64 as providers write it: standard (Standard Webhooks secrets, certificates) and base64url
/// (RFC 4648 section 5: the parts of a JWS).
public enum Base64 {
    /// Decodes standard base64, tolerating missing padding. Nil for anything else.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var padded = String(text)
        let remainder = padded.utf8.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { padded += String(repeating: "=", count: 4 - remainder) }
        return Data(base64Encoded: padded).map { Array($0) }
    }

    /// Decodes base64url, unpadded or padded; the standard alphabet's `+` and `/` are refused.
    public static func decodeURL(_ text: some StringProtocol) -> [UInt8]? {
        guard text.utf8.allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") }) else { return nil }
        return decode(String(text).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/"))
    }

    /// Encodes as unpadded base64url.
    public static func encodeURL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
