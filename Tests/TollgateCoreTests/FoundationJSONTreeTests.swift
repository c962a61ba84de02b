import Foundation
import Testing
@testable import TollgateCore

/// The one-pass reader against `JSONSerialization` (what the normalizers read bodies with before):
/// the same tree for every text, on the providers' real payloads and on random texts, valid and
/// broken; and the fast path really taken for the payloads providers send.
@Suite struct FoundationJSONTreeTests {
    static func foundation(_ bytes: [UInt8]) -> Any? { try? JSONSerialization.jsonObject(with: Data(bytes)) }

    /// Deep equality as the normalizers can tell: the container kinds, every string's bytes, and
    /// for numbers the kind (a boolean is `c`), the value as text and as a double.
    static func same(_ a: Any?, _ b: Any?) -> Bool {
        switch (a, b) {
        case (nil, nil): return true
        case let (a as [String: Any], b as [String: Any]):
            // Keys compared by their bytes too: String equality is canonical equivalence.
            return a.count == b.count && Set(a.keys.map { Array($0.utf8) }) == Set(b.keys.map { Array($0.utf8) })
                && a.allSatisfy { key, value in b[key].map { same(value, $0) } ?? false }
        case let (a as [Any], b as [Any]):
            return a.count == b.count && zip(a, b).allSatisfy { same($0, $1) }
        case let (a as String, b as String):
            return Array(a.utf8) == Array(b.utf8)
        case let (a as NSNumber, b as NSNumber):
            return String(cString: a.objCType) == String(cString: b.objCType) && a.stringValue == b.stringValue
                && a.doubleValue.bitPattern == b.doubleValue.bitPattern
        case (is NSNull, is NSNull): return true
        default: return false
        }
    }

    static var payloads: [(String, [UInt8])] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/provider-payloads")
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return files.filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }.compactMap { url in
            (try? Data(contentsOf: url)).map { (url.lastPathComponent, Array($0)) }
        }
    }

    @Test func providersRealPayloadsReadAsFoundationReadsThemOnTheFastPath() {
        let payloads = Self.payloads
        #expect(payloads.count >= 30)
        for (name, bytes) in payloads {
            let foundation = Self.foundation(bytes)
            #expect(Self.same(FoundationJSONTree.parse(bytes), foundation), "\(name)")
            // Payloads with fractions (a PayPal amount as a number, say) go to Foundation; the rest must not.
            if foundation != nil, !String(decoding: bytes, as: UTF8.self).contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
                #expect(FoundationJSONTree.fastTree(bytes) != nil, "\(name) left the fast path")
            }
        }
    }

    @Test func edgeCasesMatchFoundation() {
        let texts = [
            #"{}"#, #"[]"#, #" { "a" : [ 1 , -2 , 0 , -0 ] } "#, #"{"a":1,"a":2}"#, #"{"a":true,"b":false,"c":null}"#,
            #"{"n":18446744073709551615}"#, #"{"n":18446744073709551616}"#, #"{"n":-9223372036854775808}"#,
            #"{"n":-9223372036854775809}"#, #"{"n":123456789012345678901}"#, #"{"n":01}"#, #"{"n":-}"#, #"{"n":1.5}"#,
            #"{"n":1e3}"#, #"{"n":1E3}"#, #"{"s":"\u00e9\n\t\"\\\/\b\f\r"}"#, #"{"s":"\ud83d\ude00"}"#, #"{"s":"\ud83d"}"#,
            #"{"s":"\ude00"}"#, #"{"s":"\u0000"}"#, #"{"s":"\x"}"#, #"{"s":"é漢😀"}"#, "{\"s\":\"a\u{01}\"}", #"{"a":1,}"#,
            #"[1,]"#, #"{"a" 1}"#, #"{"a":1}x"#, "1", "\"s\"", "true", "", " ", "\u{FEFF}{}", #"{"a":tru}"#, #"{"a":nul}"#,
            #"{"a":[[[[[[[[[[]]]]]]]]]]}"#, #"{"s":"\u12"}"#, #"{"s":"\uZZZZ"}"#, "{\"s\":\"\\",
        ]
        for text in texts {
            let bytes = Array(text.utf8)
            #expect(Self.same(FoundationJSONTree.parse(bytes), Self.foundation(bytes)), "\(text)")
        }
        // Integers at the edges of Foundation's Int64, UInt64 and Decimal rules.
        for number in ["-1000000000000000000", "-999999999999999999", "10000000000000000000", "99999999999999999999", "-9223372036854775807"] {
            let bytes = Array("{\"n\":\(number)}".utf8)
            #expect(Self.same(FoundationJSONTree.parse(bytes), Self.foundation(bytes)), "\(number)")
        }
        // Not UTF-8 (an invalid byte, an overlong NUL, an encoded surrogate, a byte over F4, a
        // sequence cut by an escape), a raw byte order mark inside strings, and UTF-16 text.
        let invalid: [[UInt8]] = [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xE6, 0xBC, 0x5C, 0x6E], [0xEF, 0xBB, 0xBF, 0x61], [0x5C, 0x6E, 0xEF, 0xBB, 0xBF]]
        for inside in invalid {
            let bytes = Array(#"{"a":""#.utf8) + inside + Array(#""}"#.utf8)
            #expect(Self.same(FoundationJSONTree.parse(bytes), Self.foundation(bytes)), "\(inside)")
        }
        let utf16: [UInt8] = [0xFF, 0xFE] + Array("{}".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        #expect(Self.same(FoundationJSONTree.parse(utf16), Self.foundation(utf16)))
        // Deeper than the fast path goes (Foundation allows 512).
        let deep = Array((String(repeating: "[", count: 100) + String(repeating: "]", count: 100)).utf8)
        #expect(FoundationJSONTree.fastTree(deep) == nil)
        #expect(Self.same(FoundationJSONTree.parse(deep), Self.foundation(deep)))
    }

    /// Random documents of the shapes providers send and of shapes they do not, then each one
    /// damaged: a byte changed, dropped or cut off. Every text reads the same both ways.
    @Test func randomTextsMatchFoundation() {
        var random = SplitMix64(seed: 0x4A53_4F4E)
        var fastPathTaken = 0
        let total = 20_000
        for round in 0..<total {
            var text = ""
            Self.document(&text, &random, depth: 0)
            var bytes = Array(text.utf8)
            if round % 3 == 2, !bytes.isEmpty {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 3 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.remove(at: position)
                default: bytes.removeLast(bytes.count - position)
                }
            }
            let ours = FoundationJSONTree.parse(bytes), theirs = Self.foundation(bytes)
            #expect(Self.same(ours, theirs), "\(String(decoding: bytes, as: UTF8.self))")
            if FoundationJSONTree.fastTree(bytes) != nil { fastPathTaken += 1 }
        }
        #expect(fastPathTaken > total / 3)
    }

    static func document(_ out: inout String, _ random: inout SplitMix64, depth: Int) {
        if random.next() % 2 == 0 { object(&out, &random, depth: depth) } else { array(&out, &random, depth: depth) }
    }

    static func space(_ out: inout String, _ random: inout SplitMix64) {
        out += [" ", "", "", "\n", "\t", "\r\n", "  "][Int(random.next() % 7)]
    }

    static func object(_ out: inout String, _ random: inout SplitMix64, depth: Int) {
        out += "{"
        let count = Int(random.next() % 5)
        for member in 0..<count {
            if member > 0 { out += "," }
            space(&out, &random)
            string(&out, &random, key: true)
            space(&out, &random)
            out += ":"
            value(&out, &random, depth: depth + 1)
        }
        space(&out, &random)
        out += "}"
    }

    static func array(_ out: inout String, _ random: inout SplitMix64, depth: Int) {
        out += "["
        let count = Int(random.next() % 4)
        for element in 0..<count {
            if element > 0 { out += "," }
            value(&out, &random, depth: depth + 1)
        }
        space(&out, &random)
        out += "]"
    }

    static func value(_ out: inout String, _ random: inout SplitMix64, depth: Int) {
        space(&out, &random)
        switch random.next() % (depth < 4 ? 10 : 8) {
        case 0, 1, 2: string(&out, &random, key: false)
        case 3, 4: number(&out, &random)
        case 5: out += ["true", "false", "null"][Int(random.next() % 3)]
        case 6: out += ["0", "-0", "18446744073709551615", "-9223372036854775808", "99999999999999999999", "1.25", "-3e2", "007", "1E+2"][Int(random.next() % 9)]
        case 7: string(&out, &random, key: false)
        case 8: object(&out, &random, depth: depth)
        default: array(&out, &random, depth: depth)
        }
        space(&out, &random)
    }

    static func number(_ out: inout String, _ random: inout SplitMix64) {
        let magnitude = random.next() >> (random.next() % 64)
        out += (random.next() % 4 == 0 ? "-" : "") + String(magnitude)
    }

    static func string(_ out: inout String, _ random: inout SplitMix64, key: Bool) {
        out += "\""
        let pieces = key ? ["id", "type", "amount", "data", "object", "a", "é"] : ["evt_1", "pi_3", " ", "é", "漢", "😀", "\\n", "\\\"", "\\\\", "\\/", "\\u00e9", "\\ud83d\\ude00", "\\ud83d", "\\u0041", "\\t", "\u{7F}", "\\x", "\u{FEFF}"]
        for _ in 0..<Int(random.next() % 4) { out += pieces[Int(random.next() % UInt64(pieces.count))] }
        out += "\""
    }
}
