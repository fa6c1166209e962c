//! The Alibaba Cloud DBS API as dbs-exporter speaks it: signing, the call, paging, errors.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod response;
pub mod retry;
pub mod sign;
pub mod task;

pub use client::{
    CallObserver, CallSlot, ClientOptions, DbsClient, DownloadTaskQuery, ListOptions, Listing, OrderDirection,
};
pub use error::{ApiError, ErrorClass, TransportKind};
pub use response::Page;
pub use retry::RetryPolicy;
pub use task::{DownloadState, DownloadTask, ExportFormat, Progress, TargetType, TaskType};
