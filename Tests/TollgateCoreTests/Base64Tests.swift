import Foundation
import Testing
import TollgateCore

/// The byte-level decoder against RFC 4648's vectors, and against Foundation (what the edge
/// decoded with before) on random text: the same bytes wherever it accepts, and refusals only
/// where Foundation is lenient about padding.
@Suite struct Base64Tests {
    /// The decoder Tollgate used before: Foundation, with missing padding added.
    static func foundationDecode(_ text: String) -> [UInt8]? {
        var padded = text
        let remainder = padded.utf8.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { padded += String(repeating: "=", count: 4 - remainder) }
        return Data(base64Encoded: padded).map { Array($0) }
    }

    @Test func rfc4648VectorsDecodePaddedAndUnpadded() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.decode(encoded) == Array(plain.utf8))
            #expect(Base64.decode(encoded.replacingOccurrences(of: "=", with: "")) == Array(plain.utf8))
            #expect(Base64.decodeURL(encoded) == Array(plain.utf8))
            #expect(Base64.decodeURL(utf8: Array(encoded.utf8)) == Array(plain.utf8))
        }
        // The two alphabets differ in their last two characters only.
        #expect(Base64.decode("+/+/") == [0xFB, 0xFF, 0xBF])
        #expect(Base64.decodeURL("-_-_") == [0xFB, 0xFF, 0xBF])
    }

    @Test func malformedTextIsRefused() {
        // Lengths of 4n+1 first; then 4-byte texts, so that each is refused for what it holds.
        for text in ["Z", "Zm9vY", "Zg===", "Zm9v=Zm9v", "Z===", "====", "==", "Zg=A", "Z=9v", "=Zm9", "Zm9\n", " Zm9", "Zm9 ", "Zm.v", "é12", "Zm9\u{0}"] {
            #expect(Base64.decode(text) == nil, "\(text.debugDescription)")
            #expect(Base64.decodeURL(text) == nil, "\(text.debugDescription)")
        }
        #expect(Base64.decode("-_-_") == nil)
        #expect(Base64.decodeURL("+/+/") == nil)
    }

    @Test func decodingAgreesWithFoundationOnRandomText() {
        var random = SplitMix64(seed: 0xB64)
        let characters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_====. \n")
        var accepted = 0
        for _ in 0..<100_000 {
            let length = Int(random.next() % 24)
            // Mostly valid text (a narrow alphabet) so that most of it decodes; some of everything.
            let narrow = random.next() % 4 != 0
            let text = String((0..<length).map { _ in characters[Int(random.next() % UInt64(narrow ? 64 : characters.count))] })
            // base64url, as the old decoder read it: `+` and `/` refused, `-` and `_` read as them.
            let standard = text.contains { $0 == "+" || $0 == "/" } ? nil : String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
            #expect(Base64.decodeURL(text) == standard.flatMap(Base64.decode), "\(text.debugDescription)")
            #expect(Base64.decodeURL(utf8: Array(text.utf8)) == standard.flatMap(Base64.decode), "\(text.debugDescription)")
            let expected = Self.foundationDecode(text)
            let decoded = Base64.decode(text)
            if let decoded {
                accepted += 1
                #expect(decoded == expected, "\(text.debugDescription)")
            } else if expected != nil {
                // Foundation takes `=` before other characters ("Zg=A") and whole groups of it
                // ("===="); RFC 4648 allows padding only at the end, and at most two.
                let trailing = text.reversed().prefix { $0 == "=" }.count
                let leftOut = (4 - text.utf8.count % 4) % 4
                #expect(text.dropLast(trailing).contains("=") || trailing + leftOut > 2, "\(text.debugDescription)")
            }
        }
        #expect(accepted > 10_000)
    }

    @Test func randomBytesRoundTrip() {
        var random = SplitMix64(seed: 7)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            #expect(Base64.decode(Data(bytes).base64EncodedString()) == bytes)
            #expect(Base64.decodeURL(Base64.encodeURL(bytes)) == bytes)
        }
    }
}
