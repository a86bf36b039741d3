//! The supervisors' dashboard: the page `/dashboard/` (static, `static/dashboard/`) and the
//! figures' frames over the websocket.
//!
//! A supervisor's socket (`/neoapi/ws`, authenticated as usual) asks for the figures with
//! `{"type":"dashboard"}`; from then on it gets `{"type":"dashboard","figures":{…},
//! "changedAt":…}` frames: one at once, then whenever the figures changed, at most every
//! `telephony.dashboard_interval_ms` (changes in between are coalesced). `changedAt` is when the
//! oldest change in the frame happened at the core. `{"type":"dashboard","on":false}` stops
//! them. Agents asking get an error frame `forbidden`. Sockets that never ask — every agent's,
//! and supervisors without the page — cost nothing more: the frames are built only while some
//! socket watches, once per interval, serialised once for all of them.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use bytestring::ByteString;
use serde_json::json;
use tokio::sync::watch;

use crate::telephony::stats::FloorStats;

/// The latest figures' frame, for the sockets that watch it.
#[derive(Clone)]
pub struct DashboardFeed {
    stats: Arc<FloorStats>,
    frames: Arc<watch::Sender<ByteString>>,
}

impl DashboardFeed {
    /// Starts the publisher on the current runtime.
    pub fn start(stats: Arc<FloorStats>, interval: Duration) -> DashboardFeed {
        let (frames, _) = watch::channel(ByteString::new());
        let feed = DashboardFeed {
            stats,
            frames: Arc::new(frames),
        };
        tokio::spawn(publish(feed.clone(), interval));
        feed
    }

    /// A socket's watch on the frames, and the frame to send it first (the figures now).
    pub fn watch(&self) -> (watch::Receiver<ByteString>, ByteString) {
        let receiver = self.frames.subscribe();
        let frame = json!({"type": "dashboard", "figures": self.stats.figures()}).to_string();
        (receiver, ByteString::from(frame))
    }
}

/// Builds a frame when the figures changed and someone watches; then rests for the interval,
/// so that a burst of events makes one frame.
async fn publish(feed: DashboardFeed, interval: Duration) {
    let mut published = None;
    loop {
        feed.stats.changed().await;
        if feed.frames.receiver_count() == 0 {
            feed.stats.forget_pending();
        } else {
            let version = feed.stats.version();
            if published != Some(version) {
                published = Some(version);
                let (figures, changed_at) = feed.stats.figures_for_feed();
                let frame = json!({"type": "dashboard", "figures": figures, "changedAt": changed_at});
                feed.frames.send_replace(ByteString::from(frame.to_string()));
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// `/dashboard` → `/dashboard/`, and the page's files (framed like the adapter: the Salesforce
/// origins may show it in a utility bar).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(redirect))
        .route("/dashboard/", web::get().to(index))
        .route("/dashboard/{file:.+}", web::get().to(file));
}

async fn redirect(request: HttpRequest) -> HttpResponse {
    let location = match request.query_string() {
        "" => "/dashboard/".to_owned(),
        query => format!("/dashboard/?{query}"),
    };
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

async fn index(request: HttpRequest, settings: web::Data<super::adapter::AdapterSettings>) -> HttpResponse {
    super::adapter::serve(&request, "dashboard/index.html", settings.page_csp())
}

async fn file(
    request: HttpRequest,
    file: web::Path<String>,
    settings: web::Data<super::adapter::AdapterSettings>,
) -> HttpResponse {
    super::adapter::serve(&request, &format!("dashboard/{file}"), settings.page_csp())
}
