import Testing
import TollgateCore

@Suite struct ProblemTests {
    @Test func documentHasStableTypeTitleStatusAndExtensionsInOrder() {
        let problem = Problem(.payloadTooLarge, detail: "The request body exceeds 10 bytes.", extensions: ["limit_bytes": .int(10)])
        #expect(problem.jsonObject().serialized
            == #"{"type":"urn:tollgate:problem:payload-too-large","title":"The request body is larger than this edge accepts.","status":413,"detail":"The request body exceeds 10 bytes.","limit_bytes":10}"#)
    }

    @Test func extensionsCannotOverrideReservedMembers() {
        let problem = Problem(.notFound, extensions: ["status": .int(200), "type": .string("x")])
        let text = problem.jsonObject().serialized
        #expect(text == #"{"type":"urn:tollgate:problem:not-found","title":"No such resource.","status":404}"#)
    }

    @Test func everyKindHasAnErrorStatusAndADistinctType() {
        let types = Set(ProblemKind.allCases.map(\.rawValue))
        #expect(types.count == ProblemKind.allCases.count)
        for kind in ProblemKind.allCases {
            #expect((400...599).contains(kind.status), "\(kind)")
        }
    }

    @Test(arguments: [(404, ProblemKind.notFound), (413, .payloadTooLarge), (503, .serviceUnavailable), (418, .badRequest), (599, .internalError)])
    func statusMapsToKind(status: Int, kind: ProblemKind) {
        #expect(ProblemKind.forStatus(status) == kind)
    }
}

@Suite struct JSONValueTests {
    @Test func escapesQuotesBackslashesAndControlCharacters() {
        let value = JSONValue.object([("a\"b", .string("line\nbreak\t\\ \u{01} é"))])
        #expect(value.serialized == #"{"a\"b":"line\nbreak\t\\ \u0001 é"}"#)
    }

    @Test func serializesScalarsAndNesting() {
        let value = JSONValue.array([.null, .bool(true), .int(-3), .double(1.5), .double(.infinity), .object([])])
        #expect(value.serialized == "[null,true,-3,1.5,null,{}]")
    }
}

@Suite struct RequestIDTests {
    @Test func acceptsShortPrintableIDs() {
        #expect(RequestID(accepting: "abc-123_XYZ")?.value == "abc-123_XYZ")
    }

    @Test(arguments: ["", "has space", "new\nline", String(repeating: "a", count: 129), "ünicode"])
    func rejectsUnsafeIDs(candidate: String) {
        #expect(RequestID(accepting: candidate) == nil)
        let generated = RequestID.accepting(candidate)
        #expect(generated.value.count == 32)
        #expect(generated.value != candidate)
    }

    @Test func generatedIDsAreHexAndDistinct() {
        let ids = (0..<100).map { _ in RequestID().value }
        #expect(Set(ids).count == 100)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
    }
}

@Suite struct ReadinessReportTests {
    @Test func readyOnlyWhenAllUp() {
        var report = ReadinessReport(checks: ["postgres": .up, "redis": .up])
        #expect(report.isReady)
        report.checks["redis"] = .down(reason: "redis connection closed")
        #expect(!report.isReady)
        #expect(report.down == ["redis"])
        #expect(report.json.serialized
            == #"{"postgres":{"status":"up"},"redis":{"status":"down","reason":"redis connection closed"}}"#)
    }
}
