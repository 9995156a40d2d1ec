import ArgumentParser
import SandboxPolicy

struct Policy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Work with policy directories.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy directory offline: every problem in every file, with file, field and value.",
            discussion: "Profiles (*.toml) and seccomp profiles are checked the way the daemon loads them: syscall names with libseccomp, capability names with libcap. Exits 8 when anything is wrong.")

        @Argument(help: "The directory (as /etc/sandcastle/policies or Policies/ in a checkout).")
        var directory: String

        func run() async throws {
            // Reading the files and compiling the seccomp filters block: on a thread of their own.
            let directory = self.directory
            let loaded = await onThread { Result { () throws(PolicyLoadError) in try PolicySet.load(directory: directory) } }
            switch loaded {
            case .success(let policies):
                let names = policies.profiles.keys.sorted()
                await Output.line("ok: \(directory): \(names.count) profile(s): \(names.joined(separator: ", "))")
            case .failure(let error):
                await Output.line("FAIL: \(directory): \(error.problems.count) problem(s)")
                for problem in error.problems { await Output.line("  - \(problem)") }
                throw ExitCode(ExitStatus.checksFailed.rawValue)
            }
        }
    }
}
