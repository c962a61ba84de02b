import Foundation

/// A JSON text read into the tree `JSONSerialization.jsonObject(with:)` makes: `[String: Any]`,
/// `[Any]`, `String`, `NSNumber` and `NSNull`, and for every text the same tree it makes.
///
/// Why: the normalizers read provider bodies as that tree, and Foundation's reader cost about a
/// tenth of a callback's instructions (callgrind, duplicates of a Stripe event: 80,000 of 750,000),
/// most of it detecting the text's encoding and converting every string through
/// `String(bytes:encoding:)`, then building a second tree. Provider bodies are UTF-8 objects of
/// strings, integers, booleans and nulls; this reads those in one pass.
///
/// How it stays exactly Foundation's: the fast path returns a tree only for texts it fully
/// understands, and hands every other text, whole, to `JSONSerialization`: a first byte that is
/// not `{` or `[` (a fragment, a byte order mark, UTF-16 or UTF-32), a number with a fraction or
/// an exponent or too many digits (Foundation's `Double` and `Decimal` rules), an escaped
/// surrogate, bytes that are not UTF-8, a byte order mark inside a string (Foundation drops some),
/// nesting deeper than 64, and any syntax error. So it never
/// accepts what Foundation refuses, and what it accepts it reads as Foundation does
/// (`FoundationJSONTreeTests` compares the two on random texts).
public enum FoundationJSONTree {
    public static func parse(_ bytes: [UInt8]) -> Any? {
        if let tree = fastTree(bytes) { return tree }
        return try? JSONSerialization.jsonObject(with: Data(bytes))
    }

    /// The one-pass reader alone: nil for every text it leaves to Foundation.
    static func fastTree(_ bytes: [UInt8]) -> Any? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = Reader(bytes: buffer)
            return reader.document()
        }
    }

    /// Returns nil for "not handled here", never for a decision about the text.
    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var depth = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func document() -> Any? {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "{") || bytes[index] == UInt8(ascii: "[") else { return nil }
            guard let value = value() else { return nil }
            skipWhitespace()
            return index == bytes.count ? value : nil
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value() -> Any? {
            skipWhitespace()
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"): return object()
            case UInt8(ascii: "["): return array()
            case UInt8(ascii: "\""): return string()
            case UInt8(ascii: "t"): return literal("true", NSNumber(value: true))
            case UInt8(ascii: "f"): return literal("false", NSNumber(value: false))
            case UInt8(ascii: "n"): return literal("null", NSNull())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return integer()
            default: return nil
            }
        }

        mutating func literal(_ word: StaticString, _ result: Any) -> Any? {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { return nil }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return nil }
            index += count
            return result
        }

        mutating func object() -> Any? {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 64 else { return nil }
            index += 1  // {
            var members: [String: Any] = [:]
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return members
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                guard let member = value() else { return nil }
                members[key] = member  // a repeated key: the last one stands, as in Foundation
                skipWhitespace()
                guard index < bytes.count else { return nil }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1; return members
                default: return nil
                }
            }
        }

        mutating func array() -> Any? {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 64 else { return nil }
            index += 1  // [
            var elements: [Any] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return elements
            }
            while true {
                guard let element = value() else { return nil }
                elements.append(element)
                skipWhitespace()
                guard index < bytes.count else { return nil }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return elements
                default: return nil
                }
            }
        }

        /// A string at `index` (its opening quote). Escapes other than an escaped surrogate are
        /// decoded; raw bytes must be valid UTF-8 with no control characters (Foundation refuses both).
        mutating func string() -> String? {
            index += 1  // "
            let start = index
            var plain = true  // no escapes, no bytes above ASCII: the text can be taken as it is
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    return plain ? String(decoding: raw, as: UTF8.self) : Self.unescaped(raw)
                }
                if byte < 0x20 { return nil }
                if byte == UInt8(ascii: "\\") {
                    plain = false
                    index += 2  // the escaped byte can never be the closing quote
                    continue
                }
                if byte >= 0x80 { plain = false }
                index += 1
            }
            return nil
        }

        /// The escapes of one string decoded, its UTF-8 validated; nil where Foundation would need to decide.
        static func unescaped(_ raw: UnsafeBufferPointer<UInt8>) -> String? {
            var utf8: [UInt8] = []
            utf8.reserveCapacity(raw.count)
            var position = 0
            while position < raw.count {
                let byte = raw[position]
                guard byte == UInt8(ascii: "\\") else {
                    utf8.append(byte)
                    position += 1
                    continue
                }
                guard position + 1 < raw.count else { return nil }
                let escaped = raw[position + 1]
                position += 2
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    guard position + 4 <= raw.count else { return nil }
                    var scalar: UInt32 = 0
                    for offset in 0..<4 {
                        guard let digit = hexDigit(raw[position + offset]) else { return nil }
                        scalar = scalar << 4 | digit
                    }
                    position += 4
                    guard let unicode = Unicode.Scalar(scalar) else { return nil }  // a surrogate: Foundation pairs them
                    utf8.append(contentsOf: UTF8.encode(unicode)!)
                default: return nil
                }
            }
            // Foundation drops a byte order mark that begins a stretch of raw text (at the
            // string's start or after an escape); a string with one is Foundation's to read.
            for position in utf8.indices.dropLast(2) where utf8[position] == 0xEF && utf8[position + 1] == 0xBB && utf8[position + 2] == 0xBF {
                return nil
            }
            return String(validating: utf8, as: UTF8.self)
        }

        static func hexDigit(_ byte: UInt8) -> UInt32? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
            default: nil
            }
        }

        /// An integer as Foundation keeps it: `UInt64` when not negative (at most 20 characters),
        /// `Int64` when negative (at most 19 with the sign). A fraction, an exponent, a leading
        /// zero or anything larger is Foundation's to read.
        mutating func integer() -> Any? {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            let digitsStart = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            let digits = index - digitsStart
            guard digits > 0, !(digits > 1 && bytes[digitsStart] == UInt8(ascii: "0")) else { return nil }
            if index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return nil
                default: break
                }
            }
            let negative = digitsStart > start
            if negative {
                guard index - start <= 19 else { return nil }
                var value: Int64 = 0
                for position in digitsStart..<index {
                    let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
                    let (next, overflow2) = shifted.subtractingReportingOverflow(Int64(bytes[position] - UInt8(ascii: "0")))
                    guard !overflow, !overflow2 else { return nil }
                    value = next
                }
                return NSNumber(value: value)
            }
            guard digits <= 20 else { return nil }
            var value: UInt64 = 0
            for position in digitsStart..<index {
                let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
                let (next, overflow2) = shifted.addingReportingOverflow(UInt64(bytes[position] - UInt8(ascii: "0")))
                guard !overflow, !overflow2 else { return nil }
                value = next
            }
            return NSNumber(value: value)
        }
    }
}
