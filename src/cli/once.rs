//! `dbs-exporter once`: one discovery and one poll of every target, the exposition written to
//! stdout; exit 1 when a listing or a discovery list failed.

use std::process::ExitCode;

use super::{credentials, load_config, shard, Cli, Error};
use crate::app::Pipeline;
use crate::util::WallClock;

pub(super) async fn run(cli: &Cli) -> Result<ExitCode, Error> {
    let config = load_config(cli)?;
    let mut pipeline = Pipeline::build_with(&config, credentials(), shard(cli)?, WallClock::System)?;
    pipeline.discover().await;
    let report = pipeline.poll_once().await;
    // Written as it is rendered: at 10,000 instances the exposition is tens of megabytes.
    pipeline.exposition.write_plain(std::io::stdout().lock()).map_err(Error::Stdout)?;
    let failing_lists = pipeline.inventory().failing_sources();
    if report.failed > 0 {
        eprintln!(
            "dbs-exporter: {} of {} listings failed (see the log above)",
            report.failed,
            pipeline.targets().len()
        );
    }
    if failing_lists > 0 {
        eprintln!("dbs-exporter: {failing_lists} discovery list(s) failed (see the log above): their instances are missing");
    }
    if report.failed > 0 || failing_lists > 0 {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
