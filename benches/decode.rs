//! Decoding one 100-task DescribeDownloadTask page and aggregating it, in tasks per second:
//! into what the poller keeps of a task (`TaskSummary`, no string per task) and, for
//! comparison, into fully typed tasks (`DownloadTask`).
//!
//! `cargo bench --bench decode`

use dbs_exporter::api::response::{decode_page, decode_summary_page};
use dbs_exporter::api::TaskType;
use dbs_exporter::store::model::TaskAggregate;
use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;

fn main() {
    divan::main();
}

const STATES: [&str; 7] = ["initializing", "queuing", "queueing", "running", "failed", "finished", "expired"];

/// A page as the API sends it: every task field a string, paging fields integers.
fn page_body(tasks: usize) -> String {
    let list: Vec<String> = (0..tasks)
        .map(|i| {
            format!(
                r#"{{"TaskId":"dt-{i:012}","RegionCode":"cn-hangzhou","Format":"csv","DbList":"[db_{i}]","BakSetId":"148261{i}","DownloadStatus":"{}","ExportDataSize":"{}","ImportDataSize":"{}","BackupSetTime":"1663162216000","TargetType":"OSS","TargetPath":"bucket/path/{i}","Progress":"{}/20","GmtCreate":"{}"}}"#,
                STATES[i % STATES.len()],
                1_000_000 + i * 37,
                500_000 + i * 11,
                i % 20,
                1_663_321_957_000u64 + i as u64 * 1000
            )
        })
        .collect();
    format!(
        r#"{{"RequestId":"5D285EB9-A443-592D-9F3D-A888FAC3ABCD","Success":"true","Code":"","Message":"","ErrCode":"","ErrMessage":"","Data":{{"PageNumber":1,"PageSize":{tasks},"TotalElements":{tasks},"TotalPages":1,"Extra":"","Content":{{"List":[{}]}}}}}}"#,
        list.join(",")
    )
}

#[divan::bench]
fn decode_summaries_and_aggregate_100_tasks(bencher: Bencher) {
    let body = page_body(100);
    bencher.counter(ItemsCount::new(100usize)).counter(BytesCount::of_str(&body)).bench(|| {
        let page = decode_summary_page(200, divan::black_box(body.as_bytes()), None).unwrap();
        TaskAggregate::from_tasks(&page.tasks)
    });
}

#[divan::bench]
fn decode_summaries_only_100_tasks(bencher: Bencher) {
    let body = page_body(100);
    bencher
        .counter(ItemsCount::new(100usize))
        .bench(|| decode_summary_page(200, divan::black_box(body.as_bytes()), None).unwrap());
}

#[divan::bench]
fn decode_only_100_tasks(bencher: Bencher) {
    let body = page_body(100);
    bencher
        .counter(ItemsCount::new(100usize))
        .bench(|| decode_page(200, divan::black_box(body.as_bytes()), None, Some(TaskType::Full)).unwrap());
}
