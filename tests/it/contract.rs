//! The server against its own OpenAPI document (`/openapi.json`), the way a contract-testing
//! tool drives it: for every operation, requests generated from the document — parameters and
//! bodies drawn from their schemas, the examples, and bodies broken on purpose — with the
//! right token, none, a wrong one or two; every answer must be a status the document lists
//! for that operation and never a server error, and a JSON answer must fit its schema.
//!
//! Generation is seeded (the same cases every run) and bounded: `CASES_PER_OPERATION` per
//! operation. A failure prints the request that caused it.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};

use crate::support::fake_salesforce::FakeSalesforce;
use crate::support::server::TestApp;

const CASES_PER_OPERATION: usize = 40;

/// The tokens of the demo roster, renewed as the generated requests log agents out.
struct Tokens {
    agent: String,
    supervisor: String,
}

/// One generated request.
#[derive(Debug)]
struct Case {
    method: String,
    url: String,
    body: Option<Vec<u8>>,
    authorization: Vec<String>,
}

#[test]
fn every_answer_is_documented_and_none_is_a_server_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let fake = FakeSalesforce::start().await;
    let app = TestApp::spawn_with(|c| {
        c.salesforce =
            crate::salesforce::config_for(&fake, ctibridge::salesforce::config::AuthFlow::JwtBearer);
        // The generated wrong passwords and tokens must not lock the right ones out.
        c.server.login_failures_per_user = u32::MAX;
        c.server.login_failures_per_address = u32::MAX;
    })
    .await;
    let document = crate::http::get_json(&app, "/openapi.json", None).await;
    let mut tokens = Tokens {
        agent: login(&app, "agent1", "1001").await,
        supervisor: login(&app, "super1", "1100").await,
    };
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let paths = document["paths"].as_object().expect("paths");
    let mut cases = 0;
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for (path, item) in paths {
        for (verb, operation) in item.as_object().expect("path item") {
            for i in 0..CASES_PER_OPERATION {
                if i % 10 == 0 {
                    tokens.agent = login(&app, "agent1", "1001").await;
                    tokens.supervisor = login(&app, "super1", "1100").await;
                }
                let case = generate(&document, path, verb, operation, &tokens, &mut runner);
                let (status, content_type, body) = send(&app, &case).await;
                *statuses.entry(status).or_default() += 1;
                cases += 1;
                check(&document, operation, &case, status, &content_type, &body);
                // A successful generated Login replaced agent1's token.
                if path == "/neoapi/Login" && status == 200 {
                    let answer: Value = serde_json::from_slice(&body).unwrap();
                    if answer["agent"]["user"] == "agent1" {
                        tokens.agent = answer["token"].as_str().unwrap().to_owned();
                    }
                }
            }
        }
    }
    assert!(cases >= 40 * CASES_PER_OPERATION, "{cases} cases");
    println!("{cases} generated requests; statuses: {statuses:?}");
}

async fn login(app: &TestApp, user: &str, device: &str) -> String {
    let answer: Value = app
        .client
        .post(app.url("/neoapi/Login"))
        .json(&json!({"device": device, "user": user, "password": "demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login of {user}: {answer}"))
        .to_owned()
}

async fn send(app: &TestApp, case: &Case) -> (u16, String, Vec<u8>) {
    let method = reqwest::Method::from_bytes(case.method.to_uppercase().as_bytes()).unwrap();
    let mut request = app
        .client
        .request(method, app.url(&case.url))
        .timeout(std::time::Duration::from_secs(20));
    for value in &case.authorization {
        request = request.header("authorization", value);
    }
    if let Some(body) = &case.body {
        request = request
            .header("content-type", "application/json")
            .body(body.clone());
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{case:?}: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.bytes().await.unwrap().to_vec();
    (status, content_type, body)
}

/// The answer must be documented for the operation, not a server error, and fit its schema.
fn check(document: &Value, operation: &Value, case: &Case, status: u16, content_type: &str, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    assert!(status < 500, "server error {status} for {case:#?}: {text}");
    let Some(response) = operation["responses"].get(status.to_string()) else {
        panic!("undocumented status {status} for {case:#?}: {text}");
    };
    if let Some(schema) = response["content"]["application/json"].get("schema") {
        assert!(
            content_type.starts_with("application/json"),
            "{status} answered {content_type:?}, the document says JSON, for {case:#?}"
        );
        let value: Value = serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("{status} is not JSON ({e}) for {case:#?}: {text}"));
        if let Err(problem) = validate(document, schema, &value, "answer") {
            panic!("{status} does not fit its schema: {problem}\nfor {case:#?}\nanswer: {value}");
        }
    }
}

// ----- generation ------------------------------------------------------------------------------

fn draw<S: Strategy>(runner: &mut TestRunner, strategy: S) -> S::Value {
    strategy
        .new_tree(runner)
        .expect("a value from the strategy")
        .current()
}

fn generate(
    document: &Value,
    path: &str,
    verb: &str,
    operation: &Value,
    tokens: &Tokens,
    runner: &mut TestRunner,
) -> Case {
    let mut url = url::Url::parse("http://127.0.0.1/").unwrap();
    let mut segments: Vec<String> = Vec::new();
    let mut query: Vec<(String, String)> = Vec::new();
    let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
    for segment in path.trim_start_matches('/').split('/') {
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let schema = parameters
                    .iter()
                    .find(|p| p["name"] == name && p["in"] == "path")
                    .map(|p| p["schema"].clone())
                    .unwrap_or_else(|| panic!("{path}: path parameter {name} is not described"));
                segments.push(scalar_text(&draw(runner, value_strategy(document, &schema, 0))));
            }
            None => segments.push(segment.to_owned()),
        }
    }
    for parameter in parameters.iter().filter(|p| p["in"] == "query") {
        let required = parameter["required"].as_bool().unwrap_or(false);
        if required || draw(runner, proptest::bool::weighted(0.6)) {
            let value = draw(runner, value_strategy(document, &parameter["schema"], 0));
            query.push((
                parameter["name"].as_str().unwrap().to_owned(),
                scalar_text(&value),
            ));
        }
    }
    if draw(runner, proptest::bool::weighted(0.1)) {
        query.push(("unexpected".into(), "1".into()));
    }
    url.path_segments_mut().unwrap().pop_if_empty().extend(&segments);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(&query);
    }
    let body = operation["requestBody"]["content"]["application/json"]
        .as_object()
        .map(|content| {
            let pick = draw(runner, 0..10u8);
            match (pick, content.get("example")) {
                (0..=1, Some(example)) => serde_json::to_vec(example).unwrap(),
                (2, _) => draw(runner, broken_json()),
                (3, _) => serde_json::to_vec(&draw(runner, any_json())).unwrap(),
                _ => serde_json::to_vec(&draw(runner, value_strategy(document, &content["schema"], 0)))
                    .unwrap(),
            }
        });
    let scheme = operation["security"][0]
        .as_object()
        .and_then(|s| s.keys().next().cloned());
    let right = match scheme.as_deref() {
        Some("session") if path.contains("Monitor") => Some(tokens.supervisor.clone()),
        Some("session") => Some(if draw(runner, proptest::bool::weighted(0.8)) {
            tokens.agent.clone()
        } else {
            tokens.supervisor.clone()
        }),
        Some("admin") => Some("demo-admin".to_owned()),
        Some("operator") => Some("demo-operator".to_owned()),
        Some(_) => Some("some-token".to_owned()),
        None => None,
    };
    let authorization = match (draw(runner, 0..20u8), right) {
        (0, _) => Vec::new(),
        (1, _) => vec!["Bearer wrong-token".to_owned()],
        (2, Some(token)) => vec![format!("Bearer {token}"), format!("Bearer {token}")],
        (3, Some(token)) => vec![format!("bearer {token}")],
        (4, Some(token)) => vec![format!("Basic {token}")],
        (_, Some(token)) => vec![format!("Bearer {token}")],
        (_, None) => Vec::new(),
    };
    Case {
        method: verb.to_owned(),
        url: url.to_string().replacen("http://127.0.0.1", "", 1),
        body,
        authorization,
    }
}

/// A path or query value as text (strings as they are, numbers and the rest as JSON).
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            document["components"]["schemas"]
                .get(name)
                .unwrap_or_else(|| panic!("{reference} is not in the document"))
        }
        None => schema,
    }
}

/// Values that fit `schema` (mostly: strings and numbers range widely).
fn value_strategy(document: &Value, schema: &Value, depth: u32) -> BoxedStrategy<Value> {
    let schema = resolve(document, schema).clone();
    if let Some(constant) = schema.get("const") {
        return Just(constant.clone()).boxed();
    }
    if let Some(values) = schema["enum"].as_array() {
        return proptest::sample::select(values.clone()).boxed();
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        let strategies: Vec<_> = choices
            .iter()
            .map(|c| value_strategy(document, c, depth + 1))
            .collect();
        return proptest::strategy::Union::new(strategies).boxed();
    }
    let types: Vec<String> = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
        _ => vec!["object".to_owned()],
    };
    let strategies: Vec<BoxedStrategy<Value>> = types
        .iter()
        .map(|t| typed_strategy(document, &schema, t, depth))
        .collect();
    proptest::strategy::Union::new(strategies).boxed()
}

fn typed_strategy(document: &Value, schema: &Value, type_name: &str, depth: u32) -> BoxedStrategy<Value> {
    match type_name {
        "null" => Just(Value::Null).boxed(),
        "boolean" => any::<bool>().prop_map(Value::from).boxed(),
        "integer" => {
            let min = schema["minimum"].as_i64().unwrap_or(i64::MIN);
            let max = schema["maximum"].as_i64().unwrap_or(i64::MAX);
            prop_oneof![
                // Ids the demo knows: calls, campaigns 97–99, categories.
                (0i64..120).prop_map(move |n| n.clamp(min, max)),
                (min..=max),
            ]
            .prop_map(Value::from)
            .boxed()
        }
        "number" => any::<f64>().prop_map(|f| json!(f)).boxed(),
        "string" if schema["format"] == "date-time" => prop_oneof![
            (2000i32..2100, 1u32..13, 1u32..29, 0u32..24)
                .prop_map(|(y, m, d, h)| json!(format!("{y:04}-{m:02}-{d:02}T{h:02}:00:00Z"))),
            "\\PC{0,30}".prop_map(Value::from),
        ]
        .boxed(),
        "string" => prop_oneof![
            proptest::sample::select(vec![
                "1001",
                "agent1",
                "agent2",
                "super1",
                "salesforce",
                "1155550100",
                "97",
                "",
            ])
            .prop_map(Value::from),
            "[0-9]{1,15}".prop_map(Value::from),
            "\\PC{0,40}".prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ]
        .boxed(),
        "array" => {
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            if depth > 3 {
                return Just(json!([])).boxed();
            }
            proptest::collection::vec(value_strategy(document, &items, depth + 1), 0..4)
                .prop_map(Value::Array)
                .boxed()
        }
        _ => object_strategy(document, schema, depth),
    }
}

fn object_strategy(document: &Value, schema: &Value, depth: u32) -> BoxedStrategy<Value> {
    let required: Vec<String> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let properties: Vec<(String, Value)> = schema["properties"]
        .as_object()
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    if depth > 4 {
        return Just(json!({})).boxed();
    }
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties
        .into_iter()
        .map(|(name, property)| {
            let value = value_strategy(document, &property, depth + 1);
            let always = required.contains(&name);
            let present = proptest::bool::weighted(if always { 0.97 } else { 0.6 });
            (present, value)
                .prop_map(move |(present, value)| present.then(|| (name.clone(), value)))
                .boxed()
        })
        .collect();
    let extra = schema["additionalProperties"].clone();
    let extras: BoxedStrategy<Vec<(String, Value)>> = if extra.is_object() {
        proptest::collection::vec(("[a-z]{1,8}", value_strategy(document, &extra, depth + 1)), 0..3).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (fields, extras)
        .prop_map(|(fields, extras)| {
            let mut object = Map::new();
            for (name, value) in fields.into_iter().flatten().chain(extras) {
                object.insert(name, value);
            }
            Value::Object(object)
        })
        .boxed()
}

/// Any JSON value (the wrong shape, more often than not).
fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Bytes that are not JSON.
fn broken_json() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        Just(b"{\"device\": ".to_vec()),
        Just(b"not json".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..64),
    ]
    .boxed()
}

// ----- validation ------------------------------------------------------------------------------

/// Whether `value` fits `schema` (the keywords the document uses).
fn validate(document: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(document, schema);
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        return Err(format!("{at}: {value} is not {constant}"));
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {values:?}"));
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        let fitting = choices
            .iter()
            .filter(|c| validate(document, c, value, at).is_ok())
            .count();
        if fitting != 1 {
            return Err(format!("{at}: {value} fits {fitting} of the oneOf choices"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
        return Err(format!("{at}: {value} is not {types:?}"));
    }
    if let Value::Object(object) = value {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or("");
            if !object.contains_key(name) {
                return Err(format!("{at}: `{name}` is missing"));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (name, property) in properties {
                if let Some(field) = object.get(name) {
                    validate(document, property, field, &format!("{at}.{name}"))?;
                }
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate(document, item_schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn has_type(value: &Value, type_name: &str) -> bool {
    match type_name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}
