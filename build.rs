//! What `--version` and `aliyun_dbs_exporter_build_info` say of the build: the git revision and
//! branch (from `DBS_EXPORTER_REVISION` / `DBS_EXPORTER_BRANCH` when set, as the Dockerfile
//! does, else from git when the source is a checkout, else `unknown`), the build date
//! (`SOURCE_DATE_EPOCH` when set, for reproducible builds, else now) and the Rust version.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    for variable in ["DBS_EXPORTER_REVISION", "DBS_EXPORTER_BRANCH", "SOURCE_DATE_EPOCH"] {
        println!("cargo:rerun-if-env-changed={variable}");
    }
    // A new commit or checkout moves HEAD or the branch it points at.
    // (A worktree has its own HEAD; branches live in the common directory.)
    if let (Some(git_dir), Some(common)) =
        (git(&["rev-parse", "--git-dir"]), git(&["rev-parse", "--git-common-dir"]))
    {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={common}/{reference}");
        }
    }
    let revision = setting("DBS_EXPORTER_REVISION").or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    let branch = setting("DBS_EXPORTER_BRANCH").or_else(|| git(&["rev-parse", "--abbrev-ref", "HEAD"]));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rust_version = output(Command::new(rustc).arg("--version"))
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string));
    let built_at = setting("SOURCE_DATE_EPOCH")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()));

    let unknown = || "unknown".to_string();
    println!("cargo:rustc-env=DBS_EXPORTER_REVISION={}", revision.unwrap_or_else(unknown));
    println!("cargo:rustc-env=DBS_EXPORTER_BRANCH={}", branch.unwrap_or_else(unknown));
    println!("cargo:rustc-env=DBS_EXPORTER_RUST_VERSION={}", rust_version.unwrap_or_else(unknown));
    println!("cargo:rustc-env=DBS_EXPORTER_BUILD_DATE={}", build_date(built_at));
    let target = |part: &str| std::env::var(format!("CARGO_CFG_TARGET_{part}")).unwrap_or_else(|_| unknown());
    println!("cargo:rustc-env=DBS_EXPORTER_PLATFORM={}/{}", target("OS"), target("ARCH"));
}

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty() && v != "unknown")
}

fn git(args: &[&str]) -> Option<String> {
    output(Command::new("git").args(args))
}

fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok().filter(|out| out.status.success())?;
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string()).filter(|s| !s.is_empty())
}

/// `YYYYMMDD-HH:MM:SS` in UTC, as Prometheus' own builds print it.
fn build_date(unix_seconds: u64) -> String {
    let (days, seconds) = (unix_seconds / 86_400, unix_seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}{month:02}{day:02}-{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
