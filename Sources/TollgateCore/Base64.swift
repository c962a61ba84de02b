import Foundation

/// Base64 as providers write it: standard (Standard Webhooks secrets, certificates) and base64url
/// (RFC 4648 section 5: the parts of a JWS).
///
/// Decoding reads UTF-8 bytes directly: an App Store notification carries three JWS, each with a
/// certificate chain of about 4 KB in base64, and decoding them through Foundation's `String`
/// replacements was a tenth of the edge's CPU in a storm with Apple callbacks in the mix.
public enum Base64 {
    /// Decodes standard base64, tolerating missing padding. Nil for anything else.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        decode(utf8: text.utf8, alphabet: standardValues)
    }

    /// Decodes base64url, unpadded or padded; the standard alphabet's `+` and `/` are refused.
    public static func decodeURL(_ text: some StringProtocol) -> [UInt8]? {
        decode(utf8: text.utf8, alphabet: urlValues)
    }

    /// Decodes base64url from UTF-8 bytes (a part of a JWS split on its bytes).
    public static func decodeURL(utf8 bytes: some Collection<UInt8>) -> [UInt8]? {
        decode(utf8: bytes, alphabet: urlValues)
    }

    /// Encodes as unpadded base64url.
    public static func encodeURL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Each byte's value in an alphabet: 0-63, or 0xFF for a byte outside it.
    private static func values(of alphabet: String) -> [UInt8] {
        var values = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in alphabet.utf8.enumerated() { values[Int(character)] = UInt8(value) }
        return values
    }

    private static let standardValues = values(of: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    private static let urlValues = values(of: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    private static func decode(utf8 bytes: some Collection<UInt8>, alphabet: [UInt8]) -> [UInt8]? {
        if let decoded = bytes.withContiguousStorageIfAvailable({ decode($0, alphabet: alphabet) }) { return decoded }
        return Array(bytes).withUnsafeBufferPointer { decode($0, alphabet: alphabet) }
    }

    /// RFC 4648 decoding: characters of `alphabet`, then at most two `=` counting the ones an
    /// unpadded text leaves out. Padding anywhere else, or a length of 4n+1, is refused. Bits
    /// left over in the last character are ignored, as Foundation ignores them.
    private static func decode(_ text: UnsafeBufferPointer<UInt8>, alphabet: [UInt8]) -> [UInt8]? {
        guard text.count % 4 != 1 else { return nil }
        var end = text.count
        var padding = (4 - text.count % 4) % 4
        while end > 0, text[end - 1] == UInt8(ascii: "=") {
            end -= 1
            padding += 1
        }
        guard padding <= 2 else { return nil }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(end / 4 * 3 + 2)
        var index = 0
        while index + 4 <= end {
            let a = alphabet[Int(text[index])], b = alphabet[Int(text[index + 1])]
            let c = alphabet[Int(text[index + 2])], d = alphabet[Int(text[index + 3])]
            guard (a | b | c | d) & 0xC0 == 0 else { return nil }
            let group = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
            decoded.append(UInt8(truncatingIfNeeded: group >> 16))
            decoded.append(UInt8(truncatingIfNeeded: group >> 8))
            decoded.append(UInt8(truncatingIfNeeded: group))
            index += 4
        }
        // What is left before the padding: nothing, or 2 or 3 characters (1 or 2 bytes).
        if end - index >= 2 {
            let a = alphabet[Int(text[index])], b = alphabet[Int(text[index + 1])]
            guard (a | b) & 0xC0 == 0 else { return nil }
            decoded.append(a << 2 | b >> 4)
            if end - index == 3 {
                let c = alphabet[Int(text[index + 2])]
                guard c & 0xC0 == 0 else { return nil }
                decoded.append((b & 0x0F) << 4 | c >> 2)
            }
        }
        return decoded
    }
}
