import KeyAdmin

CommandLineTool.main(Array(CommandLine.arguments.dropFirst()))
