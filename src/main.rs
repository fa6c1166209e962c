//! The `dbs-exporter` binary: everything happens in the library.

/// mimalloc: the poll path allocates many small, short-lived buffers (request parameters,
/// decoded fields); glibc malloc took about a third of the exporter's CPU there and fragments
/// across tokio's worker threads (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dbs_exporter::cli::main()
}
