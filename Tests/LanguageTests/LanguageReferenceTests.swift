import Foundation
import Testing
import FinchLanguage
import TestSupport

/// docs/language.md must be what the command table generates.
@Suite struct LanguageReferenceTests {
    @Test func docsLanguageIsCurrent() throws {
        let url = TestPaths.repository.appendingPathComponent("docs/language.md")
        let generated = LanguageReference.markdown()
        if ProcessInfo.processInfo.environment["FINCH_RECORD_GOLDENS"] == "1" {
            try generated.write(to: url, atomically: true, encoding: .utf8)
        }
        let committed = try String(contentsOf: url, encoding: .utf8)
        #expect(committed == generated, "docs/language.md is stale: FINCH_RECORD_GOLDENS=1 swift test --filter LanguageReferenceTests")
        for spec in CommandTable.all { #expect(committed.contains("### `\(spec.name)`")) }
    }
}
