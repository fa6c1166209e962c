//! The channel through which a reload is asked for (SIGHUP, `POST /-/reload`) and answered.

use tokio::sync::{mpsc, oneshot};

/// One request to re-read the configuration; the answer says whether the new one was taken.
#[derive(Debug)]
pub struct ReloadRequest {
    pub reply: oneshot::Sender<Result<(), String>>,
}

pub type ReloadSender = mpsc::Sender<ReloadRequest>;
pub type ReloadReceiver = mpsc::Receiver<ReloadRequest>;

pub fn channel() -> (ReloadSender, ReloadReceiver) {
    mpsc::channel(8)
}

/// Asks for a reload and waits for its outcome.
pub async fn request(sender: &ReloadSender) -> Result<(), String> {
    let (reply, answer) = oneshot::channel();
    sender.send(ReloadRequest { reply }).await.map_err(|_| "the exporter is shutting down".to_string())?;
    answer.await.map_err(|_| "the reload was abandoned".to_string())?
}
