//! `static/` is embedded in the binary (include_dir): rebuild when a file there is added or
//! removed, not only when an embedded file changes.
fn main() {
    println!("cargo:rerun-if-changed=static");
}
