//! Hostile input for the DescribeDownloadTask decoder: whatever comes back, `decode_page` answers
//! with a page or an error, never a panic, and a well-formed page means exactly what it says in
//! every spelling the API (or a gateway in front of it) may use.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

use dbs_exporter::api::response::decode_page;
use dbs_exporter::api::{
    ApiError, DownloadState, DownloadTask, ExportFormat, Page, Progress, TargetType, TaskType,
};
use dbs_exporter::rpc::RpcError;

/// Every field name of the API's answer, at any depth: hostile documents use them so that
/// decoding gets past the envelope.
const API_KEYS: [&str; 25] = [
    "RequestId",
    "Success",
    "Code",
    "Message",
    "ErrCode",
    "ErrMessage",
    "Data",
    "PageNumber",
    "PageSize",
    "TotalElements",
    "TotalPages",
    "Content",
    "List",
    "TaskId",
    "RegionCode",
    "Format",
    "DbList",
    "BakSetId",
    "DownloadStatus",
    "ExportDataSize",
    "ImportDataSize",
    "BackupSetTime",
    "GmtCreate",
    "TargetType",
    "Progress",
];

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![Just(200u16), 200u16..300, 100u16..600, any::<u16>()]
}

fn task_type() -> impl Strategy<Value = Option<TaskType>> {
    prop::option::of(select(TaskType::ALL.to_vec()))
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        select(vec![
            "",
            " ",
            "true",
            "false",
            "-1",
            "1e400",
            "NaN",
            "3/10",
            "queuing",
            "18446744073709551616"
        ])
        .prop_map(Value::from),
    ]
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    json_scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (prop_oneof![select(API_KEYS.to_vec()).prop_map(String::from), ".{0,6}"], inner),
                0..6
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Envelope-shaped documents with anything at every level, so that the decoder's inner parts
/// (data, content, list, each task field) meet hostile values rather than stopping at the top.
fn hostile_envelope() -> impl Strategy<Value = Value> {
    let task = prop::collection::btree_map(select(API_KEYS[13..].to_vec()), json_value(), 0..8)
        .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    let list = prop_oneof![
        json_value(),
        prop::collection::vec(prop_oneof![3 => task, 1 => json_value()], 0..5).prop_map(Value::Array)
    ];
    let content = prop_oneof![json_value(), list.prop_map(|list| json!({ "List": list }))];
    let data = prop_oneof![
        json_value(),
        (prop::collection::btree_map(select(API_KEYS[7..11].to_vec()), json_value(), 0..4), content)
            .prop_map(|(paging, content)| {
                let mut data: Map<String, Value> =
                    paging.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                data.insert("Content".into(), content);
                Value::Object(data)
            }),
    ];
    (prop::collection::btree_map(select(API_KEYS[..6].to_vec()), json_value(), 0..6), prop::option::of(data))
        .prop_map(|(top, data)| {
            let mut envelope: Map<String, Value> = top.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            if let Some(data) = data {
                envelope.insert("Data".into(), data);
            }
            Value::Object(envelope)
        })
}

/// What any answer must come out as: non-2xx is an HTTP error with that status; 2xx is a page,
/// an in-band error, or a decode error with that status.
fn assert_well_classified(status: u16, result: &Result<Page, ApiError>) {
    match result {
        Err(ApiError::Rpc(RpcError::Http { status: got, .. })) => {
            assert!(!(200..300).contains(&status), "HTTP error for a {status}");
            assert_eq!(*got, status);
        }
        Err(ApiError::Rpc(RpcError::Decode { status: got, .. })) => {
            assert!((200..300).contains(&status), "decode error for a {status}");
            assert_eq!(*got, status);
        }
        Err(ApiError::Rpc(RpcError::InBand { .. })) | Ok(_) => {
            assert!((200..300).contains(&status), "{result:?} for a {status}")
        }
        Err(other) => panic!("{other:?} cannot come out of decoding"),
    }
}

/// The page a known-good listing body decodes to, for mutation.
fn sample_body() -> Vec<u8> {
    json!({
        "RequestId": "A1B2C3D4-0000-0000-0000-000000000000",
        "Success": "true",
        "Code": "", "Message": "", "ErrCode": "", "ErrMessage": "",
        "Data": {
            "PageNumber": 1, "PageSize": 10, "TotalElements": 2, "TotalPages": 1, "Extra": "",
            "Content": { "List": [
                {
                    "TaskId": "dt-1", "DownloadStatus": "queuing", "ExportDataSize": "12",
                    "GmtCreate": "1700000000000", "Progress": "3/10"
                },
                {
                    "TaskId": "dt-2", "DownloadStatus": "Finished", "ImportDataSize": 7,
                    "Format": "csv", "TargetType": "OSS"
                }
            ] }
        }
    })
    .to_string()
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Typed tasks and the many ways the API may spell them.

/// A value as the decoder hands it out: something left after trimming whitespace.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_./:\\[\\]-]{1,16}",
        "[0-9]{1,12}",
        select(vec!["true", "false", "0", "null", "[dbtest]", "oss://bucket/path"]).prop_map(String::from),
        "\\PC{1,10}",
        "[a-z\"\\\\\n\t\u{e9}\u{1F600}{}=,]{1,10}",
    ]
    .prop_filter_map("nothing left after trimming", |s| Some(s.trim().to_string()).filter(|s| !s.is_empty()))
}

/// A name no known spelling of anything matches, as the decoder keeps it (lowercased).
fn unknown_name(taken: &'static [&'static str]) -> impl Strategy<Value = String> {
    text()
        .prop_map(|s| s.to_ascii_lowercase())
        .prop_filter("a known name", move |s| !taken.iter().any(|t| t.eq_ignore_ascii_case(s)))
}

const STATE_SPELLINGS: [&str; 7] =
    ["initializing", "queueing", "queuing", "running", "failed", "finished", "expired"];

fn state() -> impl Strategy<Value = DownloadState> {
    prop_oneof![
        3 => select(DownloadState::KNOWN.to_vec()),
        1 => unknown_name(&STATE_SPELLINGS).prop_map(DownloadState::Other),
        1 => Just(DownloadState::Other("unknown".into())),
    ]
}

fn format() -> impl Strategy<Value = ExportFormat> {
    prop_oneof![
        Just(ExportFormat::Csv),
        Just(ExportFormat::Sql),
        Just(ExportFormat::Parquet),
        unknown_name(&["csv", "sql", "parquet"]).prop_map(ExportFormat::Other),
    ]
}

fn target_type() -> impl Strategy<Value = TargetType> {
    prop_oneof![
        Just(TargetType::Oss),
        Just(TargetType::Url),
        // Kept as written, case included.
        text()
            .prop_filter("OSS or URL", |s| !["OSS", "URL"].contains(&s.to_ascii_uppercase().as_str()))
            .prop_map(TargetType::Other),
    ]
}

/// Sizes and times: small, around 2^53 (where floats stop being exact), and anything.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..5000,
        Just(0u64),
        (1u64 << 53) - 2..(1u64 << 53) + 2,
        1_600_000_000_000u64..1_800_000_000_000,
        any::<u64>()
    ]
}

fn download_task(task_type: Option<TaskType>) -> impl Strategy<Value = DownloadTask> {
    let ids = (
        prop::option::of(text()),
        state(),
        prop::option::of(text()),
        prop::option::of(format()),
        prop::option::of(target_type()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
    );
    let numbers = (
        number(),
        number(),
        prop::option::of((number(), number()).prop_map(|(done, total)| Progress { done, total })),
        prop::option::of(number()),
        prop::option::of(number()),
    );
    (ids, numbers).prop_map(
        move |(
            (task_id, state, region_code, format, target_type, target_path, db_list, backup_set_id),
            (export_bytes, import_bytes, progress, created_at_ms, backup_set_time_ms),
        )| DownloadTask {
            task_id: task_id.unwrap_or_default(),
            task_type,
            state,
            region_code,
            format,
            target_type,
            target_path,
            db_list,
            backup_set_id,
            export_bytes,
            import_bytes,
            progress,
            created_at_ms,
            backup_set_time_ms,
        },
    )
}

/// How an absent value may look: left out, null, empty, blank, or a structure where a scalar
/// belongs. `None` leaves the key out.
fn absent() -> BoxedStrategy<Option<Value>> {
    select(vec![
        None,
        Some(Value::Null),
        Some(json!("")),
        Some(json!(" \t")),
        Some(json!([])),
        Some(json!({})),
    ])
    .boxed()
}

fn padding() -> impl Strategy<Value = &'static str> {
    select(vec!["", "", " ", "\t", "\n ", "\u{3000}", "\u{a0}"])
}

fn padded(text: String) -> impl Strategy<Value = String> {
    (padding(), padding()).prop_map(move |(before, after)| format!("{before}{text}{after}"))
}

/// ASCII letters in random case: the API is not consistent about it.
fn any_case(text: String) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), text.chars().count()).prop_map(move |upper| {
        text.chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect()
    })
}

/// A text field: a padded string, or a JSON number or boolean when the text is one.
fn text_encoding(value: Option<String>) -> BoxedStrategy<Option<Value>> {
    let Some(text) = value else { return absent() };
    let mut plain = vec![Value::from(text.clone())];
    if let Ok(n) = text.parse::<u64>() {
        if n.to_string() == text {
            plain.push(Value::from(n));
        }
    }
    if let Ok(b) = text.parse::<bool>() {
        plain.push(Value::from(b));
    }
    prop_oneof![select(plain).prop_map(Some), padded(text).prop_map(|s| Some(Value::from(s)))].boxed()
}

/// A name read case-insensitively: any case, padded.
fn name_encoding(spellings: Vec<String>) -> BoxedStrategy<Option<Value>> {
    select(spellings).prop_flat_map(any_case).prop_flat_map(padded).prop_map(|s| Some(Value::from(s))).boxed()
}

/// Integral floats up to here are read exactly by serde_json as the crate configures it: their
/// digits, the `.0` included, fit in 53 bits. Above, see the ignored test at the end.
const EXACT_JSON_FLOAT: u64 = (1 << 53) / 10;

/// A number: a JSON integer, a decimal string, padded; exactly representable values also as
/// `"N.0"`, and as a JSON float where serde_json reads one exactly.
fn number_encoding(n: u64) -> BoxedStrategy<Option<Value>> {
    let mut spellings = vec![Value::from(n), Value::from(n.to_string())];
    if n <= 1 << 53 {
        spellings.push(Value::from(format!("{n}.0")));
    }
    if n <= EXACT_JSON_FLOAT {
        spellings.push(Value::from(n as f64));
    }
    prop_oneof![select(spellings).prop_map(Some), padded(n.to_string()).prop_map(|s| Some(Value::from(s)))]
        .boxed()
}

/// A size: a number, and zero also as any absent value.
fn size_encoding(n: u64) -> BoxedStrategy<Option<Value>> {
    if n == 0 {
        prop_oneof![number_encoding(0), absent()].boxed()
    } else {
        number_encoding(n)
    }
}

/// An optional time: a number, or absent, or something that is not a non-negative number.
fn time_encoding(value: Option<u64>) -> BoxedStrategy<Option<Value>> {
    match value {
        Some(n) => number_encoding(n),
        None => prop_oneof![
            absent(),
            select(vec![json!("-1"), json!(-5), json!("soon"), json!("-0.5"), json!(-1e300)]).prop_map(Some)
        ]
        .boxed(),
    }
}

fn state_encoding(state: &DownloadState) -> BoxedStrategy<Option<Value>> {
    match state {
        DownloadState::Queueing => name_encoding(vec!["queueing".into(), "queuing".into()]),
        DownloadState::Other(name) if name == "unknown" => {
            prop_oneof![name_encoding(vec![name.clone()]), absent()].boxed()
        }
        other => name_encoding(vec![other.as_str().to_string()]),
    }
}

fn format_encoding(format: &Option<ExportFormat>) -> BoxedStrategy<Option<Value>> {
    match format {
        None => absent(),
        Some(ExportFormat::Csv) => name_encoding(vec!["csv".into()]),
        Some(ExportFormat::Sql) => name_encoding(vec!["sql".into()]),
        Some(ExportFormat::Parquet) => name_encoding(vec!["parquet".into()]),
        Some(ExportFormat::Other(name)) => name_encoding(vec![name.clone()]),
    }
}

fn target_type_encoding(target_type: &Option<TargetType>) -> BoxedStrategy<Option<Value>> {
    match target_type {
        None => absent(),
        Some(TargetType::Oss) => name_encoding(vec!["OSS".into()]),
        Some(TargetType::Url) => name_encoding(vec!["URL".into()]),
        Some(TargetType::Other(name)) => text_encoding(Some(name.clone())),
    }
}

fn progress_encoding(progress: Option<Progress>) -> BoxedStrategy<Option<Value>> {
    match progress {
        Some(Progress { done, total }) => (padding(), padding(), select(vec!["", " "]))
            .prop_map(move |(a, b, space)| Some(Value::from(format!("{a}{done}{space}/{space}{total}{b}"))))
            .boxed(),
        None => prop_oneof![
            absent(),
            select(vec![json!("x/1"), json!("3"), json!("1/2/3"), json!("-1/2"), json!(5)]).prop_map(Some)
        ]
        .boxed(),
    }
}

/// Keys the decoder does not know, with anything as their value.
fn unknown_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec(
        (
            select(vec!["DbType", "Extra", "taskId", "TASKID", "Gmt_Create", ""]).prop_map(String::from),
            json_value(),
        ),
        0..3,
    )
}

/// One task in the API's shape, each field spelled one of the ways it may come.
fn task_json(task: &DownloadTask) -> impl Strategy<Value = Value> {
    let task_id = if task.task_id.is_empty() { None } else { Some(task.task_id.clone()) };
    let fields = vec![
        ("TaskId", text_encoding(task_id)),
        ("DownloadStatus", state_encoding(&task.state)),
        ("RegionCode", text_encoding(task.region_code.clone())),
        ("Format", format_encoding(&task.format)),
        ("TargetType", target_type_encoding(&task.target_type)),
        ("TargetPath", text_encoding(task.target_path.clone())),
        ("DbList", text_encoding(task.db_list.clone())),
        ("BakSetId", text_encoding(task.backup_set_id.clone())),
        ("ExportDataSize", size_encoding(task.export_bytes)),
        ("ImportDataSize", size_encoding(task.import_bytes)),
        ("Progress", progress_encoding(task.progress)),
        ("GmtCreate", time_encoding(task.created_at_ms)),
        ("BackupSetTime", time_encoding(task.backup_set_time_ms)),
    ];
    let (names, encodings): (Vec<&str>, Vec<BoxedStrategy<Option<Value>>>) = fields.into_iter().unzip();
    (encodings, unknown_fields()).prop_map(move |(values, extra)| {
        let mut object: Map<String, Value> = extra.into_iter().collect();
        for (name, value) in names.iter().zip(values) {
            if let Some(value) = value {
                object.insert(name.to_string(), value);
            }
        }
        Value::Object(object)
    })
}

/// A success flag, or none (a `Data` object is then enough).
fn success_encoding() -> impl Strategy<Value = Option<Value>> {
    select(vec![Some(json!("true")), Some(json!(true)), Some(json!("True")), Some(json!(" TRUE ")), None])
}

/// The list of a page: an array, and when empty also no list, a null list or no content.
fn content_encoding(tasks: Vec<Value>) -> BoxedStrategy<Option<Value>> {
    if tasks.is_empty() {
        select(vec![
            Some(json!({ "List": [] })),
            Some(json!({})),
            Some(json!({ "List": null })),
            Some(Value::Null),
            None,
        ])
        .boxed()
    } else {
        Just(Some(json!({ "List": tasks }))).boxed()
    }
}

/// A generated page, its task type filter, and one of its encodings.
fn page_and_body() -> impl Strategy<Value = (Page, Option<TaskType>, Vec<u8>)> {
    let page = task_type().prop_flat_map(|task_type| {
        (
            prop::option::of(text()),
            (number(), number(), number(), number()),
            prop::collection::vec(download_task(task_type), 0..6),
            Just(task_type),
        )
    });
    page.prop_flat_map(
        |(request_id, (page_number, page_size, total_elements, total_pages), tasks, task_type)| {
            let expected = Page {
                request_id: request_id.clone().unwrap_or_else(|| "none".into()),
                page_number,
                page_size,
                total_elements,
                total_pages,
                tasks: tasks.clone(),
            };
            let encoded_tasks: Vec<_> = tasks.iter().map(task_json).collect();
            let paging = [page_number, page_size, total_elements, total_pages].map(size_encoding).to_vec();
            (
                text_encoding(request_id),
                success_encoding(),
                select(vec![json!(""), json!("200"), json!("successful"), Value::Null]),
                paging,
                encoded_tasks.prop_flat_map(content_encoding),
            )
                .prop_map(move |(request_id, success, noise, paging, content)| {
                    let mut data = Map::new();
                    for (name, value) in
                        ["PageNumber", "PageSize", "TotalElements", "TotalPages"].iter().zip(paging)
                    {
                        if let Some(value) = value {
                            data.insert(name.to_string(), value);
                        }
                    }
                    if let Some(content) = content {
                        data.insert("Content".into(), content);
                    }
                    let mut envelope = Map::new();
                    envelope.insert("Data".into(), Value::Object(data));
                    for (name, value) in [("RequestId", request_id), ("Success", success)] {
                        if let Some(value) = value {
                            envelope.insert(name.into(), value);
                        }
                    }
                    // The API's own example fills the error fields on success: they are noise then.
                    for name in ["Code", "Message", "ErrCode", "ErrMessage"] {
                        envelope.insert(name.into(), noise.clone());
                    }
                    (expected.clone(), task_type, Value::Object(envelope).to_string().into_bytes())
                })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_keep_their_status(
        status in status(),
        body in prop::collection::vec(any::<u8>(), 0..300),
        task_type in task_type(),
    ) {
        let result = decode_page(status, &body, None, task_type);
        assert_well_classified(status, &result);
    }

    #[test]
    fn a_mangled_listing_never_panics(
        status in status(),
        cut in 0usize..400,
        flips in prop::collection::vec((0usize..400, any::<u8>()), 0..4),
    ) {
        let mut body = sample_body();
        for (at, byte) in flips {
            let at = at % body.len();
            body[at] = byte;
        }
        body.truncate(cut);
        assert_well_classified(status, &decode_page(status, &body, None, None));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(status in status(), value in json_value(), task_type in task_type()) {
        let result = decode_page(status, value.to_string().as_bytes(), None, task_type);
        assert_well_classified(status, &result);
    }

    #[test]
    fn an_envelope_with_anything_inside_never_panics_and_keeps_every_listed_task(
        value in hostile_envelope(),
        task_type in task_type(),
    ) {
        let result = decode_page(200, value.to_string().as_bytes(), None, task_type);
        assert_well_classified(200, &result);
        if let Ok(page) = result {
            let listed = value.pointer("/Data/Content/List").and_then(Value::as_array).map_or(0, Vec::len);
            prop_assert_eq!(page.tasks.len(), listed);
            prop_assert!(page.tasks.iter().all(|task| task.task_type == task_type));
        }
    }

    #[test]
    fn a_valid_page_decodes_to_exactly_what_was_encoded((expected, task_type, body) in page_and_body()) {
        let decoded = decode_page(200, &body, None, task_type);
        prop_assert_eq!(decoded.ok(), Some(expected), "body: {}", String::from_utf8_lossy(&body));
    }

    #[test]
    fn success_false_is_an_error_carrying_the_code_whatever_the_status_says(
        code in text(),
        message in prop::option::of(text()),
        flag in select(vec![json!("false"), json!(false), json!("FALSE"), json!(" False ")]),
        with_data in any::<bool>(),
    ) {
        let mut body = json!({ "RequestId": "R-1", "Success": flag, "ErrCode": code, "ErrMessage": message });
        if with_data {
            body["Data"] = json!({ "PageNumber": 1, "Content": { "List": [{ "TaskId": "dt-1" }] } });
        }
        let err = decode_page(200, body.to_string().as_bytes(), None, None).unwrap_err();
        match err {
            ApiError::Rpc(RpcError::InBand { code: got, message: got_message, request_id }) => {
                prop_assert_eq!(got, code);
                prop_assert_eq!(got_message, message.unwrap_or_default());
                prop_assert_eq!(request_id, "R-1");
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }
}

/// Every integer up to 2^53 is an exact f64, so `"ExportDataSize": 9007199254740991.0` means
/// 9007199254740991 bytes. serde_json's default float parser is only exact while the digits fit
/// in 53 bits, and the `.0` adds one: it reads that one as 9007199254740990.
fn check_integral_json_float(n: u64) -> Result<(), TestCaseError> {
    let body = format!(r#"{{"Data":{{"Content":{{"List":[{{"ExportDataSize":{n}.0}}]}}}}}}"#);
    let page =
        decode_page(200, body.as_bytes(), None, None).map_err(|err| TestCaseError::fail(err.to_string()))?;
    prop_assert_eq!(page.tasks[0].export_bytes, n, "{}", body);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn an_integral_json_float_decodes_to_its_exact_value(n in EXACT_JSON_FLOAT..=(1u64 << 53)) {
        check_integral_json_float(n)?;
    }
}

#[test]
fn the_largest_exact_integer_as_a_json_float_decodes_exactly() {
    check_integral_json_float(9_007_199_254_740_991).unwrap();
}
