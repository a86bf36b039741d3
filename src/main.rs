fn main() -> std::process::ExitCode {
    ctibridge::cli::main()
}
