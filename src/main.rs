//! The `dbs-exporter` binary: everything happens in the library.

/// mimalloc: the poll path allocates many small, short-lived buffers (request parameters,
/// decoded fields); glibc malloc took about a third of the exporter's CPU there and fragments
/// across tokio's worker threads (see BENCHMARKS.md). Built with `no_thp`: otherwise it asks
/// for transparent huge pages on its arenas, and where the kernel grants them on request
/// (`madvise`, a common default) a few live bytes keep whole 2 MiB pages resident: 20 MiB at
/// 100 instances instead of 4 (BENCHMARKS.md, section 4).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dbs_exporter::cli::main()
}
