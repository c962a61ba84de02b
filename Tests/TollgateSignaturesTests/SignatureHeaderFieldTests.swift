import Testing
@testable import TollgateSignatures

/// `forEachHeaderField`, the byte-level reader of Stripe's and Paddle's `key=value` headers.
@Suite struct SignatureHeaderFieldTests {
    static func fields(_ header: String, separator: Character, trimmingKeys: Bool = false) throws(VerificationFailure) -> [String] {
        var found: [String] = []
        try forEachHeaderField(header, separator: separator.asciiValue!, trimmingKeys: trimmingKeys) { key, value in
            found.append("\(key)|\(value)")
        }
        return found
    }

    @Test func fieldsAreSplitOnTheSeparatorAndTheFirstEquals() throws {
        #expect(try Self.fields("t=1,v1=ab,v1=cd", separator: ",") == ["t|1", "v1|ab", "v1|cd"])
        #expect(try Self.fields("ts=1;h1=a=b", separator: ";") == ["ts|1", "h1|a=b"])
        #expect(try Self.fields("k=", separator: ",") == ["k|"])
        #expect(try Self.fields("=v", separator: ",") == ["|v"])
    }

    @Test func emptyFieldsAreSkipped() throws {
        #expect(try Self.fields("", separator: ",") == [])
        #expect(try Self.fields(",,t=1,,v1=ab,", separator: ",") == ["t|1", "v1|ab"])
    }

    @Test func keysAreTrimmedOfSpacesAndTabsOnlyWhenAsked() throws {
        #expect(try Self.fields(" t =1,\tv1\t= ab", separator: ",", trimmingKeys: true) == ["t|1", "v1| ab"])
        #expect(try Self.fields(" t =1", separator: ",") == [" t |1"])
        // Only ASCII blanks: a no-break space stays part of the key, which then names nothing.
        #expect(try Self.fields("\u{00A0}t=1", separator: ",", trimmingKeys: true) == ["\u{00A0}t|1"])
    }

    @Test func aFieldWithoutEqualsIsAMalformedHeader() {
        #expect(throws: VerificationFailure.malformedHeader) { try Self.fields("t=1,v1", separator: ",") }
        #expect(throws: VerificationFailure.malformedHeader) { try Self.fields("garbage", separator: ";") }
    }

    @Test func nonASCIIBytesStayInsideTheirField() throws {
        // A combining mark after the separator does not hide it (bytes, not Characters).
        #expect(try Self.fields("t=1,\u{0301}x=2", separator: ",") == ["t|1", "\u{0301}x|2"])
        #expect(try Self.fields("k=漢字😀", separator: ",") == ["k|漢字😀"])
    }

    @Test func timestampsAreOneToTwelveASCIIDigits() {
        #expect(TimestampWindow.parse("1700000000") == 1_700_000_000)
        #expect(TimestampWindow.parse("999999999999") == 999_999_999_999)
        for bad in ["", "1234567890123", "-1", "+1", "1.5", " 1", "١٢٣", "1\u{0301}"] {
            #expect(TimestampWindow.parse(Substring(bad)) == nil, "\(bad)")
        }
    }
}
