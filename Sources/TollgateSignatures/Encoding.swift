import Crypto
import Foundation
import TollgateCore

/// Byte encodings and constant-time comparison shared by the schemes.
enum Encoding {
    /// Decodes hex (either case). Nil for odd length or a non-hex character.
    static func hexDecode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Compares two byte strings in time that depends only on their lengths, never on where they
    /// first differ: a MAC compared with `==` leaks how many leading bytes an attacker got right.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// True if the HMAC-SHA256 of `message` under any secret (its UTF-8 bytes as the key) equals
    /// any of `signatures`. Every comparison is constant time.
    static func anySecretSigns(_ message: [UInt8], secrets: [Secret], matching signatures: [[UInt8]]) -> Bool {
        secrets.contains { secret in
            let expected = hmacSHA256(key: Array(secret.exposedValue.utf8), message)
            return signatures.contains { constantTimeEquals($0, expected) }
        }
    }

    /// HMAC-SHA256 of `message` under `key`.
    static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }
}
