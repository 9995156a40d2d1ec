import SandcastleCLI

#if canImport(Glibc)
import Glibc
#endif

exit(await Sandcastle.run(arguments: Array(CommandLine.arguments.dropFirst())))
