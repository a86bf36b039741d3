//! Test support: fresh databases on both backends and a real server on port 0.

pub mod ami_double;
pub mod db;
pub mod fake_salesforce;
pub mod server;

/// A plain HTTP client for talking to servers under test.
pub fn http_client() -> reqwest::Client {
    ctibridge::install_tls_provider();
    reqwest::Client::new()
}

/// GET `url`.
pub async fn get(url: &str) -> reqwest::Response {
    http_client().get(url).send().await.expect("request sent")
}
