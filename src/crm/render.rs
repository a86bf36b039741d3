//! A site's request for one call: the parameters' values placed where the site wants them —
//! `{holder}` places of the path (clean URLs, values escaped), the query string (GET), or the
//! body of a POST in the site's format.

use url::Url;
use url::form_urlencoded;

use super::model::{Format, Method, Site, fill_holders, holders};

/// A request ready to send (or to store in the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub method: Method,
    pub url: String,
    pub content_type: Option<String>,
    pub body: String,
}

/// One path segment: everything but unreserved characters escaped (`/` too, so a value never
/// adds a segment; a space is `%20`).
pub fn escape_segment(value: &str) -> String {
    // The form serializer escapes all but `*-._` and alphanumerics and writes a space as `+`
    // (a literal `+` becomes `%2B`), so every `+` left is a space.
    form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The request of `site` with `params` (name, value) in order.
pub fn render(site: &Site, params: &[(String, String)], boundary: &str) -> Result<Rendered, String> {
    let holders = holders(&site.url);
    let filled = fill_holders(&site.url, |holder| {
        params
            .iter()
            .find(|(name, _)| name == holder)
            .map(|(_, value)| escape_segment(value))
            .unwrap_or_default()
    });
    let mut url = Url::parse(&filled).map_err(|e| format!("the request URL is not valid: {e}"))?;
    let rest: Vec<&(String, String)> = params
        .iter()
        .filter(|(name, _)| !holders.contains(name))
        .collect();
    match site.method {
        Method::Get => {
            if !rest.is_empty() {
                let mut query = url.query_pairs_mut();
                for (name, value) in &rest {
                    query.append_pair(name, value);
                }
            }
            Ok(Rendered {
                method: Method::Get,
                url: url.to_string(),
                content_type: None,
                body: String::new(),
            })
        }
        Method::Post => {
            let (content_type, body) = match site.format {
                Format::Json => {
                    let object: serde_json::Map<String, serde_json::Value> = rest
                        .iter()
                        .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
                        .collect();
                    (
                        "application/json".to_owned(),
                        serde_json::Value::Object(object).to_string(),
                    )
                }
                Format::FormUrlencoded => {
                    let mut form = form_urlencoded::Serializer::new(String::new());
                    for (name, value) in &rest {
                        form.append_pair(name, value);
                    }
                    ("application/x-www-form-urlencoded".to_owned(), form.finish())
                }
                Format::Text => {
                    let body: String = rest
                        .iter()
                        .map(|(n, v)| format!("{}={}\r\n", one_line(n), one_line(v)))
                        .collect();
                    ("text/plain; charset=utf-8".to_owned(), body)
                }
                Format::Multipart => {
                    let mut body = String::new();
                    for (name, value) in &rest {
                        body.push_str(&format!(
                            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
                            multipart_name(name)
                        ));
                    }
                    body.push_str(&format!("--{boundary}--\r\n"));
                    (format!("multipart/form-data; boundary={boundary}"), body)
                }
            };
            Ok(Rendered {
                method: Method::Post,
                url: url.to_string(),
                content_type: Some(content_type),
                body,
            })
        }
    }
}

/// What the softphone opens for a site with trigger automatic or agent: the URL (holders
/// filled; with GET, the parameters in its query string) and, for a POST, the form's fields
/// and encoding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserRequest {
    pub method: Method,
    pub url: String,
    /// POST: the form's encoding (`enctype`).
    pub enctype: Option<&'static str>,
    pub fields: Vec<(String, String)>,
}

/// The request of `site` as a browser sends it (a link, or a form it submits).
pub fn for_browser(site: &Site, params: &[(String, String)]) -> Result<BrowserRequest, String> {
    match site.method {
        Method::Get => {
            let rendered = render(site, params, "")?;
            Ok(BrowserRequest {
                method: Method::Get,
                url: rendered.url,
                enctype: None,
                fields: Vec::new(),
            })
        }
        Method::Post => {
            let holders = holders(&site.url);
            let url = fill_holders(&site.url, |holder| {
                params
                    .iter()
                    .find(|(name, _)| name == holder)
                    .map(|(_, value)| escape_segment(value))
                    .unwrap_or_default()
            });
            let url = Url::parse(&url).map_err(|e| format!("the request URL is not valid: {e}"))?;
            let enctype = match site.format {
                Format::Multipart => "multipart/form-data",
                Format::Text => "text/plain",
                // JSON cannot be posted by a browser form (refused when defined).
                Format::FormUrlencoded | Format::Json => "application/x-www-form-urlencoded",
            };
            Ok(BrowserRequest {
                method: Method::Post,
                url: url.to_string(),
                enctype: Some(enctype),
                fields: params
                    .iter()
                    .filter(|(n, _)| !holders.contains(n))
                    .cloned()
                    .collect(),
            })
        }
    }
}

/// A random multipart boundary (it must not occur in the values: 32 random hex digits).
pub fn new_boundary() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    format!(
        "ctibridge-{:016x}{:016x}",
        rng.random::<u64>(),
        rng.random::<u64>()
    )
}

/// A value of a `text/plain` line: line breaks would start another parameter.
fn one_line(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

/// A field name in a `Content-Disposition` header, escaped as HTML forms do.
fn multipart_name(name: &str) -> String {
    name.replace('"', "%22").replace('\r', "%0D").replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::super::model::{Target, Trigger};
    use super::*;

    fn site(url: &str, method: Method, format: Format) -> Site {
        Site {
            name: "s".into(),
            url: url.into(),
            trigger: Trigger::Server,
            method,
            format,
            target: Target::Embedded,
            auth: None,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_get_puts_the_parameters_in_the_query_string() {
        let r = render(
            &site("https://my_crm.domain.com/?x=1", Method::Get, Format::Json),
            &params(&[("idClient", "321321321"), ("lang", "es & en")]),
            "b",
        )
        .unwrap();
        assert_eq!(
            r.url,
            "https://my_crm.domain.com/?x=1&idClient=321321321&lang=es+%26+en"
        );
        assert_eq!(r.body, "");
    }

    #[test]
    fn clean_urls_fill_the_path_with_escaped_values() {
        let r = render(
            &site(
                "https://crm.example.com/{idClient}/{idCamp}/{lang}/{recordingFile}",
                Method::Get,
                Format::Json,
            ),
            &params(&[
                ("idClient", "32 1/2"),
                ("idCamp", "11"),
                ("lang", "es?"),
                ("recordingFile", "prev-115-20190604-2-4149014-1559667982.424.wav"),
                ("extra", "ñ"),
            ]),
            "b",
        )
        .unwrap();
        assert_eq!(
            r.url,
            "https://crm.example.com/32%201%2F2/11/es%3F/prev-115-20190604-2-4149014-1559667982.424.wav?extra=%C3%B1"
        );
    }

    #[test]
    fn every_post_format() {
        let p = params(&[("a", "1 2"), ("b\"", "x\ny")]);
        let json = render(&site("https://c.example/", Method::Post, Format::Json), &p, "B").unwrap();
        assert_eq!(json.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json.body).unwrap(),
            serde_json::json!({"a": "1 2", "b\"": "x\ny"})
        );
        let form = render(
            &site("https://c.example/", Method::Post, Format::FormUrlencoded),
            &p,
            "B",
        )
        .unwrap();
        assert_eq!(form.body, "a=1+2&b%22=x%0Ay");
        let text = render(&site("https://c.example/", Method::Post, Format::Text), &p, "B").unwrap();
        assert_eq!(text.body, "a=1 2\r\nb\"=x y\r\n");
        let multipart = render(
            &site("https://c.example/", Method::Post, Format::Multipart),
            &p,
            "B",
        )
        .unwrap();
        assert_eq!(
            multipart.content_type.as_deref(),
            Some("multipart/form-data; boundary=B")
        );
        assert_eq!(
            multipart.body,
            "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1 2\r\n\
             --B\r\nContent-Disposition: form-data; name=\"b%22\"\r\n\r\nx\ny\r\n--B--\r\n"
        );
    }
}
