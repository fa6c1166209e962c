use super::*;
use crate::rpc::{CallFailure, Retryable, RpcError};

const API_PAGE_EXAMPLE: &str = r#"{
  "RequestId": "5D285EB9-A443-592D-9F3D-A888FAC3****",
  "ErrCode": "DBS.InternalError",
  "Success": "true",
  "ErrMessage": "instanceName can not be empty",
  "Code": "DBS.InternalError",
  "Message": "instanceName can not be empty",
  "Data": {
    "PageNumber": 1, "TotalPages": 2, "Extra": "dbtest", "TotalElements": 1, "PageSize": 10,
    "Content": { "List": [ {
      "TaskId": "dt-qxntlvgu****", "RegionCode": "cn-hangzhou", "Format": "csv", "DbList": "[dbtest]",
      "BakSetId": "148261****", "DownloadStatus": "queueing", "ExportDataSize": "0", "ImportDataSize": "0",
      "BackupSetTime": "1663162216000", "TargetType": "URL", "TargetPath": "test_db/path",
      "Progress": "0/0", "GmtCreate": "1663321957000" } ] }
  }
}"#;

fn decode(body: &str) -> Result<Page, ApiError> {
    decode_page(200, body.as_bytes(), None, Some(TaskType::Full))
}

#[test]
fn the_api_page_example_decodes_to_typed_values() {
    let page = decode(API_PAGE_EXAMPLE).unwrap();
    assert_eq!(page.request_id, "5D285EB9-A443-592D-9F3D-A888FAC3****");
    assert_eq!((page.page_number, page.page_size, page.total_elements, page.total_pages), (1, 10, 1, 2));
    let task = &page.tasks[0];
    assert_eq!(task.task_id, "dt-qxntlvgu****");
    assert_eq!(task.task_type, Some(TaskType::Full));
    assert_eq!(task.state, DownloadState::Queueing);
    assert_eq!(task.format, Some(ExportFormat::Csv));
    assert_eq!(task.target_type, Some(TargetType::Url));
    assert_eq!(task.progress, Some(Progress { done: 0, total: 0 }));
    assert_eq!(task.created_at_ms, Some(1663321957000));
    assert_eq!(task.backup_set_time_ms, Some(1663162216000));
    assert_eq!(task.db_list.as_deref(), Some("[dbtest]"));
}

#[test]
fn numbers_as_strings_and_strings_as_numbers_are_both_read() {
    let body = r#"{"Success":true,"Data":{"PageNumber":"2","TotalPages":"3","TotalElements":25.0,"PageSize":"10",
        "Content":{"List":[{"TaskId":12345,"DownloadStatus":"running","ExportDataSize":1024,
        "ImportDataSize":"2048.0","GmtCreate":1700000000000}]}}}"#;
    let page = decode(body).unwrap();
    assert_eq!((page.page_number, page.total_pages, page.total_elements), (2, 3, 25));
    let task = &page.tasks[0];
    assert_eq!(task.task_id, "12345");
    assert_eq!((task.export_bytes, task.import_bytes), (1024, 2048));
    assert_eq!(task.created_at_ms, Some(1_700_000_000_000));
}

#[test]
fn empty_and_missing_fields_become_none_or_zero() {
    let body = r#"{"Success":"true","Data":{"Content":{"List":[{"TaskId":"dt-1","ExportDataSize":"",
        "Format":null,"Progress":"","GmtCreate":""}]}}}"#;
    let task = decode(body).unwrap().tasks.remove(0);
    assert_eq!(task.export_bytes, 0);
    assert_eq!(task.format, None);
    assert_eq!(task.progress, None);
    assert_eq!(task.created_at_ms, None);
    assert_eq!(task.state, DownloadState::Other("unknown".into()));
}

#[test]
fn unknown_fields_and_odd_shapes_are_ignored() {
    let body = r#"{"Success":"true","NewTopLevel":{"a":[1,2]},"Data":{"Extra":{"nested":true},
        "Content":{"List":[{"TaskId":["weird"],"DownloadStatus":"Paused","Future":"x"}]}}}"#;
    let task = decode(body).unwrap().tasks.remove(0);
    assert_eq!(task.task_id, "");
    assert_eq!(task.state, DownloadState::Other("paused".into()));
}

#[test]
fn a_null_or_missing_list_is_an_empty_page() {
    assert!(decode(r#"{"Success":"true","Data":{"TotalPages":0,"Content":{"List":null}}}"#)
        .unwrap()
        .tasks
        .is_empty());
    assert!(decode(r#"{"Success":"true","Data":{}}"#).unwrap().tasks.is_empty());
}

#[test]
fn success_false_is_an_in_band_error_with_its_code_and_request_id() {
    let body = r#"{"RequestId":"REQ-1","Success":"false","ErrCode":"InvalidParameter",
        "ErrMessage":"instanceName can not be empty","Code":"InvalidParameter"}"#;
    match decode(body).unwrap_err() {
        ApiError::Rpc(RpcError::InBand { code, message, request_id }) => {
            assert_eq!(code, "InvalidParameter");
            assert_eq!(message, "instanceName can not be empty");
            assert_eq!(request_id, "REQ-1");
        }
        other => panic!("expected in-band error, got {other:?}"),
    }
}

#[test]
fn error_statuses_keep_code_message_and_retry_hint() {
    let body = br#"{"RequestId":"R-9","HostId":"dbs-api.cn-hangzhou.aliyuncs.com","Code":"Throttling.User",
        "Message":"Request was denied due to user flow control.","Recommend":"https://next.api.aliyun.com"}"#;
    let err = decode_page(400, body, Some(std::time::Duration::from_millis(100)), None).unwrap_err();
    assert_eq!(err.code(), Some("Throttling.User"));
    assert_eq!(err.metric_label(), "throttled");
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_millis(100)));
    assert!(err.to_string().contains("R-9"));
}

#[test]
fn a_gateway_html_page_is_a_server_error() {
    let err = decode_page(502, b"<html><body>502 Bad Gateway</body></html>", None, None).unwrap_err();
    assert_eq!(err.metric_label(), "server");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("502 Bad Gateway"), "{err}");
}

#[test]
fn truncated_malformed_and_xml_bodies_are_decode_errors() {
    let truncated = &API_PAGE_EXAMPLE[..API_PAGE_EXAMPLE.len() / 2];
    for (body, expected) in [
        (truncated, "ends early"),
        ("not json at all", "expected"),
        ("<DescribeDownloadTaskResponse/>", "XML or HTML"),
        ("", "empty body"),
        (r#"{"Success":"true"}"#, "no Data"),
    ] {
        let err = decode(body).unwrap_err();
        assert_eq!(err.metric_label(), "decode", "{body}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic sweep over mutations of a real body; proptest comes with hardening.
    let base = API_PAGE_EXAMPLE.as_bytes();
    for cut in 0..base.len() {
        let _ = decode_page(200, &base[..cut], None, None);
        let mut flipped = base.to_vec();
        flipped[cut] ^= 0x5a;
        let _ = decode_page(200, &flipped, None, None);
    }
}

#[test]
fn a_summary_page_keeps_what_the_full_page_counts() {
    let full = decode(API_PAGE_EXAMPLE).unwrap();
    let summaries = decode_summary_page(200, API_PAGE_EXAMPLE.as_bytes(), None).unwrap();
    assert_eq!(summaries.tasks, full.tasks.iter().map(DownloadTask::summary).collect::<Vec<_>>());
    assert_eq!((summaries.request_id, summaries.total_pages), (full.request_id, full.total_pages));
}
