import Testing
import TollgateCore

/// A secret must not reach text by any of Swift's ways of printing a value.
@Suite struct SecretTests {
    struct Holder { var name = "payments"; var key = Secret("sk_live_do_not_print_me") }

    @Test func everyWayOfPrintingRedacts() {
        let secret = Secret("sk_live_do_not_print_me")
        var dumped = ""
        dump(secret, to: &dumped)
        var dumpedHolder = ""
        dump(Holder(), to: &dumpedHolder)
        let renderings = [
            "\(secret)", String(describing: secret), String(reflecting: secret), dumped,
            "\(Holder())", String(reflecting: Holder()), dumpedHolder, "\([secret])", "\(Optional(secret) as Any)",
        ]
        for text in renderings {
            #expect(!text.contains("do_not_print_me"), "\(text)")
        }
        #expect(Mirror(reflecting: secret).children.isEmpty)
        #expect(secret.exposedValue == "sk_live_do_not_print_me")
    }
}
