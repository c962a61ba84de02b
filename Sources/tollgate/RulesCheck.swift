import ArgumentParser
import TollgateRateLimits

struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with rate-limit rules files.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a rules directory; print file:line:col: message per problem and exit 1 if any."
        )

        @Argument(help: "The rules directory.")
        var directory: String = "rules"

        func run() throws {
            switch RulesFileParser.load(directory: directory) {
            case .success(let set):
                let total = set.defaults.count + set.tenants.values.map(\.count).reduce(0, +)
                print("\(directory): ok (\(total) rules; tenants: \(set.tenants.keys.sorted().joined(separator: ", ")))")
            case .failure(let errors):
                for diagnostic in errors.diagnostics { print(diagnostic) }
                throw ExitCode.failure
            }
        }
    }
}
