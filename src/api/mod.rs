//! The Alibaba Cloud DBS API as dbs-exporter speaks it: signing, the call, paging, errors.

pub mod endpoint;
pub mod sign;
pub mod task;
