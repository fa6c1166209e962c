//! The `dbs-exporter` binary: everything happens in the library.

fn main() -> std::process::ExitCode {
    dbs_exporter::cli::main()
}
