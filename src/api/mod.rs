//! The Alibaba Cloud DBS API as dbs-exporter speaks it: the DescribeDownloadTask call on the
//! [`crate::rpc`] layer, its paging, its answers and errors.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod response;
pub mod task;

pub use client::{DbsClient, DownloadTaskQuery, ListOptions, Listing, OrderDirection};
pub use error::ApiError;
pub use response::Page;
pub use task::{
    DownloadState, DownloadTask, ExportFormat, Progress, TargetType, TaskDetail, TaskId, TaskSummary,
    TaskType,
};
// What a listing's callers name along with it: its observer, retry policy and error classes.
pub use crate::rpc::{
    CallObserver, CallSlot, ClientOptions, ErrorClass, RetryPolicy, RpcError, TransportKind,
};
